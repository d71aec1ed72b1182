"""`devmetrics report`: one-line errors (exit 2) a person can fix, and the page from a materialised org."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devmetrics_assets.cli import main
from devmetrics_assets_tests.conftest import Materialised

ENV_CLEARED = ("GITHUB_WEBHOOK_SECRET", "MONGODB_URI", "DEVMETRICS_WAREHOUSE", "DEVMETRICS_LANDING",
               "DEVMETRICS_RULES", "DEVMETRICS_SOURCES", "DEVMETRICS_PARTITION_START", "DEVMETRICS_NOW")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEVMETRICS_NOW", "2025-03-01T12:00:00Z")
    return tmp_path / "home"


@pytest.fixture
def sample_home(materialised: Materialised, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEVMETRICS_HOME", str(materialised.settings.home))
    return materialised.settings.home


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return int(exit_.code or 0)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") or err.startswith("devmetrics report: error: ")
    return err


def test_no_gold_yet(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    err = one_line_error(capsys, ["report", "--out", str(out)])
    assert "no Gold" in err and "devmetrics demo" in err
    assert not out.exists()


@pytest.mark.parametrize("argv, expected", [
    (["--from", "2025-13-01"], "--from '2025-13-01': expected a date as YYYY-MM-DD"),
    (["--to", "yesterday"], "--to 'yesterday': expected a date"),
    (["--from", "2025-03-01", "--to", "2025-02-01"], "--to 2025-02-01 is before --from 2025-03-01"),
    (["--grain", "year"], "invalid choice"),
])
def test_bad_options(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                     expected: str) -> None:
    assert expected in one_line_error(capsys, ["report", "--out", str(tmp_path / "r.html"), *argv])


def test_unwritable_out(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "such" / "report.html"
    assert "does not exist" in one_line_error(capsys, ["report", "--out", str(missing)])
    assert "is a directory" in one_line_error(capsys, ["report", "--out", str(tmp_path)])


def test_failed_write_is_one_line_and_leaves_nothing(sample_home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    out = tmp_path / "report.html"
    argv = ["report", "--out", str(out), "--no-explain"]
    assert "cannot write (Permission denied)" in one_line_error(capsys, argv)
    assert list(tmp_path.iterdir()) == [tmp_path / "home"] or not out.exists()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_report_of_the_sample_org(sample_home: Path, materialised: Materialised, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "Explain: the rows behind the last full period" in text  # the fact tables are materialised
    teams = materialised.warehouse.query(
        "SELECT count(DISTINCT scope) AS n FROM gold_dora_monthly WHERE scope_type = 'team'")["n"].iloc[0]
    expected = 5 * (1 + int(teams))
    assert f'data-chart-count="{expected}"' in text
    assert len(re.findall(r'class="plotly-graph-div"', text)) == expected
    assert not re.search(r"<script[^>]*\bsrc\s*=", text)
    assert "Generated 2025-03-01 12:00 UTC" in text  # the pinned clock, never the real one


def test_report_range_and_grain(sample_home: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "weekly.html"
    assert main(["report", "--out", str(out), "--grain", "week", "--from", "2025-01-06",
                 "--to", "2025-01-27", "--no-explain"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Per week, 2025-W02 to 2025-W05" in text and "Explain:" not in text
    err = one_line_error(capsys, ["report", "--out", str(out), "--from", "2030-01-01"])
    assert "no Gold rows per month between 2030-01-01" in err
