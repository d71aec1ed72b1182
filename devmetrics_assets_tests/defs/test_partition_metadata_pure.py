"""The per-partition metadata builders and the data-recency validation, without Dagster runs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.checks.validations_gold import data_age_days, data_recency, silver_data_through
from devmetrics_assets.checks.validations_scope import PartitionScope, scope_metadata
from devmetrics_assets.defs import partition_metadata as PM

MONTHS = PartitionScope.of(["2025-01-01", "2025-02-01", "2025-03-01"], "2025-04-01")


def gold_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "period_start": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01", "2025-02-01"]),
        "scope_type": ["org", "repo", "org", "repo"], "scope": ["all", "acme/api", "all", "acme/api"],
        "deployments": [12, 12, 0, 0], "incidents_opened": [2, 2, 0, 0], "change_failures": [1, 1, 0, 0],
        "change_failure_rate": [1 / 12, 1 / 12, np.nan, np.nan],
        "rework_rate": [0.073, 0.073, np.nan, np.nan],
        "lead_time_median_h": [40.5, 40.5, np.nan, np.nan], "is_partial": [False, False, True, True],
    })


def test_each_period_gets_its_own_org_row_rates_as_percent_and_missing_as_a_dash():
    per_key = PM.gold_partitions(MONTHS, gold_rows())
    assert list(per_key) == list(MONTHS.keys)
    jan, feb, mar = (per_key[k] for k in MONTHS.keys)
    assert (jan["deployments"], feb["deployments"], mar["deployments"]) == (12, 0, 0)
    assert jan["change_failure_rate_pct"] == 8.33 and jan["rework_rate_pct"] == 7.3
    assert "change_failure_rate_pct" not in feb and "lead_time_median_h" not in feb  # no NaN, a gap
    assert "7.3 %" in jan["org_metrics"].value and "8.3 %" in jan["org_metrics"].value
    assert "nan" not in feb["org_metrics"].value.lower() and "–" in feb["org_metrics"].value
    assert (jan["rows"], jan["repos"], mar["rows"]) == (2, 1, 0)


def test_silver_and_bronze_counts_are_per_day_and_add_up():
    days = PartitionScope.of(["2025-03-01", "2025-03-02"], "2025-03-03")
    rows = pd.DataFrame({"event_day": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-02"])})
    rejects = pd.DataFrame({"partition_day": pd.to_datetime(["2025-03-02"])})
    assert PM.silver_partitions(days, rows, rejects) == {
        "2025-03-01": {"dagster/row_count": 1, "rows": 1, "row_count": 1, "quarantined": 0},
        "2025-03-02": {"dagster/row_count": 2, "rows": 2, "row_count": 2, "quarantined": 1},
    }
    bronze = PM.bronze_partitions(days, ["2025-03-01"] * 3, ["2025-03-01"], [], ["2025-03-01"])
    assert bronze["2025-03-01"]["duplicates_skipped"] == 2 and bronze["2025-03-02"]["deliveries_read"] == 0
    assert PM.run_metadata(days) == {"run_window": "2025-03-01..2025-03-02", "run_partition_count": 2}


def test_scope_maps_days_to_partitions_and_names_the_failed_ones():
    assert MONTHS.keys_of(["2025-02-14", pd.Timestamp("2025-03-31T23:00", tz="UTC"), "2025-04-01"]) == [
        "2025-02-01", "2025-03-01"]
    assert scope_metadata(MONTHS, False, ["2025-02-01"])["failed_partitions"] == ["2025-02-01"]
    assert scope_metadata(MONTHS, False)["failed_partition_count"] == 3  # the window failed as a whole
    assert "failed_partitions" not in scope_metadata(MONTHS, False, judges="now")
    assert scope_metadata(None, False) == {}


def test_data_recency_is_about_the_data_not_the_run():
    silver = {"deployments": pd.DataFrame({"event_day": pd.to_datetime(["2025-03-01", "2025-03-03"])}),
              "changes": pd.DataFrame({"event_day": pd.to_datetime(["2025-03-04"])}),
              "incidents": pd.DataFrame(columns=["event_day"])}
    through = silver_data_through(silver)
    assert through == pd.Timestamp("2025-03-04")
    assert data_age_days(through, "2025-03-06T23:59:00Z") == 2
    assert data_recency(through, "2025-03-06T08:00:00Z", 2).passed
    old = data_recency(through, "2025-03-10T08:00:00Z", 2)
    assert not old.passed and old.judges == "now" and old.counts["data_age_days"] == 6
    assert "2025-03-04" in old.summary and "6 day(s) old" in old.summary
    assert not data_recency(None, "2025-03-10", 2).passed
