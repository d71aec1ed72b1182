"""Each partition of a range run carries its own numbers (the issue's "Done when").

A small sample organisation is materialised with `dg.materialize` and range tags (one run for all days,
one for all months) on a temporary SQLite instance with the real DuckDB resources. The materialisation
events are read back through the instance and each partition's metadata is compared with that
partition's values computed independently from the stored tables, never the window's total.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.clock import NOW_ENV
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.conftest import land_sample, settings_in

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
NOW = "2025-03-05T12:00:00Z"


@dataclass
class Ranged:
    instance: dg.DagsterInstance
    warehouse: Warehouse
    days: list[date]
    months: list[str]


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance, selection: dg.AssetSelection,
                 first: str, last: str) -> dg.ExecuteInProcessResult:
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    return dg.materialize(assets, selection=selection, resources=defs.resources, instance=instance,
                          tags={RANGE_START: first, RANGE_END: last}, raise_on_error=False)


@pytest.fixture(scope="module")
def ranged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ranged]:
    root = tmp_path_factory.mktemp("ranged")
    org = generate_sample_org(root / "generated", repos=3, days=59, start=date(2025, 1, 1), seed=5)
    settings = settings_in(root / "home")
    days = land_sample(org, settings)
    saved = {k: os.environ.get(k) for k in ("GITHUB_WEBHOOK_SECRET", NOW_ENV, "MONGODB_URI")}
    os.environ.update({"GITHUB_WEBHOOK_SECRET": SAMPLE_WEBHOOK_SECRET, NOW_ENV: NOW})
    os.environ.pop("MONGODB_URI", None)
    try:
        defs = build_definitions(settings)
        first, last = days[0].isoformat(), days[-1].isoformat()
        months = sorted({d.replace(day=1).isoformat() for d in days})
        with dg.instance_for_test() as instance:
            for selection, a, b in [
                (dg.AssetSelection.groups("bronze", "silver"), first, last),
                (dg.AssetSelection.assets("gold_dora_daily"), first, last),
                (dg.AssetSelection.assets("gold_dora_monthly"), months[0], months[-1]),
            ]:
                assert _materialize(defs, instance, selection, a, b).success
            yield Ranged(instance, Warehouse(settings.warehouse_path), days, months)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def metadata_by_partition(instance: dg.DagsterInstance, asset: str) -> dict[str, dict]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
    out: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        event = record.asset_materialization
        out[event.partition] = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    return out


def org_rows(warehouse: Warehouse, table: str) -> pd.DataFrame:
    gold = warehouse.read_table(table)
    org = gold[gold["scope_type"] == "org"].copy()
    org["key"] = pd.to_datetime(org["period_start"]).dt.strftime("%Y-%m-%d")
    return org.set_index("key")


@pytest.mark.parametrize("table", ["gold_dora_monthly", "gold_dora_daily"])
def test_each_gold_partition_carries_its_own_numbers_not_the_window_total(ranged: Ranged, table: str):
    stored = org_rows(ranged.warehouse, table)
    all_rows = ranged.warehouse.read_table(table)
    per_key_rows = pd.to_datetime(all_rows["period_start"]).dt.strftime("%Y-%m-%d").value_counts()
    meta = metadata_by_partition(ranged.instance, table)
    expected_keys = ranged.months if table.endswith("monthly") else [d.isoformat() for d in ranged.days]
    assert sorted(meta) == expected_keys
    total = int(stored["deployments"].sum())
    for key, m in meta.items():
        row = stored.loc[key]
        assert m["deployments"] == int(row["deployments"]), key
        assert m["incidents_opened"] == int(row["incidents_opened"]), key
        assert m["change_failures"] == int(row["change_failures"]), key
        assert m["dagster/row_count"] == int(per_key_rows[key]) == m["rows"] == m["row_count"], key
        if pd.isna(row["change_failure_rate"]):
            assert "change_failure_rate_pct" not in m  # a gap in the plot, never NaN
        else:
            assert m["change_failure_rate_pct"] == pytest.approx(100 * row["change_failure_rate"], abs=0.01)
        assert "nan" not in m["org_metrics"].lower()
        assert m["run_window"] == f"{expected_keys[0]}..{expected_keys[-1]}"
        assert m["data_through"] <= ranged.days[-1].isoformat()
        # the age is counted from the pinned clock (DEVMETRICS_NOW), not the real one
        assert m["data_age_days"] == (date(2025, 3, 5) - date.fromisoformat(m["data_through"])).days
    assert sum(m["deployments"] for m in meta.values()) == total
    assert len({m["deployments"] for m in meta.values()}) > 1  # not one number stamped on every partition
    assert all(m["deployments"] < total for m in meta.values())


def test_each_silver_and_bronze_day_carries_its_own_counts(ranged: Ranged):
    deployments = ranged.warehouse.read_table("silver_deployments")
    per_day = pd.to_datetime(deployments["event_day"]).dt.strftime("%Y-%m-%d").value_counts()
    meta = metadata_by_partition(ranged.instance, "silver_deployments")
    assert sorted(meta) == [d.isoformat() for d in ranged.days]
    for key, m in meta.items():
        assert m["rows"] == int(per_day.get(key, 0)) == m["dagster/row_count"] == m["row_count"], key
    bronze = ranged.warehouse.read_table("bronze_deliveries")
    received = pd.to_datetime(bronze["received_day"]).dt.strftime("%Y-%m-%d").value_counts()
    meta = metadata_by_partition(ranged.instance, "bronze_github")
    for key, m in meta.items():
        assert m["inserted"] == int(received.get(key, 0)), key
        assert m["deliveries_read"] >= m["inserted"]
    affected = set().union(*(m.get("affected_event_days", []) for m in meta.values()))
    event_days = set(pd.to_datetime(bronze["event_day"]).dt.strftime("%Y-%m-%d"))
    assert affected == event_days  # every day the load changed is named, on the day it was received


def test_gold_check_results_name_the_partitions_they_judged(ranged: Ranged):
    key = dg.AssetCheckKey(dg.AssetKey("gold_dora_monthly"), "reconciliation")
    record = ranged.instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    metadata = {k: getattr(v, "value", v) for k, v in record.evaluation.metadata.items()}
    assert metadata["partitions"] == f"{ranged.months[0]}..{ranged.months[-1]}"
    assert metadata["partition_count"] == len(ranged.months)
    assert "failed_partitions" not in metadata

    recency = dg.AssetCheckKey(dg.AssetKey("gold_dora_daily"), "data_recency")
    record = ranged.instance.event_log_storage.get_latest_asset_check_execution_by_key([recency])[recency]
    evaluation = record.evaluation
    # the pinned now is 2025-03-05; the data ends around 2025-03-01: within the default 2 days or not,
    # the check judges the data's age, and says so
    assert evaluation.metadata["data_age_days"].value >= 0
    assert evaluation.metadata["judges"].value == "now"
