"""The trust demo end to end at a small size: every planted problem fails its check and is told once.

The clock is pinned (DEVMETRICS_NOW) to each day of one week in turn, so the planted days fall on every
weekday and the result can never depend on the day the suite runs.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from devmetrics_assets.checks.validations import BASELINE_WEEKS, GAP_ACTIVE_SHARE, MIN_BASELINE_WEEKS
from devmetrics_assets.clock import NOW_ENV

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "trust_demo.py"
PRIMARY = {
    "silent": ("bronze_github", "freshness", "ERROR"),
    "malformed": ("bronze_github", "quarantine_rate", "WARN"),
    "volume": ("bronze_github", "volume_anomaly", "WARN"),
    "schema": ("bronze_github", "schema_drift", "WARN"),
}


def load_script():
    spec = importlib.util.spec_from_file_location("trust_demo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["trust_demo"] = module
    spec.loader.exec_module(module)
    return module


def normally_active(generated: Path, day: date) -> bool:
    """The delivery_gaps rule, recomputed from the generated day files: the source delivered on at least
    85 % of the same weekdays of the previous 8 weeks (4 observed at least), counting from its first day."""
    counts = {date.fromisoformat(p.stem): sum(1 for line in p.open() if line.strip())
              for p in generated.rglob("*.jsonl") if p.stem[:4].isdigit()}
    first = min(d for d, n in counts.items() if n)
    weeks = [day - timedelta(days=7 * k) for k in range(1, BASELINE_WEEKS + 1)]
    observed = [counts.get(d, 0) > 0 for d in weeks if d >= first]
    return len(observed) >= MIN_BASELINE_WEEKS and sum(observed) / len(observed) >= GAP_ACTIVE_SHARE


# One week: Monday 2025-06-02 .. Sunday 2025-06-08 (a past week, so every partition exists).
WEEK = [date(2025, 6, 2) + timedelta(days=i) for i in range(7)]


@pytest.mark.parametrize("today", WEEK, ids=[d.strftime("%a") for d in WEEK])
def test_each_planted_problem_fails_its_check_and_is_notified_exactly_once(
        today: date, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(NOW_ENV, today.isoformat())
    demo = load_script()
    # 4 x 49: on every weekday the test may run, some later day's 15 % drop is beyond the noise band.
    result = demo.main(["--repos", "4", "--days", "49", "--work", str(tmp_path)])
    out = capsys.readouterr().out

    assert [p.key for p in result.problems] == list(PRIMARY)
    for problem in result.problems:
        asset, check, severity = PRIMARY[problem.key]
        outcome = result.outcomes[(asset, check)]
        assert not outcome.passed, (problem.key, outcome.description)
        assert outcome.severity == severity, problem.key
        told = result.notifications_for(asset, check)
        assert len(told) == 1, (problem.key, [n.title for n in told])
        assert told[0].title == f"Check failed: {asset} / {check}"
        assert told[0].severity == ("error" if severity == "ERROR" else "warning")
        # written after the check result was recorded, by the one sensor tick
        assert told[0].written_at is not None and told[0].written_at >= outcome.recorded_at
        assert f"| {problem.label} | {asset} / {check} | {severity} | {told[0].title} |" in out

    by_key = {p.key: p for p in result.problems}
    assert by_key["silent"].days == [today - timedelta(days=n) for n in (3, 2, 1)]
    # a silent day is a gap only on a weekday the source normally delivers (a quiet weekend is not)
    expected_gaps = [d.isoformat() for d in by_key["silent"].days
                     if normally_active(tmp_path / "generated", d)]
    assert expected_gaps, "three consecutive days always hold a normally active weekday"
    assert result.outcomes[("bronze_github", "delivery_gaps")].metadata["sample"] == expected_gaps
    volume_days = [s["day"] for s in result.outcomes[("bronze_github", "volume_anomaly")].metadata["sample"]]
    assert by_key["volume"].days[0].isoformat() in volume_days
    drift = result.outcomes[("bronze_github", "schema_drift")].metadata["appeared"]
    assert "repo" in drift["push"]
    # The console file holds exactly what was collected: one line per notification, no duplicates.
    lines = result.console_file.read_text().splitlines()
    assert len(lines) == len(result.notifications) == len({n.problem_key for n in result.notifications})
