"""The storage interface the layers, the IO manager and the loaders use.

`Warehouse` (DuckDB, the embedded default) implements it; a MongoDB backend implements the same
methods with the same semantics (atomic, idempotent partition writes; append-only Bronze keyed by
(source, delivery_id)), so switching storage changes no asset code. Raw SQL (`Warehouse.query`) is
DuckDB-only and is not part of this interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import pandas as pd

from devmetrics_assets.storage.warehouse import TimeLike


class Storage(Protocol):
    def ensure_schema(self) -> None: ...

    def append_bronze(self, rows: pd.DataFrame) -> int: ...

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
        columns: list[str] | None = None,
    ) -> pd.DataFrame: ...

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

    def pending_event_days(self) -> pd.DataFrame: ...

    def clear_pending(self, done: pd.DataFrame) -> int: ...
