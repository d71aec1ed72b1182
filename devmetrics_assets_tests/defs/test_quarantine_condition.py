"""The quarantine asset refreshes after a load that added something, never after one that added nothing."""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.defs.quarantine import ASSET_NAME, bronze_added_rows, quarantine_automation_condition

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_offset=1)


@dg.asset(name="bronze_github", partitions_def=PARTITIONS)
def bronze() -> None:
    return None


@dg.asset(name=ASSET_NAME, deps=[bronze], automation_condition=quarantine_automation_condition())
def quarantine() -> None:
    return None


def loaded(instance: dg.DagsterInstance, **metadata: int) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key="bronze_github", partition="2025-03-04", metadata=metadata))


def test_only_loads_that_added_rows_refresh_quarantine():
    defs = dg.Definitions(assets=[bronze, quarantine])
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ASSET_NAME))
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        loaded(instance, inserted=0, quarantined=0, conflicts=0, run_rejects=0)  # a quiet source's run
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        assert result.total_requested == 0
        loaded(instance, inserted=0, quarantined=0, conflicts=0, run_rejects=1)  # one unparsable line
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
        assert result.total_requested == 1


def test_bronze_added_rows_reads_bronze_metadata_and_counts_other_parents_as_changes():
    assert not bronze_added_rows({"inserted": dg.IntMetadataValue(0), "run_rejects": dg.IntMetadataValue(0)})
    assert bronze_added_rows({"inserted": dg.IntMetadataValue(3)})
    assert bronze_added_rows({"rows": dg.IntMetadataValue(0)})  # Silver rewrote its quarantine rows
