"""The DuckDB warehouse's Bronze bookkeeping: stored payload hashes, verification memory, pending work.

A mixin of `Warehouse` (storage/warehouse.py), which supplies `path`, `connect`, `_transaction`,
`table_exists` and `read_table`. The MongoDB backend implements the same methods (storage/mongo.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage import warehouse_schema as S

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

    import duckdb

PENDING_DTYPES = {"source": "str", "load_batch_id": "str", "event_day": "datetime64[us]",
                  "recorded_at": "datetime64[us, UTC]"}


def empty_pending() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=d) for c, d in PENDING_DTYPES.items()})


class BronzeBookkeeping:
    """Reads about Bronze deliveries and the pending-work ledger, on the DuckDB file."""

    path: Path

    if TYPE_CHECKING:
        def connect(self, read_only: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
        def _transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
        def table_exists(self, table: str) -> bool: ...
        def reading(self) -> AbstractContextManager[None]: ...
        def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def stored_payload_hashes(self, source: str, delivery_ids: Sequence[str]) -> dict[str, str]:
        """delivery id -> payload_sha256 of the stored deliveries of `source` among `delivery_ids`."""
        if not delivery_ids:
            return {}
        with self.reading():  # the table lookup and the join on one connection
            if not self.table_exists(T.BRONZE_TABLE):
                return {}
            with self.connect(read_only=True) as con:
                con.register("_ids", pd.DataFrame({"delivery_id": pd.Series(list(delivery_ids), dtype=str)}))
                found = con.execute(
                    f"SELECT b.delivery_id, b.payload_sha256 FROM {T.BRONZE_TABLE} b "
                    "JOIN _ids USING (delivery_id) WHERE b.source = ?", [source]).fetchall()
        return dict(found)

    def was_verified(self, source: str) -> bool:
        """Whether `source` ever had a signature checked: a verified delivery in Bronze, or a delivery
        quarantined because its signature was missing or wrong."""
        if not self.path.exists():
            return False
        reasons = " OR ".join("reason LIKE ?" for _ in T.SIGNATURE_REASON_PREFIXES)
        likes = [f"{p}%" for p in T.SIGNATURE_REASON_PREFIXES]
        checks = [
            (T.BRONZE_TABLE, "signature_status = 'verified'", []),
            (T.QUARANTINE_TABLE, f"layer = 'bronze' AND ({reasons})", likes),
        ]
        for table, where, params in checks:
            if self.table_exists(table):
                with self.connect(read_only=True) as con:
                    hit = con.execute(f"SELECT 1 FROM {table} WHERE source = ? AND ({where}) LIMIT 1",
                                      [source, *params]).fetchone()
                if hit:
                    return True
        return False

    def landing_offsets(self, source: str) -> dict[str, tuple[int, int]]:
        """file name -> (byte offset, line number) loaded so far of `source`'s landing day files."""
        if not self.table_exists(T.OFFSETS_TABLE):
            return {}
        with self.connect(read_only=True) as con:
            found = con.execute(
                f"SELECT file, byte_offset, line_number FROM {T.OFFSETS_TABLE} WHERE source = ?", [source]
            ).fetchall()
        return {f: (int(b), int(n)) for f, b, n in found}

    def pending_event_days(self) -> pd.DataFrame:
        """The pending-work ledger: (source, load_batch_id, event_day, recorded_at), oldest first."""
        if not self.table_exists(T.PENDING_TABLE):
            return empty_pending()
        frame = self.read_table(T.PENDING_TABLE)
        return frame.sort_values(["recorded_at", "event_day"], kind="stable").reset_index(drop=True)

    def clear_pending(self, done: pd.DataFrame) -> int:
        """Remove these (load_batch_id, source, event_day) rows from the ledger; returns how many."""
        if done.empty or not self.table_exists(T.PENDING_TABLE):
            return 0
        keys = done[["load_batch_id", "source", "event_day"]].drop_duplicates()
        with self._transaction() as con:
            view = S.register(con, keys)
            return int(con.execute(
                f"DELETE FROM {T.PENDING_TABLE} p USING {view} d WHERE p.load_batch_id = d.load_batch_id "
                "AND p.source = d.source AND p.event_day = CAST(d.event_day AS DATE)").fetchone()[0])

