"""The trust demo end to end at a small size: every planted problem fails its check and is told once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

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


def test_each_planted_problem_fails_its_check_and_is_notified_exactly_once(tmp_path: Path, capsys) -> None:
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
    silent_days = [d.isoformat() for d in by_key["silent"].days]
    assert result.outcomes[("bronze_github", "delivery_gaps")].metadata["sample"] == silent_days
    volume_days = [s["day"] for s in result.outcomes[("bronze_github", "volume_anomaly")].metadata["sample"]]
    assert by_key["volume"].days[0].isoformat() in volume_days
    drift = result.outcomes[("bronze_github", "schema_drift")].metadata["appeared"]
    assert "repo" in drift["push"]
    # The console file holds exactly what was collected: one line per notification, no duplicates.
    lines = result.console_file.read_text().splitlines()
    assert len(lines) == len(result.notifications) == len({n.problem_key for n in result.notifications})
