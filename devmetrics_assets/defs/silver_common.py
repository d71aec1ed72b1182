"""What every Silver model shares: its Bronze inputs, quarantine handling and checks.

Each model file (silver_changes.py, ...) supplies only how its entity is computed; this factory
turns that into a daily-partitioned asset that reads Bronze by EVENT day, writes the window
atomically through the IO manager, replaces its quarantine rows for the window, and yields checks.
Each day's materialisation carries that day's rows and quarantined records (defs/partition_metadata.py).
"""


from collections.abc import Callable, Sequence

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from devmetrics_assets.checks.silver_checks import silver_check_results, silver_check_specs
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs import partition_metadata as PM
from devmetrics_assets.defs.automation import automation_condition
from devmetrics_assets.defs.freshness import freshness_policy
from devmetrics_assets.defs.silver_shards import sharded
from devmetrics_assets.partitions import late_arrival_mapping, window_of
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms.quarantine import quarantine_rows

# (warehouse, rules, start, end) -> (entity rows in the window, rejects)
Compute = Callable[[Storage, DoraRules, pd.Timestamp, pd.Timestamp], tuple[pd.DataFrame, pd.DataFrame]]


def bronze_rows(
    warehouse: Storage,
    kinds: Sequence[str | tuple[str, str]],
    end: pd.Timestamp,
    start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Bronze deliveries of these kinds ((provider, event type) pairs) by event day (< end, >= start)."""
    if not warehouse.table_exists("bronze_deliveries"):
        raise dg.Failure("bronze_deliveries does not exist yet: materialise a Bronze asset first")
    return warehouse.read_bronze(kinds, end, start)


def build_silver_asset(
    *,
    name: str,
    description: str,
    compute: Compute,
    schema: type[pa.DataFrameModel],
    key: list[str],
    bronze_keys: Sequence[dg.AssetKey],
    partitions_def: dg.DailyPartitionsDefinition,
    storage_kind: str = DUCKDB,
) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name="silver",
        description=description,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dg.AssetDep(k, partition_mapping=late_arrival_mapping) for k in bronze_keys],
        kinds={storage_kind, "pandas"},  # the configured backend (storage/selection.py)
        owners=["team:data-platform"],
        metadata={"partition_column": "event_day", "key": ", ".join(key)},
        required_resource_keys={"warehouse", "rules"},
        check_specs=silver_check_specs(name, key),
        freshness_policy=freshness_policy("silver"),
        automation_condition=automation_condition("silver"),
    )
    def _silver(context: dg.AssetExecutionContext):
        start, end = window_of(context)
        warehouse = context.resources.warehouse.warehouse()
        # Per repo shard on a large warehouse: memory bounded by a shard's history (silver_shards.py).
        rows, rejects = sharded(name, compute)(warehouse, context.resources.rules.rules(), start, end)
        # Replace the window's quarantine rows too: a record fixed upstream leaves quarantine.
        warehouse.upsert_quarantine(
            quarantine_rows("silver", name, rejects), replace_asset=name, start=start, end=end
        )
        window = f"[{start.date()}, {end.date()})"
        context.log.info(f"{name} {window}: {len(rows)} rows, {len(rejects)} quarantined")
        scope = PartitionScope.of(context.partition_keys, end)
        PM.record(context, PM.silver_partitions(scope, rows, rejects))
        yield dg.Output(rows, metadata=PM.run_metadata(scope))
        yield from silver_check_results(name, schema, key, rows, rejects, warehouse, start, end, scope)

    return _silver
