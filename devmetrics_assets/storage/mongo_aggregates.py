"""The aggregate reads of the `Storage` interface on MongoDB: queries with projections where the data lives.

A mixin of `MongoWarehouse` through `MongoReads` (storage/mongo_reads.py), which supplies `db`,
`table_exists`, `_read_versioned` and the document decoding. Counting is done by the server
(count_documents, $group); where an answer needs exact timestamps (BSON dates hold milliseconds, the
microsecond remainder is a separate field) or JSON parsing of payloads, the narrow projected rows are
decoded and finished in pandas by the same code (storage/aggregates.py, storage/shapes.py) so the
result equals the DuckDB backend's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from pymongo import ASCENDING, DESCENDING

from devmetrics_assets.storage import aggregates as A
from devmetrics_assets.storage import mongo_codec as C
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.frames import TimeLike
from devmetrics_assets.storage.shapes import SHAPE_COLUMNS, normalise_shapes, shape_counts
from devmetrics_assets.storage.warehouse import NothingMaterializedError

if TYPE_CHECKING:
    from devmetrics_assets.realtime.feeds import MongoChangeFeed
    from devmetrics_assets.realtime.state import WatcherState


def _days(column: str, start: TimeLike, end: TimeLike) -> dict[str, Any]:
    return {column: {"$gte": A.day_bound(start), "$lt": A.day_bound(end)}}


class MongoAggregates:
    """Aggregate reads and capabilities on MongoDB; mixed into `MongoReads`."""

    def _decoded(self, table: str, query: dict[str, Any], columns: Sequence[str], *,
                 sort: list[tuple[str, int]] | None = None, limit: int = 0) -> pd.DataFrame:
        """Rows of a fixed table (Bronze, quarantine) with only `columns`, in the written dtypes."""
        types = T.BRONZE_COLUMNS if table == T.BRONZE_TABLE else T.QUARANTINE_COLUMNS
        projection = {"_id": 0, C.MICROS_FIELD: 1, **{c: 1 for c in columns}}
        cursor = self.db[table].find(query, projection)
        if sort:
            cursor = cursor.sort(sort)
        if limit:
            cursor = cursor.limit(limit)
        return C.decode_documents(list(cursor), list(columns), types)

    def bronze_daily_counts(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Deliveries of `source` per received day in [start, end) (see backend.Storage)."""
        pipeline = [{"$match": {"source": source, **_days("received_day", start, end)}},
                    {"$group": {"_id": "$received_day", "deliveries": {"$sum": 1}}}]
        got = list(self.db[T.BRONZE_TABLE].aggregate(pipeline))
        return A.daily_counts_frame(pd.Series([g["_id"] for g in got], dtype="object"),
                                    pd.Series([g["deliveries"] for g in got], dtype="int64"))

    def bronze_shapes(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Payload field paths of `source`'s deliveries received in [start, end): the bodies are parsed by
        the same SQL as on DuckDB (storage/shapes.py), on the window's narrow rows."""
        rows = self._decoded(T.BRONZE_TABLE, {"source": source, **_days("received_day", start, end)},
                             ["event_type", "received_day", "body"])
        if rows.empty:
            return normalise_shapes(pd.DataFrame(columns=SHAPE_COLUMNS))
        return normalise_shapes(shape_counts(rows))

    def newest_received_at(self, source: str) -> pd.Timestamp | None:
        """received_at of `source`'s newest stored delivery (None if it never delivered)."""
        # The microsecond remainder breaks ties between deliveries within one millisecond.
        order = [("received_at", DESCENDING), (f"{C.MICROS_FIELD}.received_at", DESCENDING)]
        got = self._decoded(T.BRONZE_TABLE, {"source": source}, ["received_at"], sort=order, limit=1)
        return None if got.empty else pd.Timestamp(got["received_at"].iloc[0]).tz_convert("UTC")

    def count_bronze(
        self, start: TimeLike, end: TimeLike, kinds: Sequence[tuple[str, str]] | None = None
    ) -> int:
        """Bronze deliveries with start <= event_day < end of these (provider, event_type) kinds."""
        query = _days("event_day", start, end)
        if kinds is not None:
            if not kinds:
                return 0
            query["$or"] = [{"provider": p, "event_type": e} for p, e in kinds]
        return int(self.db[T.BRONZE_TABLE].count_documents(query))

    def values_present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of `values` occur in `column` of `table` (any visible partition)."""
        T.check_identifier(column, "column")
        if not values:
            return set()
        wanted = list(map(str, values))
        if self._fixed_schema(table) is not None:
            return {str(v) for v in self.db[table].distinct(column, {column: {"$in": wanted}})}
        try:
            got = self._read_versioned(table, None, None, None, [column], {column: {"$in": wanted}})
        except NothingMaterializedError:
            return set()
        return set(got[column].dropna().astype(str))

    def shipping_deployments(self, shas: Sequence[str]) -> pd.DataFrame:
        """Successful production silver_deployments rows that shipped any of `shas`: the server keeps
        the successful ones, pandas splits commit_shas (a comma-separated text column)."""
        if not shas:
            return A.empty_shipping()
        try:
            rows = self._read_versioned("silver_deployments", None, None, None, A.SHIPPING_COLUMNS,
                                        {"final_status": "success"})
        except NothingMaterializedError:
            return A.empty_shipping()
        return A.shipped_any(rows, shas).sort_values("deployment_id", ignore_index=True)

    def quarantine_groups(self) -> pd.DataFrame:
        """Quarantine rows counted per (layer, asset, reason), most rows first."""
        # Grouped in pandas on a narrow projection: min/max of BSON dates would drop the microseconds.
        rows = self._decoded(T.QUARANTINE_TABLE, {}, ["layer", "asset", "reason", "partition_day",
                                                       "first_seen_at", "last_seen_at"])
        return A.quarantine_groups_frame(rows)

    def latest_quarantine(self, limit: int) -> pd.DataFrame:
        """The `limit` quarantine rows seen last (ties by quarantine_id), sorted and cut by the server."""
        if limit <= 0:
            return pd.DataFrame(columns=A.QUARANTINE_SAMPLE_COLUMNS)
        order = [("last_seen_at", DESCENDING), (f"{C.MICROS_FIELD}.last_seen_at", DESCENDING),
                 ("_id", ASCENDING)]  # _id is the quarantine_id
        rows = self._decoded(T.QUARANTINE_TABLE, {}, [*A.QUARANTINE_SAMPLE_COLUMNS, "quarantine_id"],
                             sort=order, limit=int(limit))
        return A.latest_quarantine_frame(rows, limit)

    def quarantine_refs(
        self, *, layer: str | None = None, asset: str | None = None, reason_like: str | None = None
    ) -> pd.DataFrame:
        """Quarantine rows (layer, asset, record_ref, partition_day) matching the filters."""
        query: dict[str, Any] = {k: v for k, v in (("layer", layer), ("asset", asset)) if v is not None}
        if reason_like:
            # ILIKE semantics, as on DuckDB: anchored, case-insensitive, `.` spanning newlines.
            query["reason"] = {"$regex": A.ilike_regex(A.reason_pattern(reason_like)), "$options": "is"}
        rows = self._decoded(T.QUARANTINE_TABLE, query, [*A.QUARANTINE_REF_COLUMNS, "quarantine_id"],
                             sort=[("_id", ASCENDING)])
        return rows[A.QUARANTINE_REF_COLUMNS]

    def delivery_feed(self, state: WatcherState, max_await_ms: int = 200) -> MongoChangeFeed:
        """A change stream on Bronze (needs a replica set or a sharded cluster)."""
        from devmetrics_assets.realtime.feeds import MongoChangeFeed  # realtime imports storage, not back

        return MongoChangeFeed(self, state, max_await_ms=max_await_ms)
