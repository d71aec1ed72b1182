"""`devmetrics explain` as a person runs it: one line and exit 2 for names that do not exist, the number,
its formula and the rows otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmetrics_assets_tests.cli.test_user_errors import devmetrics, one_line_error
from devmetrics_assets_tests.conftest import Materialised


def test_unknown_metric_period_and_scope_form_are_one_line(home: Path) -> None:
    one_line_error(devmetrics("explain", "--metric", "mttr", "--period", "2025-03"),
                   "unknown metric 'mttr'", "deployment_frequency, lead_time, change_failure_rate")
    one_line_error(devmetrics("explain", "--metric", "lead_time", "--period", "March"),
                   "unknown period 'March'", "YYYY-MM-DD", "YYYY-Www", "YYYY-MM")
    one_line_error(devmetrics("explain", "--metric", "lead_time", "--period", "2025-03", "--scope",
                              "payments"), "unknown scope 'payments'", "team:NAME")


def test_nothing_materialised_is_one_line(home: Path) -> None:
    one_line_error(devmetrics("explain", "--metric", "lead_time", "--period", "2025-03"),
                   "Nothing to explain yet", "gold_fact_deployments")


@pytest.mark.slow
def test_explain_on_a_materialised_home(materialised: Materialised, tmp_path: Path) -> None:
    env = {"DEVMETRICS_HOME": str(materialised.settings.home), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    one_line_error(devmetrics("explain", "--metric", "lead_time", "--scope", "team:nobody", "--period",
                              "2025-01", env=env), "unknown team 'nobody'; known: ", "payments")
    done = devmetrics("explain", "--metric", "change_failure_rate", "--scope", "team:payments", "--period",
                      "2025-01", "--rows", "2", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("change_failure_rate of team:payments in 2025-01 (month): ")
    assert lines[1].startswith("change_failure_rate = change_failures / deployments = ")
    assert any(line.startswith("numerator: ") for line in lines)
    assert any(line.startswith("denominator: ") for line in lines) and "delivery_ids" in done.stdout
    empty = devmetrics("explain", "--metric", "rework_rate", "--period", "2030-01", env=env)
    assert empty.returncode == 0 and "no deployments in 2030-01 for org" in empty.stdout
