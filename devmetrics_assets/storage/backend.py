"""The storage interface the layers, the IO manager and the loaders use.

`Warehouse` (DuckDB, the embedded default) implements it; a MongoDB backend implements the same
methods with the same semantics (atomic, idempotent partition writes; append-only Bronze keyed by
(source, delivery_id)), so switching storage changes no asset code. Raw SQL (`Warehouse.query`) is
DuckDB-only and is not part of this interface: what the checks, the quarantine view, replay and the
loaders would compute in SQL are the aggregate reads below, each implemented by every backend where
its data lives (DuckDB SQL, MongoDB queries), so no caller asks which backend it holds. Their result
columns and dtypes are fixed in storage/aggregates.py and storage/shapes.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from devmetrics_assets.storage.frames import TimeLike

if TYPE_CHECKING:
    from devmetrics_assets.realtime.classify import Delivery
    from devmetrics_assets.realtime.state import WatcherState


class DeliveryFeed(Protocol):
    """Newly stored Bronze deliveries with a resumable cursor (realtime/feeds.py)."""

    # True when `poll` already waits for new deliveries (a change stream awaits server-side), so the
    # watcher need not sleep between empty polls.
    waits_for_changes: bool

    def open(self, from_beginning: bool = False) -> bool: ...

    def poll(self, max_events: int = 500, wait_seconds: float = 0.0) -> list[tuple[Delivery, Any]]: ...

    def save(self, cursor: Any) -> None: ...

    def idle_cursor(self) -> Any | None: ...

    def bootstrap(self, days: int) -> list[Delivery]: ...

    def close(self) -> None: ...


class Storage(Protocol):
    def ensure_schema(self) -> None: ...

    def append_bronze(self, rows: pd.DataFrame, offsets: Sequence[tuple[str, str, int, int]] = ()) -> int:
        """Append new deliveries; store the landing `offsets` (source, file, bytes, lines) they were read up
        to with them (DuckDB: one transaction; MongoDB: after the deliveries, so a crash re-reads, never
        skips). Returns how many deliveries were inserted."""
        ...

    def replace_partition(
        self, table: str, df: pd.DataFrame, partition_column: str, start: TimeLike, end: TimeLike
    ) -> int: ...

    def replace_table(self, table: str, df: pd.DataFrame) -> int: ...

    def upsert_quarantine(
        self, rows: pd.DataFrame, *, replace_asset: str | None = None, start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> int: ...

    def read_window(
        self, table: str, partition_column: str, start: TimeLike | None, end: TimeLike | None, *,
        columns: list[str] | None = None, filters: Mapping[str, object] | None = None,
    ) -> pd.DataFrame:
        """Rows with start <= partition_column < end (None = unbounded), in the written dtypes;
        `filters`: column -> value equalities the rows must also meet (evaluated by the backend)."""
        ...

    def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def read_bronze(
        self, kinds: Sequence[str | tuple[str, str]], end: TimeLike, start: TimeLike | None = None
    ) -> pd.DataFrame: ...

    def bronze_event_days(self, load_batch_id: str) -> list[date]: ...

    def table_exists(self, table: str) -> bool: ...

    def max_load_seq(self) -> int: ...

    # Bronze bookkeeping (docs/trust.md): conflicting redeliveries, verification memory, pending work.
    def stored_payload_hashes(self, source: str, delivery_ids: Sequence[str]) -> dict[str, str]: ...

    def was_verified(self, source: str) -> bool: ...

    def landing_offsets(self, source: str) -> dict[str, tuple[int, int]]:
        """file name -> (byte offset, line number) of `source`'s landing day files loaded so far."""
        ...

    def pending_event_days(self) -> pd.DataFrame: ...

    def clear_pending(self, done: pd.DataFrame) -> int: ...

    # ---- aggregate reads: computed by the backend, same columns and dtypes on every backend ----------
    # Nothing stored yet (no table) gives the empty answer, never NothingMaterializedError.
    def bronze_daily_counts(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Deliveries of `source` per received day in [start, end): columns received_day
        (datetime64[us]) and deliveries (int64), by day; days without deliveries are absent."""
        ...

    def bronze_shapes(self, source: str, start: TimeLike, end: TimeLike) -> pd.DataFrame:
        """Payload field paths of `source`'s deliveries received in [start, end), counted per (event
        kind, received day): storage/shapes.py's columns (event_kind, received_day, path, n,
        deliveries), sorted by them."""
        ...

    def newest_received_at(self, source: str) -> pd.Timestamp | None:
        """received_at (UTC) of `source`'s newest stored delivery; None if it never delivered."""
        ...

    def count_bronze(
        self, start: TimeLike, end: TimeLike, kinds: Sequence[tuple[str, str]] | None = None
    ) -> int:
        """Bronze deliveries with start <= event_day < end, of these (provider, event_type) kinds
        (None = every kind)."""
        ...

    def values_present(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        """Which of `values` occur in `column` of `table` (any partition)."""
        ...

    def shipping_deployments(self, shas: Sequence[str]) -> pd.DataFrame:
        """silver_deployments rows of successful production deployments whose comma-separated
        commit_shas include any of `shas`: columns deployment_id, is_production, final_status,
        commit_shas (storage/aggregates.SHIPPING_COLUMNS)."""
        ...

    def quarantine_groups(self) -> pd.DataFrame:
        """Quarantine rows counted per (layer, asset, reason): rows and days (distinct partition days,
        int64), first_seen_at (min) and last_seen_at (max) as datetime64[us, UTC]; most rows first,
        then by layer, asset, reason."""
        ...

    def latest_quarantine(self, limit: int) -> pd.DataFrame:
        """The `limit` quarantine rows seen last (ties by quarantine_id): columns layer, asset,
        record_ref, partition_day, reason, record, last_seen_at."""
        ...

    def quarantine_refs(
        self, *, layer: str | None = None, asset: str | None = None, reason_like: str | None = None
    ) -> pd.DataFrame:
        """Quarantine rows (layer, asset, record_ref, partition_day) of this layer and asset whose
        reason matches `reason_like`: a case-insensitive substring, or an ILIKE pattern (`%`, `_`)
        when it contains `%`. None means any."""
        ...

    # ---- capabilities ---------------------------------------------------------------------------
    def delivery_feed(self, state: WatcherState, max_await_ms: int = 200) -> DeliveryFeed:
        """How this backend follows newly stored deliveries for the real-time watcher: a change stream
        where the backend has one, else a tail of Bronze by load_seq."""
        ...
