"""A person's mistake gets one line saying what to fix and exit code 2, before anything is written;
--debug shows the traceback. Each case is run as the user runs it: `devmetrics ...` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

GOOD_LINE = '{"received_at": "2025-03-04T10:00:00Z", "headers": {"X-GitHub-Event": "ping"}, "body": {}}\n'


def devmetrics(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devmetrics_assets.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120, check=False)


def one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def written(home: Path) -> list[str]:
    """What a refused command left in the working area (nothing but what set-up made)."""
    if not home.exists():
        return []
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()
                  and "dagster_home" not in p.parts)


def test_a_missing_file_a_folder_an_empty_file_and_a_binary_file(home: Path, tmp_path: Path) -> None:
    one_line_error(devmetrics("load", str(tmp_path / "nope.jsonl")), "nope.jsonl: no such file")
    one_line_error(devmetrics("load", str(tmp_path)), "not a file")
    (tmp_path / "empty.jsonl").write_text("")
    one_line_error(devmetrics("load", str(tmp_path / "empty.jsonl")), "empty")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    env = {"GITHUB_WEBHOOK_SECRET": "s"}
    one_line_error(devmetrics("load", str(tmp_path / "image.png"), env=env), "binary file", "nothing loaded")
    assert not (home / "landing" / "github").exists() or not any((home / "landing" / "github").iterdir())


def test_an_unknown_source_lists_the_known_ones_and_creates_no_landing_folder(
        home: Path, tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(GOOD_LINE)
    one_line_error(devmetrics("load", str(tmp_path / "d.jsonl"), "--source", "nosuch"),
                   "unknown source 'nosuch'", "known: github")
    assert not (home / "landing" / "nosuch").exists()


def test_a_source_declaring_a_secret_is_refused_without_it(home: Path, tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(GOOD_LINE)
    one_line_error(devmetrics("load", str(tmp_path / "d.jsonl")), "GITHUB_WEBHOOK_SECRET", "--no-verify")
    assert written(home) == []


@pytest.mark.parametrize(("file", "content", "fragments"), [
    ("rules.yaml", "production_environments: 3\n", ("rules.yaml", "production_environments")),
    ("rules.yaml", "repos: [a\n", ("rules.yaml", "not valid YAML")),
    ("sources.yaml", "sources:\n  - name: gh\n    type: github_jsonl\n    tier: hourlyy\n",
     ("sources.yaml", "'gh'", "tier")),
    ("alerting.yaml", "routes: 7\n", ("alerting.yaml",)),
])
def test_bad_configuration_names_the_file_and_field_before_anything_is_written(
        home: Path, tmp_path: Path, file: str, content: str, fragments: tuple[str, ...]) -> None:
    home.mkdir(parents=True)
    (home / file).write_text(content)
    (tmp_path / "d.jsonl").write_text(GOOD_LINE)
    before = written(home)
    done = devmetrics("load", str(tmp_path / "d.jsonl"), env={"GITHUB_WEBHOOK_SECRET": "s"})
    one_line_error(done, *fragments)
    assert written(home) == before  # no landing file, no warehouse


def test_settings_flags_and_an_unreachable_mongodb_are_one_line(home: Path, tmp_path: Path) -> None:
    one_line_error(devmetrics("status", env={"DEVMETRICS_NOW": "yesterday"}), "DEVMETRICS_NOW")
    one_line_error(devmetrics("status", env={"DEVMETRICS_PARTITION_START": "2025-13-01"}),
                   "DEVMETRICS_PARTITION_START")
    uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"  # port 9: nothing listens
    started = time.monotonic()
    line = one_line_error(devmetrics("status", env={"MONGODB_URI": uri}), "MONGODB_URI", "cannot reach")
    assert "ServerSelectionTimeoutError" in line
    # The 10 s default alone would take longer than 10 s; the URI's 300 ms leaves room for a loaded machine.
    assert time.monotonic() - started < 10, "the URI's own timeout (300 ms) wins over the 10 s default"
    one_line_error(devmetrics("demo", "--start", "2025-02-30"), "--start")
    one_line_error(devmetrics("load"), "give a FILE")
    one_line_error(devmetrics("load", "--nosuchflag"), "unrecognized arguments")


def test_nothing_materialised_yet_is_one_line_and_debug_shows_the_traceback(home: Path) -> None:
    one_line_error(devmetrics("summary"), "Nothing materialised yet", "devmetrics demo")
    debug = devmetrics("--debug", "summary")
    assert debug.returncode == 2 and "Traceback" in debug.stderr


def test_a_second_ui_on_the_same_home_is_refused(home: Path) -> None:
    from devmetrics_assets.config import Settings
    from devmetrics_assets.instance_setup import prepare_environment, ui_lock

    lock = ui_lock(prepare_environment(Settings.from_env()))  # a running `devmetrics ui`
    try:
        one_line_error(devmetrics("ui", "--port", "3999"), "already running")
    finally:
        lock.close()
