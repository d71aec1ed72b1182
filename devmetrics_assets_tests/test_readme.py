"""Every README snippet runs: its ```python blocks and the `devmetrics ...` lines of its ```bash blocks
(all but the install and `devmetrics ui` lines), against a small demo home built once per session
(`devmetrics demo --repos 3 --days 60`, "now" pinned). A snippet that errors, exits non-zero, or a loader
that returns an empty frame fails the test.

The one placeholder, `path/to/deliveries.jsonl`, stands for one of the demo's own recorded files.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.cli import main

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = "2025-03-02T12:00:00Z"  # the demo's 60 days then run from 2025-01-01 to 2025-03-01
PLACEHOLDER_FILE = "path/to/deliveries.jsonl"
CLEARED = ("GITHUB_WEBHOOK_SECRET", "MONGODB_URI", "MONGODB_DATABASE", "DEVMETRICS_WAREHOUSE",
           "DEVMETRICS_LANDING", "DEVMETRICS_RULES", "DEVMETRICS_SOURCES", "DEVMETRICS_PARTITION_START",
           "DEVMETRICS_ALERTING", "DEVMETRICS_UI_URL", "DEVMETRICS_OPENLINEAGE_URL", "DEVMETRICS_PROFILE")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def shell_lines() -> list[str]:
    """The `devmetrics ...` lines of the bash blocks, without the install and UI ones."""
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words and words[0] == "devmetrics" and words[1:2] != ["ui"] and "install" not in line:
                lines.append(line)
    return lines


def clear(patch: pytest.MonkeyPatch, name: str) -> None:
    """Unset `name`, and unset it again afterwards even if the code under test sets it (the sample key)."""
    patch.setenv(name, "")
    patch.delenv(name)


def environment(home: Path) -> dict[str, str]:
    return {"DEVMETRICS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"), "DEVMETRICS_NOW": NOW}


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("readme") / "home"
    with pytest.MonkeyPatch.context() as patch:
        for name in CLEARED:
            clear(patch, name)
        for name, value in environment(home).items():
            patch.setenv(name, value)
        assert main(["demo", "--repos", "3", "--days", "60"]) == 0
    return home


@pytest.fixture
def in_demo_home(demo_home: Path, monkeypatch) -> Iterator[Path]:
    for name in CLEARED:
        clear(monkeypatch, name)
    for name, value in environment(demo_home).items():
        monkeypatch.setenv(name, value)
    yield demo_home


def test_the_readme_has_snippets_to_run() -> None:
    commands = {shlex.split(line, comments=True)[1] for line in shell_lines()}
    assert {"load", "status", "summary", "replay", "explain", "report"} <= commands
    assert any("load_gold" in block for block in blocks("python"))


@pytest.mark.parametrize("line", shell_lines(), ids=lambda line: " ".join(shlex.split(line, comments=True)))
def test_every_devmetrics_line_runs(line: str, in_demo_home: Path, capsys, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # what a line writes (report.html) stays out of the checkout
    words = shlex.split(line, comments=True)
    while not words[0] == "devmetrics":
        name, _, value = words.pop(0).partition("=")
        assert value != "…", f"README line {line!r}: a placeholder secret cannot run"
    recorded = sorted((in_demo_home / "sample_org" / "deliveries").glob("*.jsonl"))[1]
    args = [str(recorded) if w == PLACEHOLDER_FILE else w for w in words[1:]]
    assert main(args) == 0, (line, capsys.readouterr())
    out = capsys.readouterr().out
    assert out.strip(), f"README line {line!r} printed nothing"
    if args[0] == "summary" and "--format" not in args:
        assert "deploys" in out, out


@pytest.mark.parametrize("block", blocks("python"), ids=[f"python-{i}" for i in range(len(blocks("python")))])
def test_every_python_block_runs_and_loaders_return_rows(block: str, in_demo_home: Path) -> None:
    namespace: dict[str, object] = {}
    for statement in ast.parse(block).body:
        source = ast.get_source_segment(block, statement)
        if isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), "README", "eval"), namespace)  # noqa: S307
            if isinstance(value, pd.DataFrame):
                assert len(value), f"README: {source} returned an empty frame"
        else:
            exec(compile(ast.Module([statement], type_ignores=[]), "README", "exec"), namespace)  # noqa: S102
