"""Hand-built Gold rows for the report tests (only the columns the report reads, plus bands)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.transforms.dora_bands import add_bands

BASE: dict[str, Any] = {
    "days_covered": 31, "is_partial": False, "deployments": 10, "deploy_days": 8,
    "deployment_frequency_per_day": 0.3, "deploy_days_per_week_median": 2.0, "change_failures": 1,
    "change_failure_rate": 0.1, "lead_time_changes": 10, "lead_time_median_h": 30.0,
    "lead_time_p90_h": 60.0, "recovery_median_h": 2.0, "rework_rate": 0.1,
}


def row(start: str, scope_type: str = "org", scope: str = "all", period: str = "month",
        **values: Any) -> dict[str, Any]:
    return {"period": period, "period_start": pd.Timestamp(start), "scope_type": scope_type, "scope": scope,
            **BASE, **values}


def gold(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows with Gold's band columns computed by dora_bands, ordered as load_gold orders them."""
    frame = add_bands(pd.DataFrame(rows))
    return frame.sort_values(["period_start", "scope_type", "scope"], ignore_index=True)


def sample() -> pd.DataFrame:
    """Org, teams x (repos a, b) and y (repos c, d) over Jan (partial) .. Apr (partial) 2025."""
    rows = [
        row("2025-01-01", is_partial=True, days_covered=20),
        row("2025-02-01", deploy_days_per_week_median=3.0, change_failure_rate=0.10, lead_time_median_h=40.0,
            recovery_median_h=None, rework_rate=0.0),
        row("2025-03-01", deploy_days_per_week_median=4.0, change_failure_rate=0.05, lead_time_median_h=50.0,
            recovery_median_h=3.0, rework_rate=0.1),
        row("2025-04-01", is_partial=True, days_covered=9),
        row("2025-03-01", "team", "x", change_failure_rate=0.2),
        row("2025-01-01", "team", "y", is_partial=True),
        row("2025-03-01", "team", "y", change_failure_rate=0.25),
        row("2025-03-01", "repo", "acme/a", deployments=5, change_failures=1, change_failure_rate=0.2,
            lead_time_median_h=10.0),
        row("2025-03-01", "repo", "acme/b", deployments=10, change_failures=2, change_failure_rate=0.2,
            lead_time_median_h=70.0),
        row("2025-03-01", "repo", "acme/c", deployments=4, change_failures=2, change_failure_rate=0.5,
            lead_time_median_h=None),
        row("2025-03-01", "repo", "acme/d", deployments=0, change_failures=0, change_failure_rate=None,
            lead_time_median_h=None),
        row("2025-02-01", "repo", "acme/a", change_failure_rate=0.9),  # another period: never ranked
    ]
    return gold(rows)


TEAMS = {"acme/a": "x", "acme/b": "x", "acme/c": "y", "acme/d": "y"}
