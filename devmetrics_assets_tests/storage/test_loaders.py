"""Notebook loaders against real DuckDB files written by Warehouse."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from devmetrics_assets.storage.loaders import load_gold, load_quarantine, load_silver
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse


def gold_frame(period: str, starts: list[str]) -> pd.DataFrame:
    rows = []
    for start in starts:
        for scope_type, scope in [("org", "org"), ("repo", "org/b"), ("repo", "org/a"), ("team", "core")]:
            rows.append(
                {
                    "period": period,
                    "period_start": pd.Timestamp(start),
                    "scope_type": scope_type,
                    "scope": scope,
                    "deployments": 3,
                    "change_failure_rate": 1 / 3,
                    "lead_time_median_h": None,
                    "deployment_frequency_band": "high",
                }
            )
    return pd.DataFrame(rows).astype(
        {
            "period_start": "datetime64[us]",
            "lead_time_median_h": "float64",
            "scope": "str",
            "scope_type": "str",
        }
    )


def silver_frame(days: list[str], repos: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "change_id": [f"{r}#{i}" for i, r in enumerate(repos)],
            "repo": repos,
            "pr_number": pd.array([i if i % 2 else None for i in range(len(repos))], dtype="Int64"),
            "landed_at": pd.to_datetime(days, utc=True).astype("datetime64[us, UTC]") + pd.Timedelta(hours=5),
            "event_day": pd.to_datetime(days).astype("datetime64[us]"),
        }
    )


@pytest.fixture()
def wh(tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    wh.replace_partition(
        "gold_dora_daily",
        gold_frame("day", ["2025-01-03", "2025-01-01", "2025-01-02"]),
        "period_start",
        "2025-01-01",
        "2025-01-04",
    )
    wh.replace_partition(
        "gold_dora_weekly",
        gold_frame("week", ["2024-12-30", "2025-01-06"]),
        "period_start",
        "2024-12-30",
        "2025-01-13",
    )
    wh.replace_partition(
        "silver_changes",
        silver_frame(
            ["2025-01-02", "2025-01-01", "2025-01-01", "2025-01-03"], ["org/b", "org/b", "org/a", "org/a"]
        ),
        "event_day",
        "2025-01-01",
        "2025-01-04",
    )
    quarantine = pd.DataFrame(
        {
            "layer": ["bronze", "silver", "silver"],
            "asset": ["bronze_github", "silver_changes", "silver_changes"],
            "source": "sample_org",
            "record_ref": ["file:3", "d1", "d2"],
            "partition_day": pd.to_datetime([None, "2025-01-02", "2025-01-05"]).astype("datetime64[us]"),
            "reason": "bad",
            "record": "{}",
        }
    )
    wh.upsert_quarantine(quarantine)
    return wh


def test_load_gold_filters_inclusive_days_and_sorts(wh):
    df = load_gold("day", "2025-01-02", "2025-01-03", warehouse=wh.path)
    assert df["period_start"].tolist() == [pd.Timestamp("2025-01-02"), pd.Timestamp("2025-01-03")]
    assert set(df["scope_type"]) == {"org"}
    assert str(df["period_start"].dtype) == "datetime64[us]" and df["lead_time_median_h"].isna().all()
    repos = load_gold(
        "day",
        date(2025, 1, 1),
        datetime(2025, 1, 1, 23, tzinfo=UTC),
        scope_type="repo",
        warehouse=str(wh.path),
    )
    assert repos["scope"].tolist() == ["org/a", "org/b"]
    one = load_gold("day", scope_type="repo", scope="org/b", warehouse=wh.path)
    assert one["period_start"].dt.day.tolist() == [1, 2, 3] and set(one["scope"]) == {"org/b"}
    assert len(load_gold("day", scope_type=None, warehouse=wh.path)) == 12


def test_load_gold_week_includes_periods_starting_in_range(wh):
    weeks = load_gold("week", "2025-01-01", "2025-01-31", warehouse=wh.path)
    assert weeks["period_start"].tolist() == [pd.Timestamp("2025-01-06")]
    assert weeks["period"].tolist() == ["week"]


def test_load_silver_by_event_day_and_repo(wh):
    df = load_silver("changes", "2025-01-01", "2025-01-02", warehouse=wh.path)
    assert df["change_id"].tolist() == ["org/a#2", "org/b#1", "org/b#0"]
    assert df["pr_number"].dtype == "Int64" and str(df["landed_at"].dtype) == "datetime64[us, UTC]"
    only_a = load_silver("changes", repo="org/a", warehouse=wh.path)
    assert only_a["change_id"].tolist() == ["org/a#2", "org/a#3"]


def test_load_quarantine_by_day_and_layer(wh):
    everything = load_quarantine(warehouse=wh.path)
    assert len(everything) == 3  # the row without a partition_day is there when no bounds are given
    assert load_quarantine("2025-01-01", "2025-01-02", warehouse=wh.path)["record_ref"].tolist() == ["d1"]
    assert load_quarantine(layer="bronze", warehouse=wh.path)["record_ref"].tolist() == ["file:3"]


def test_unknown_names_list_the_valid_ones(wh):
    with pytest.raises(ValueError, match="day, week, month"):
        load_gold("quarter", warehouse=wh.path)
    with pytest.raises(ValueError, match="changes, deployments, incidents"):
        load_silver("commits", warehouse=wh.path)
    with pytest.raises(ValueError, match="repo, team, service, org"):
        load_gold(scope_type="squad", warehouse=wh.path)
    with pytest.raises(ValueError, match="bronze, silver, gold"):
        load_quarantine(layer="platinum", warehouse=wh.path)
    with pytest.raises(ValueError, match="before start"):
        load_gold("day", "2025-01-05", "2025-01-01", warehouse=wh.path)
    with pytest.raises(ValueError, match="not a date"):
        load_gold("day", "soon", warehouse=wh.path)


def test_missing_file_or_table_says_what_to_run(wh, tmp_path):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    with pytest.raises(NothingMaterializedError, match="devmetrics demo"):
        load_gold(warehouse=missing)
    assert not missing.exists()  # a read never creates the file
    with pytest.raises(NothingMaterializedError, match="gold_dora_monthly"):
        load_gold("month", warehouse=wh.path)
    with pytest.raises(NothingMaterializedError, match="silver_incidents"):
        load_silver("incidents", warehouse=wh.path)


def test_default_warehouse_comes_from_settings(wh, monkeypatch):
    monkeypatch.setenv("DEVMETRICS_WAREHOUSE", str(wh.path))
    assert len(load_gold("day")) == 3


def test_loaders_release_the_file_for_writers(wh):
    load_gold("day", warehouse=wh.path)
    impatient = Warehouse(wh.path, lock_attempts=1)
    assert impatient.replace_table("after_loading", pd.DataFrame({"x": [1]})) == 1


def test_loaders_do_not_import_dagster():
    code = "import sys, devmetrics_assets.storage.loaders; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
