"""The `quarantine` asset: a materialised view over the quarantine table, on a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from devmetrics_assets.defs.quarantine import (
    build_quarantine_asset,
    markdown_table,
    summarise_quarantine,
)
from devmetrics_assets.storage.io_manager import WarehouseResource
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.quarantine import quarantine_rows


def rejects(refs: list[str], reason: str, day: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["github"] * len(refs),
            "record_ref": refs,
            "partition_day": pd.Series(
                [pd.Timestamp(day) if day else pd.NaT] * len(refs), dtype="datetime64[us]"
            ),
            "reason": [reason] * len(refs),
            "record": ['{"a": 1} | pipe\nnewline'] * len(refs),
        }
    )


def seed(warehouse: Warehouse, now: str = "2025-03-05T10:00:00Z") -> None:
    t = pd.Timestamp(now)
    warehouse.upsert_quarantine(
        quarantine_rows(
            "bronze",
            "bronze_github",
            rejects(["file:2025-03-04.jsonl:3", "file:2025-03-04.jsonl:9"], "line is not valid JSON", None),
            now=t,
        )
    )
    warehouse.upsert_quarantine(
        quarantine_rows(
            "silver",
            "silver_deployments",
            rejects(["d1", "d2", "d3"], "deployment.created_at missing", "2025-03-01"),
            now=t + pd.Timedelta(hours=1),
        )
    )


def materialise(path: Path, instance: dg.DagsterInstance) -> dg.AssetMaterialization:
    asset = build_quarantine_asset(["bronze_github", "silver_deployments"])
    result = dg.materialize(
        [asset], instance=instance, resources={"warehouse": WarehouseResource(path=str(path))}
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("quarantine")
    return mat


def test_summary_counts_by_layer_asset_and_reason(tmp_path: Path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert summarise_quarantine(warehouse).total == 0  # no file yet: an empty view, not an error
    seed(warehouse)
    s = summarise_quarantine(warehouse)
    assert s.total == 5 and s.by_layer == {"bronze": 2, "silver": 3}
    top = s.by_asset_reason.iloc[0]
    assert (top["asset"], top["reason"], top["rows"], top["days"]) == (
        "silver_deployments",
        "deployment.created_at missing",
        3,
        1,
    )
    assert s.first_seen_at == pd.Timestamp("2025-03-05T10:00:00Z")
    assert s.last_seen_at == pd.Timestamp("2025-03-05T11:00:00Z")
    assert len(s.sample) == 5 and list(s.sample["layer"][:3]) == ["silver"] * 3  # latest first


def test_markdown_escapes_pipes_and_cuts_long_cells():
    md = markdown_table(pd.DataFrame({"record": ["a | b\nc", "x" * 300]}))
    lines = md.splitlines()
    assert lines[:2] == ["| record |", "|---|"]
    assert lines[2] == "| a \\| b c |" and lines[3].endswith("… |") and len(lines[3]) < 130


def test_asset_materialises_metadata_and_a_data_version(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    with dg.instance_for_test() as instance:
        empty = materialise(path, instance)
        assert empty.metadata["dagster/row_count"].value == 0
        seed(Warehouse(path))
        mat = materialise(path, instance)
        md = mat.metadata
        assert (
            md["dagster/row_count"].value == 5
            and md["rows_silver"].value == 3
            and md["rows_bronze"].value == 2
        )
        assert (
            "| silver | silver_deployments | deployment.created_at missing | 3 | 1 |"
            in md["by_asset_and_reason"].value
        )
        assert "file:2025-03-04.jsonl:3" in md["latest_rows"].value
        assert md["first_seen_at"].value == pd.Timestamp("2025-03-05T10:00:00Z").timestamp()
        assert "devmetrics replay" in md["replay"].value
        again = materialise(path, instance)
        assert again.tags["dagster/data_version"] == mat.tags["dagster/data_version"]  # unchanged table
        assert mat.tags["dagster/data_version"] != empty.tags["dagster/data_version"]


def test_asset_is_unpartitioned_in_its_group_downstream_of_the_writers():
    asset = build_quarantine_asset([dg.AssetKey("bronze_github"), "silver_changes"])
    spec = asset.specs_by_key[dg.AssetKey("quarantine")]
    assert asset.partitions_def is None and spec.group_name == "quarantine"
    assert {d.asset_key for d in spec.deps} == {dg.AssetKey("bronze_github"), dg.AssetKey("silver_changes")}


def test_automation_refreshes_it_after_an_upstream_partition_updates(tmp_path: Path):
    daily = dg.DailyPartitionsDefinition("2025-01-01")

    @dg.asset(name="bronze_github", partitions_def=daily)
    def upstream():
        return None

    quarantine = build_quarantine_asset(["bronze_github"])
    defs = dg.Definitions(
        assets=[upstream, quarantine],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))},
    )
    selection = dg.AssetSelection.assets("quarantine")
    with dg.instance_for_test() as instance:
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        assert tick.total_requested == 0  # like eager(): nothing before anything changed
        dg.materialize([upstream], instance=instance, partition_key="2025-03-04")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=tick.cursor
        )
        # requested although most upstream daily partitions are missing (eager() would stall here)
        assert tick.total_requested == 1
        dg.materialize([quarantine], instance=instance, resources=defs.resources)
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=tick.cursor
        )
        assert tick.total_requested == 0  # handled: not requested again until the next upstream update
        dg.materialize([upstream], instance=instance, partition_key="2025-03-05")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=tick.cursor
        )
        assert tick.total_requested == 1
