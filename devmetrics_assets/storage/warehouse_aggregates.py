"""The aggregate reads of the `Storage` interface on DuckDB, in SQL where the data lives.

A mixin of `Warehouse` (storage/warehouse.py), which supplies `query`, `read_window` and
`table_exists`. Result columns and dtypes are the ones storage/aggregates.py fixes for every backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from devmetrics_assets.storage import aggregates as A
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.frames import TimeLike
from devmetrics_assets.storage.shapes import normalise_shapes, shape_sql

if TYPE_CHECKING:
    from devmetrics_assets.realtime.feeds import DuckDBTail
    from devmetrics_assets.realtime.state import WatcherState

_SOURCE_DAYS = "source = ? AND received_day >= ? AND received_day < ?"


class WarehouseAggregates:
    """Aggregate reads and capabilities on DuckDB; mixed into `Warehouse` (which provides `query` and
    `table_exists`)."""

    def bronze_daily_counts(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Deliveries of `source` per received day in [start, end) (see backend.Storage)."""
        if not self.table_exists(T.BRONZE_TABLE):
            return A.daily_counts_frame(pd.Series(dtype="object"), pd.Series(dtype="int64"))
        got = self.query(f"SELECT received_day, count(*) AS deliveries FROM {T.BRONZE_TABLE} "
                         f"WHERE {_SOURCE_DAYS} GROUP BY received_day",
                         [source, A.day_bound(start), A.day_bound(end)])
        return A.daily_counts_frame(got["received_day"], got["deliveries"])

    def bronze_shapes(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Payload field paths of `source`'s deliveries received in [start, end) (storage/shapes.py)."""
        if not self.table_exists(T.BRONZE_TABLE):
            return normalise_shapes(pd.DataFrame(columns=["event_kind", "received_day", "path", "n",
                                                          "deliveries"]))
        got = self.query(shape_sql(T.BRONZE_TABLE, _SOURCE_DAYS),
                         [source, A.day_bound(start), A.day_bound(end)])
        return normalise_shapes(got)

    def newest_received_at(self, source: str) -> pd.Timestamp | None:
        """received_at of `source`'s newest stored delivery (None if it never delivered)."""
        if not self.table_exists(T.BRONZE_TABLE):
            return None
        got = self.query(f"SELECT max(received_at) AS last FROM {T.BRONZE_TABLE} WHERE source = ?", [source])
        last = got["last"].iloc[0] if len(got) else None
        return None if last is None or pd.isna(last) else pd.Timestamp(last).tz_convert("UTC")

    def count_bronze(
        self, start: TimeLike, end: TimeLike, kinds: Sequence[tuple[str, str]] | None = None
    ) -> int:
        """Bronze deliveries with start <= event_day < end of these (provider, event_type) kinds."""
        if not self.table_exists(T.BRONZE_TABLE):
            return 0
        where, params = "event_day >= ? AND event_day < ?", [A.day_bound(start), A.day_bound(end)]
        if kinds is not None:
            terms = " OR ".join(["(provider = ? AND event_type = ?)"] * len(kinds)) or "FALSE"
            where += f" AND ({terms})"
            params += [part for kind in kinds for part in kind]
        got = self.query(f"SELECT count(*) AS n FROM {T.BRONZE_TABLE} WHERE {where}", params)
        return int(got["n"].iloc[0])

    def values_present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of `values` occur in `column` of `table` (any partition)."""
        if not values or not self.table_exists(table):
            return set()
        col = T.quote(column)
        got = self.query(f"SELECT DISTINCT CAST({col} AS VARCHAR) AS v FROM {T.quote(table)} "
                         f"WHERE list_contains(?, CAST({col} AS VARCHAR))", [list(map(str, values))])
        return set(got["v"].astype(str))

    def shipping_deployments(self, shas: Sequence[str]) -> pd.DataFrame:
        """Successful production silver_deployments rows that shipped any of `shas`."""
        if not shas or not self.table_exists("silver_deployments"):
            return A.empty_shipping()
        got = self.query(
            f"SELECT {', '.join(A.SHIPPING_COLUMNS)} FROM silver_deployments "
            "WHERE is_production AND final_status = 'success' "
            "AND len(list_intersect(string_split(commit_shas, ','), ?)) > 0 ORDER BY deployment_id",
            [list(shas)],
        )
        return got.reset_index(drop=True)

    def quarantine_groups(self) -> pd.DataFrame:
        """Quarantine rows counted per (layer, asset, reason), most rows first."""
        if not self.table_exists(T.QUARANTINE_TABLE):
            return A.empty_quarantine_groups()
        got = self.query(
            "SELECT layer, asset, reason, count(*) AS rows, count(DISTINCT partition_day) AS days, "
            "min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at "
            f"FROM {T.QUARANTINE_TABLE} GROUP BY ALL")
        return A.normalise_quarantine_groups(got)

    def latest_quarantine(self, limit: int) -> pd.DataFrame:
        """The `limit` quarantine rows seen last (ties by quarantine_id)."""
        if not self.table_exists(T.QUARANTINE_TABLE):
            return pd.DataFrame(columns=A.QUARANTINE_SAMPLE_COLUMNS)
        return self.query(f"SELECT {', '.join(A.QUARANTINE_SAMPLE_COLUMNS)} FROM {T.QUARANTINE_TABLE} "
                          "ORDER BY last_seen_at DESC, quarantine_id LIMIT ?", [max(0, int(limit))])

    def quarantine_refs(
        self, *, layer: str | None = None, asset: str | None = None, reason_like: str | None = None
    ) -> pd.DataFrame:
        """Quarantine rows (layer, asset, record_ref, partition_day) matching the filters."""
        if not self.table_exists(T.QUARANTINE_TABLE):
            return pd.DataFrame(columns=A.QUARANTINE_REF_COLUMNS)
        equal: Mapping[str, Any] = {k: v for k, v in (("layer", layer), ("asset", asset)) if v is not None}
        conds = [f"{T.quote(c)} = ?" for c in equal]
        params: list[Any] = list(equal.values())
        if reason_like:
            conds.append("reason ILIKE ?")
            params.append(A.reason_pattern(reason_like))
        return self.query(f"SELECT {', '.join(A.QUARANTINE_REF_COLUMNS)} FROM {T.QUARANTINE_TABLE} "
                          f"WHERE {' AND '.join(conds) or 'TRUE'} ORDER BY quarantine_id", params)

    def delivery_feed(self, state: WatcherState, max_await_ms: int = 200) -> DuckDBTail:
        """DuckDB has no change stream: the watcher tails Bronze by load_seq (`max_await_ms` unused)."""
        from devmetrics_assets.realtime.feeds import DuckDBTail  # realtime imports storage, not back

        return DuckDBTail(self, state)
