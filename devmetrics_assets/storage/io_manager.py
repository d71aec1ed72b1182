"""Dagster wiring for the warehouse: resources and a partition-aware IO manager per storage backend.

Replaces `dagster-duckdb-pandas` (pandas<3 pin; non-transactional delete-then-insert that loses a
partition when the insert fails). Each output replaces exactly its partition window in one
transaction, so a single-run backfill over a range is one atomic write and a failed run leaves the
previous data in place.

Table = the asset key's last component (or the asset's `table` metadata); partition column = the
asset's `partition_column` metadata (default `event_day`). The IO manager talks to the `Storage`
interface only; `storage/selection.py` picks DuckDB or MongoDB from the configuration. It stores
outputs only: the assets declare their upstream as `deps` and read through the `warehouse` resource.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.warehouse import Warehouse

DEFAULT_PARTITION_COLUMN = "event_day"


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse for assets that write through the Warehouse API themselves (Bronze, quarantine)."""

    path: str

    def warehouse(self) -> Storage:
        return Warehouse(self.path)


def _meta(metadata: Any, key: str, default: str) -> str:
    value = (metadata or {}).get(key, default)
    return str(getattr(value, "value", value))


def _table_and_column(context: dg.OutputContext) -> tuple[str, str]:
    if not context.has_asset_key:
        raise dg.DagsterInvariantViolationError(
            f"DuckDBPartitionIOManager stores asset outputs only; "
            f"{context.step_key}.{context.name} is not an asset"
        )
    metadata = context.definition_metadata
    table = _meta(metadata, "table", context.asset_key.path[-1])
    return table, _meta(metadata, "partition_column", DEFAULT_PARTITION_COLUMN)


class MongoWarehouseResource(dg.ConfigurableResource):
    """The MongoDB warehouse; configure `uri` with dg.EnvVar("MONGODB_URI") so it is never shown or stored."""

    uri: str
    database: str = "devmetrics"

    def warehouse(self) -> Storage:
        from devmetrics_assets.storage.mongo import MongoWarehouse

        return MongoWarehouse(self.uri, self.database)


class StoragePartitionIOManager(dg.ConfigurableIOManager):
    """Stores DataFrame outputs through the Storage interface, replacing the run's window atomically."""

    def _warehouse(self) -> Storage:
        raise NotImplementedError

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame | None) -> None:
        if obj is None:
            return  # the asset wrote through the Warehouse API itself (or produced nothing to store)
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} stores pandas DataFrames, got {type(obj).__name__}")
        table, column = _table_and_column(context)
        warehouse = self._warehouse()
        if context.has_asset_partitions:
            window = context.asset_partitions_time_window
            rows = warehouse.replace_partition(table, obj, column, window.start, window.end)
            where = f"[{window.start.isoformat()}, {window.end.isoformat()})"
            extra: dict[str, Any] = {"partition_column": column}
        else:
            rows = warehouse.replace_table(table, obj)
            where = "whole table"
            extra = {}
        context.add_output_metadata({"row_count": rows, "table": table, "window": where, **extra})

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        # Every asset here declares its upstream as `deps` and reads the warehouse itself through the
        # `warehouse` resource (windows wider than its partition, narrow columns), so no asset input is
        # ever loaded through this IO manager; an input declared by mistake fails clearly.
        raise dg.DagsterInvariantViolationError(
            f"{type(self).__name__} does not load inputs: declare {context.asset_key.to_user_string()} "
            "in `deps=` and read it through the `warehouse` resource (the Storage interface)"
        )


class DuckDBPartitionIOManager(StoragePartitionIOManager):
    """Stores DataFrame outputs in DuckDB, replacing the run's partition window in one transaction."""

    path: str

    def _warehouse(self) -> Storage:
        return Warehouse(self.path)


class MongoPartitionIOManager(StoragePartitionIOManager):
    """Stores DataFrame outputs in MongoDB (versioned partition writes; storage/mongo.py)."""

    uri: str
    database: str = "devmetrics"

    def _warehouse(self) -> Storage:
        from devmetrics_assets.storage.mongo import MongoWarehouse

        return MongoWarehouse(self.uri, self.database)
