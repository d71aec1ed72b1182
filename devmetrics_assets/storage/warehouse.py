"""The DuckDB warehouse: atomic partition writes, Bronze appends, quarantine upserts, reads.

Pure duckdb + pandas (no Dagster) so notebooks, the CLI and the IO manager share one code path.
DuckDB allows one writing process per file and a notebook holding any connection blocks writers,
so every operation opens a short-lived connection, and opening retries on lock errors with bounded
exponential backoff and full jitter.

Every write is one transaction: a failed write leaves the previous data intact. Frames are read
through DuckDB's pandas scan (registered views), never row by row.

This module is the API and the connection handling; how Silver/Gold tables are created, evolved and
read back in their written dtypes is in warehouse_schema.py, and what a partition window means (and
which frames a write refuses) is in frames.py and tables.py, shared with the MongoDB backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage import warehouse_schema as S
from devmetrics_assets.storage.frames import (
    TimeLike,
    bound_for,
    check_partition_frame,
    check_rows_in_window,
    window_text,
)
from devmetrics_assets.storage.retry import full_jitter
from devmetrics_assets.storage.transaction import transaction
from devmetrics_assets.storage.warehouse_aggregates import WarehouseAggregates
from devmetrics_assets.storage.warehouse_bronze import BronzeBookkeeping

# What Silver reads from Bronze (the payload and its keys; not the ingestion bookkeeping).
BRONZE_READ_COLUMNS = ["source", "provider", "delivery_id", "event_type", "received_at", "event_day", "body",
                       "load_seq"]



def bronze_kinds_sql(kinds: Sequence[str | tuple[str, str]]) -> tuple[str, list[str]]:
    """The WHERE clause selecting these kinds of Bronze deliveries (an event type of any provider, or a
    (provider, event_type) pair), and its parameters; FALSE for no kinds."""
    terms, params = [], []
    for kind in kinds:
        if isinstance(kind, tuple):
            terms.append("(provider = ? AND event_type = ?)")
            params.extend(kind)
        else:
            terms.append("event_type = ?")
            params.append(kind)
    return f"({' OR '.join(terms) or 'FALSE'})", params

class WarehouseLockedError(RuntimeError):
    """Another process (often a notebook) holds the DuckDB file; retrying did not help."""


class NothingMaterializedError(LookupError):
    """The warehouse file or table does not exist yet: nothing has been materialised."""

    @classmethod
    def for_table(
        cls, path: Path, table: str, window: str | None = None, asset: str | None = None
    ) -> NothingMaterializedError:
        where = f" for window {window}" if window else ""
        return cls(
            f"Nothing materialised yet: table '{table}' is not in warehouse {path}{where}. "
            f"Run `devmetrics demo` (sample) or `devmetrics load FILE`, or materialise {asset or table} "
            "in the Dagster UI."
        )


def _is_lock_error(exc: Exception) -> bool:
    msg = str(exc)
    return ("lock" in msg.lower() and isinstance(exc, duckdb.IOException)) or (
        isinstance(exc, duckdb.ConnectionException) and "different configuration" in msg
    )


class Warehouse(WarehouseAggregates, BronzeBookkeeping):
    """One DuckDB file. Cheap to construct; holds no connection between calls.

    The Bronze bookkeeping reads and the pending-work ledger are the `BronzeBookkeeping` mixin
    (storage/warehouse_bronze.py); the aggregate reads of the Storage interface are the
    `WarehouseAggregates` mixin (storage/warehouse_aggregates.py)."""

    def __init__(
        self,
        path: str | Path,
        *,
        lock_attempts: int = 8,
        lock_base_delay: float = 0.05,
        lock_max_delay: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self.lock_attempts = max(1, lock_attempts)
        self.lock_base_delay = lock_base_delay
        self.lock_max_delay = lock_max_delay
        # Inside `reading()`: the read-only connection reads share, and the table schemas it has seen.
        self._held: duckdb.DuckDBPyConnection | None = None
        self._schemas: dict[str, dict[str, tuple[str, str | None]]] = {}

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    # ---- connections -------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside share ONE read-only connection (and the table schemas it has seen).

        Opening the file and looking a table's columns up cost ~30 ms per read, and a Silver model makes
        a dozen reads in a row. Hold it only around a burst of reads, never around computing or a
        write: while it is open, other processes cannot write the file (they retry, then give up) and
        this object cannot write either (connect(read_only=False) raises). Nested calls share the outer one.
        """
        if self._held is not None or not self.path.exists():
            yield  # nested, or nothing to read yet (each read then reports it as before)
            return
        con = self._open(read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            self._held, self._schemas = con, {}
            yield
        finally:
            self._held, self._schemas = None, {}
            con.close()

    def _columns(self, con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[str, str | None]]:
        """S.columns, remembered while `reading()` holds the file (no process can change a schema then)."""
        if self._held is None:
            return S.columns(con, table)
        if table not in self._schemas:
            self._schemas[table] = S.columns(con, table)
        return self._schemas[table]

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection in UTC; read-only ones never create the file. Inside `reading()`,
        read-only ones are cursors of the held connection."""
        if self._held is not None:
            if not read_only:
                raise RuntimeError(f"{self!r}: no write while reading() holds the file read-only")
            cursor = self._held.cursor()
            try:
                cursor.execute("SET TimeZone = 'UTC'")
                yield cursor
            finally:
                cursor.close()
            return
        if read_only and not self.path.exists():
            raise NothingMaterializedError(
                f"Nothing materialised yet: warehouse file {self.path} does not exist. "
                "Run `devmetrics demo` / `devmetrics load` or materialise the assets in the Dagster UI."
            )
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        last: Exception | None = None
        for attempt in range(self.lock_attempts):
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise
                last = exc
                if attempt + 1 < self.lock_attempts:
                    time.sleep(full_jitter(attempt + 1, self.lock_base_delay, self.lock_max_delay))
        raise WarehouseLockedError(
            f"DuckDB warehouse {self.path} is locked after {self.lock_attempts} attempts: a notebook or "
            f"another process (Dagster, devmetrics) may hold a connection to it; close it and retry. "
            f"Last error: {last}"
        ) from last

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con, transaction(con):
            yield con

    # ---- schema ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the fixed tables (Bronze, quarantine) if missing."""
        with self._transaction() as con:
            _create_fixed_tables(con)

    # ---- writes ------------------------------------------------------------------------------
    def replace_partition(
        self, table: str, df: pd.DataFrame, partition_column: str, start: TimeLike, end: TimeLike
    ) -> int:
        """Atomically replace rows with start <= partition_column < end by df; returns rows inserted.

        Raises ValueError before writing if a row lies outside the window. An empty df still clears
        the window. New df columns are added to the table; columns df lacks become NULL.
        """
        T.check_writable(table, partition_column)
        check_partition_frame(table, df, partition_column, lambda: self.table_exists(table))
        if len(df.columns):
            check_rows_in_window(df, partition_column, start, end)
        with self._transaction() as con:
            if len(df.columns):
                view = S.register(con, df)
                types = S.sync_schema(con, table, df, view)
            else:
                view, types = None, {c: t for c, (t, _) in S.columns(con, table).items()}
                if partition_column not in types:
                    raise ValueError(f"{table} has no partition column {partition_column!r}")
            ptype = types[partition_column]
            con.execute(
                f"DELETE FROM {T.quote(table)} WHERE {T.quote(partition_column)} >= ? "
                f"AND {T.quote(partition_column)} < ?",
                [bound_for(ptype, start), bound_for(ptype, end)],
            )
            if view is None or df.empty:
                return 0
            sql = f"INSERT INTO {T.quote(table)} BY NAME {S.select_cast(view, types, list(df.columns))}"
            return int(con.execute(sql).fetchone()[0])

    def replace_table(self, table: str, df: pd.DataFrame) -> int:
        """Atomically replace a whole (unpartitioned) table by df, its schema included."""
        T.check_writable(table)
        if len(df.columns) == 0:
            raise ValueError(f"cannot create {table} from a frame without columns")
        with self._transaction() as con:
            view = S.register(con, df)
            types = S.sync_schema(con, table, df, view, replace=True)
            if df.empty:
                return 0
            sql = f"INSERT INTO {T.quote(table)} BY NAME {S.select_cast(view, types, list(df.columns))}"
            return int(con.execute(sql).fetchone()[0])

    def append_bronze(self, rows: pd.DataFrame, offsets: Sequence[T.LandingOffset] = ()) -> int:
        """Append deliveries not yet stored; returns how many were inserted (0 for a replay).

        Duplicates inside `rows` keep the earliest received_at. load_seq continues the table's
        sequence in received order so downstream can read "everything after N". The event days of the
        inserted rows are recorded as pending work in the same transaction (tables.PENDING_TABLE), and so
        are the landing `offsets` the rows were read up to (tables.OFFSETS_TABLE), also when no row is new.
        """
        T.check_bronze_rows(rows)
        if rows.empty and not offsets:
            self.ensure_schema()
            return 0
        with self._transaction() as con:
            # In the write's own transaction: one connection per chunk of a backfill, not two.
            _create_fixed_tables(con)
            inserted = 0
            if not rows.empty:
                inserted = self._insert_bronze(con, rows)
            if offsets:
                con.executemany(
                    f"INSERT INTO {T.OFFSETS_TABLE} VALUES (?, ?, ?, ?, current_timestamp) "
                    "ON CONFLICT (source, file) DO UPDATE SET byte_offset = excluded.byte_offset, "
                    "line_number = excluded.line_number, updated_at = excluded.updated_at",
                    [list(o) for o in offsets])
            return inserted

    def _insert_bronze(self, con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
        frame = rows.drop(columns=["load_seq", T.RECORD_REF], errors="ignore").assign(_ord=range(len(rows)))
        select = T.bronze_select_sql(set(frame.columns))
        view = S.register(con, frame)
        before = con.execute(f"SELECT coalesce(max(load_seq), 0) FROM {T.BRONZE_TABLE}").fetchone()[0]
        sql = f"""
            INSERT INTO {T.BRONZE_TABLE} BY NAME
            SELECT * EXCLUDE (_ord, _rn), ? + row_number() OVER (ORDER BY received_at, _ord) AS load_seq
            FROM (
                SELECT *, row_number() OVER (PARTITION BY source, delivery_id
                                             ORDER BY received_at, _ord) AS _rn
                FROM (SELECT {select}, _ord FROM {view}) AS src
            ) AS ranked
            WHERE _rn = 1 AND NOT EXISTS (
                SELECT 1 FROM {T.BRONZE_TABLE} b
                WHERE b.source = ranked.source AND b.delivery_id = ranked.delivery_id)
        """
        inserted = int(con.execute(sql, [before]).fetchone()[0])
        if inserted:
            con.execute(
                f"INSERT INTO {T.PENDING_TABLE} SELECT DISTINCT source, load_batch_id, event_day, "
                f"current_timestamp FROM {T.BRONZE_TABLE} WHERE load_seq > ? ON CONFLICT DO NOTHING",
                [before],
            )
        return inserted

    def upsert_quarantine(
        self,
        rows: pd.DataFrame,
        *,
        replace_asset: str | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> int:
        """Insert or refresh quarantine rows (first_seen_at kept, last_seen_at updated).

        With replace_asset and a window, that asset's rows in [start, end) that are not in `rows`
        are removed in the same transaction, so a record fixed upstream leaves quarantine.
        """
        T.check_quarantine_rows(rows, replace_asset, start, end)
        frame = T.prepare_quarantine_rows(rows)
        cols = list(T.QUARANTINE_COLUMNS)
        with self._transaction() as con:
            _create_fixed_tables(con)
            view = S.register(con, frame)
            if replace_asset is not None:
                con.execute(
                    f"DELETE FROM {T.QUARANTINE_TABLE} WHERE asset = ? AND partition_day >= ? "
                    f"AND partition_day < ? AND quarantine_id NOT IN (SELECT quarantine_id FROM {view})",
                    [replace_asset, bound_for("DATE", start), bound_for("DATE", end)],
                )
            if frame.empty:
                return 0
            kept = ("quarantine_id", "first_seen_at")
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in kept)
            sql = (
                f"INSERT INTO {T.QUARANTINE_TABLE} ({', '.join(cols)}) "
                f"{S.select_cast(view, T.QUARANTINE_COLUMNS, cols)} "
                f"ON CONFLICT (quarantine_id) DO UPDATE SET {updates}"
            )
            con.execute(sql)
            return len(frame)

    # ---- reads -------------------------------------------------------------------------------
    def read_window(
        self,
        table: str,
        partition_column: str,
        start: TimeLike | None,
        end: TimeLike | None,
        *,
        where_sql: str = "",
        params: list | None = None,
        columns: list[str] | None = None,
        filters: Mapping[str, object] | None = None,
    ) -> pd.DataFrame:
        """Rows with start <= partition_column < end (None = unbounded), in the written dtypes.

        `filters`: column -> value equalities (the Storage interface); `where_sql` + `params`: a raw
        SQL condition (DuckDB only)."""
        T.check_identifier(table, "table")
        T.check_identifier(partition_column, "partition column")
        window = window_text(start, end)
        if not self.path.exists():
            raise NothingMaterializedError.for_table(self.path, table, window)
        with self.connect(read_only=True) as con:
            schema = self._columns(con, table)
            if not schema:
                raise NothingMaterializedError.for_table(self.path, table, window)
            wanted = columns or list(schema)
            bad = [c for c in [*wanted, partition_column, *(filters or {})] if c not in schema]
            if bad:
                raise ValueError(f"{table} has no column(s) {bad}; columns: {list(schema)}")
            conds, args = [], []
            ptype = schema[partition_column][0]
            if start is not None:
                conds.append(f"{T.quote(partition_column)} >= ?")
                args.append(bound_for(ptype, start))
            if end is not None:
                conds.append(f"{T.quote(partition_column)} < ?")
                args.append(bound_for(ptype, end))
            for column, value in (filters or {}).items():
                conds.append(f"{T.quote(column)} = ?")
                args.append(value)
            if where_sql:
                conds.append(f"({where_sql})")
                args.extend(params or [])
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            sql = f"SELECT {', '.join(T.quote(c) for c in wanted)} FROM {T.quote(table)}{where}"
            return S.fetch(con, sql, args, {c: h for c, (_, h) in schema.items() if h})

    def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A whole table in the written dtypes."""
        T.check_identifier(table, "table")
        if not self.path.exists():
            raise NothingMaterializedError.for_table(self.path, table)
        with self.connect(read_only=True) as con:
            schema = self._columns(con, table)
            if not schema:
                raise NothingMaterializedError.for_table(self.path, table)
            wanted = columns or list(schema)
            sql = f"SELECT {', '.join(T.quote(c) for c in wanted)} FROM {T.quote(table)}"
            return S.fetch(con, sql, None, {c: h for c, (_, h) in schema.items() if h})

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Read-only ad-hoc SQL; a missing table surfaces as NothingMaterializedError.

        Integer/boolean result columns get their written pandas dtype back when their name has one
        unambiguous remembered dtype across the warehouse (e.g. pr_number -> Int64).
        """
        with self.connect(read_only=True) as con:
            try:
                return S.fetch(con, sql, params, S.hints_by_name(con))
            except duckdb.CatalogException as exc:
                raise NothingMaterializedError(
                    f"{exc} (warehouse {self.path}). Run `devmetrics demo` / `devmetrics load` or "
                    "materialise the asset in the Dagster UI."
                ) from exc

    # ---- what the layers read: the storage interface another backend implements too --------
    def read_bronze(
        self, kinds: Sequence[str | tuple[str, str]], end: TimeLike, start: TimeLike | None = None
    ) -> pd.DataFrame:
        """Bronze deliveries with start <= event_day < end, in load order, of these kinds: an event
        type (any provider) or a (provider, event_type) pair (providers share names like `deployment`)."""
        where, params = bronze_kinds_sql(kinds)
        rows = self.read_window(T.BRONZE_TABLE, "event_day", start, end, where_sql=where, params=params,
                                columns=BRONZE_READ_COLUMNS)
        return rows.sort_values("load_seq", kind="stable").reset_index(drop=True)

    def bronze_event_days(self, load_batch_id: str) -> list[date]:
        """Event days of the deliveries one load batch inserted: the Silver partitions it changed."""
        days = self.read_window(T.BRONZE_TABLE, "event_day", None, None, where_sql="load_batch_id = ?",
                                params=[load_batch_id], columns=["event_day"])
        return sorted({pd.Timestamp(d).date() for d in days["event_day"]})

    def table_exists(self, table: str) -> bool:
        if not self.path.exists():
            return False
        with self.connect(read_only=True) as con:
            return bool(self._columns(con, T.check_identifier(table, "table")))

    def max_load_seq(self) -> int:
        """Highest Bronze load_seq (0 when nothing is loaded)."""
        if not self.table_exists(T.BRONZE_TABLE):
            return 0
        with self.connect(read_only=True) as con:
            return int(con.execute(f"SELECT coalesce(max(load_seq), 0) FROM {T.BRONZE_TABLE}").fetchone()[0])


def _create_fixed_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The fixed tables (Bronze, quarantine, bookkeeping) if missing, in `con`'s transaction."""
    for ddl in T.SCHEMA_DDL:
        con.execute(ddl)
