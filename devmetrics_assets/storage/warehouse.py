"""The DuckDB warehouse: atomic partition writes, Bronze appends, quarantine upserts, reads.

Pure duckdb + pandas (no Dagster) so notebooks, the CLI and the IO manager share one code path.
DuckDB allows one writing process per file and a notebook holding any connection blocks writers,
so every operation opens a short-lived connection, and opening retries on lock errors with bounded
exponential backoff and full jitter.

Every write is one transaction: a failed write leaves the previous data intact. Frames are read
through DuckDB's pandas scan (registered views), never row by row.
"""

from __future__ import annotations

import random
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from devmetrics_assets.storage import tables as T

# What Silver reads from Bronze (the payload and its keys; not the ingestion bookkeeping).
BRONZE_READ_COLUMNS = ["source", "provider", "delivery_id", "event_type", "received_at", "event_day", "body",
                       "load_seq"]

TimeLike = datetime | date | str | pd.Timestamp


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


def _utc(value: TimeLike) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _bound_for(column_type: str, value: TimeLike | None) -> datetime | None:
    """A window bound as a Python datetime matching the column (aware for TIMESTAMPTZ, else naive UTC)."""
    if value is None:
        return None
    ts = _utc(value)
    if "TIME ZONE" in column_type.upper() or column_type.upper() == "TIMESTAMPTZ":
        return ts.to_pydatetime()
    return ts.tz_localize(None).to_pydatetime()


def _window_text(start: TimeLike | None, end: TimeLike | None) -> str:
    lo = "-inf" if start is None else _utc(start).isoformat()
    hi = "+inf" if end is None else _utc(end).isoformat()
    return f"[{lo}, {hi})"


def _check_rows_in_window(df: pd.DataFrame, column: str, start: TimeLike, end: TimeLike) -> None:
    """A transform bug must not overwrite other partitions: every row must lie in [start, end)."""
    if df.empty:
        return
    values = df[column]
    if not (pd.api.types.is_datetime64_any_dtype(values.dtype)):
        values = pd.to_datetime(values)
    lo, hi = _utc(start), _utc(end)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC")
    else:
        lo, hi = lo.tz_localize(None), hi.tz_localize(None)
    bad = values.isna() | (values < lo) | (values >= hi)
    if bad.any():
        examples = sorted({str(v) for v in values[bad].head(5)})
        raise ValueError(
            f"{int(bad.sum())} row(s) have {column} outside the window {_window_text(start, end)} "
            f"(e.g. {examples}); nothing was written"
        )


def _fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None, hints: dict[str, str] | None = None
) -> pd.DataFrame:
    con.execute(sql, params or [])
    types = [str(d[1]) for d in con.description]
    with warnings.catch_warnings():
        # duckdb 2.0's pandas conversion uses a keyword pandas 3.1 deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        df = con.df()
    return T.normalise_frame(df, types, hints)


class Warehouse:
    """One DuckDB file. Cheap to construct; holds no connection between calls."""

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

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    # ---- connections -------------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection in UTC; read-only ones never create the file."""
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
                    cap = min(self.lock_max_delay, self.lock_base_delay * 2**attempt)
                    time.sleep(random.uniform(0, cap))  # full jitter
        raise WarehouseLockedError(
            f"DuckDB warehouse {self.path} is locked after {self.lock_attempts} attempts: a notebook or "
            f"another process (Dagster, devmetrics) may hold a connection to it; close it and retry. "
            f"Last error: {last}"
        ) from last

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ---- schema ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the fixed tables (Bronze, quarantine) if missing."""
        with self._transaction() as con:
            for ddl in T.SCHEMA_DDL:
                con.execute(ddl)

    @staticmethod
    def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[str, str | None]]:
        """column -> (DuckDB type, pandas dtype hint); empty if the table does not exist."""
        rows = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        return {
            name: (
                typ,
                comment[len(T.DTYPE_COMMENT_PREFIX) :]
                if comment and comment.startswith(T.DTYPE_COMMENT_PREFIX)
                else None,
            )
            for name, typ, comment in rows
        }

    @staticmethod
    def _hints_by_name(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        rows = con.execute(
            "SELECT column_name, min(comment), count(DISTINCT comment) FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND starts_with(comment, ?) GROUP BY column_name",
            [T.DTYPE_COMMENT_PREFIX],
        ).fetchall()
        return {name: hint[len(T.DTYPE_COMMENT_PREFIX) :] for name, hint, n in rows if n == 1}

    @staticmethod
    def _register(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> str:
        view = "_df_" + uuid.uuid4().hex[:12]
        con.register(view, df)
        return view

    def _sync_schema(
        self, con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, view: str, replace: bool = False
    ) -> dict[str, str]:
        """Create the table from df's dtypes, or add df's new columns (schema evolution); returns types."""
        existing = {} if replace else self._columns(con, table)
        inferred = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}
        wanted = {c: T.duckdb_type_for(c, df[c], inferred.get(c)) for c in df.columns}
        if not existing:
            cols = ", ".join(f"{T.quote(c)} {t}" for c, t in wanted.items())
            verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
            con.execute(f"{verb} {T.quote(table)} ({cols})")
            for c in df.columns:
                self._set_hint(con, table, c, df[c])
            return wanted
        types = {c: t for c, (t, _) in existing.items()}
        for c in df.columns:
            if c not in existing:
                con.execute(f"ALTER TABLE {T.quote(table)} ADD COLUMN {T.quote(c)} {wanted[c]}")
                self._set_hint(con, table, c, df[c])
                types[c] = wanted[c]
            elif existing[c][1] in ("bool", *T.INT_NULLABLE) and str(df[c].dtype) in T.NULLABLE_DTYPES:
                self._set_hint(con, table, c, df[c])  # a nullable writer upgrades the remembered dtype
        return types

    @staticmethod
    def _set_hint(con: duckdb.DuckDBPyConnection, table: str, column: str, series: pd.Series) -> None:
        hint = T.DTYPE_COMMENT_PREFIX + str(series.dtype)
        con.execute(f"COMMENT ON COLUMN {T.quote(table)}.{T.quote(column)} IS '{hint.replace(chr(39), '')}'")

    @staticmethod
    def _select_cast(view: str, types: dict[str, str], columns: list[str]) -> str:
        exprs = ", ".join(f"CAST({T.quote(c)} AS {types[c]}) AS {T.quote(c)}" for c in columns)
        return f"SELECT {exprs} FROM {view}"

    @staticmethod
    def _guard_fixed(table: str) -> None:
        if table in T.FIXED_TABLES:
            raise ValueError(f"{table} has its own writer (append_bronze / upsert_quarantine)")

    # ---- writes ------------------------------------------------------------------------------
    def replace_partition(
        self, table: str, df: pd.DataFrame, partition_column: str, start: TimeLike, end: TimeLike
    ) -> int:
        """Atomically replace rows with start <= partition_column < end by df; returns rows inserted.

        Raises ValueError before writing if a row lies outside the window. An empty df still clears
        the window. New df columns are added to the table; columns df lacks become NULL.
        """
        T.check_identifier(table, "table")
        T.check_identifier(partition_column, "partition column")
        self._guard_fixed(table)
        if len(df.columns) == 0:
            if not self.table_exists(table):
                raise ValueError(f"cannot create {table} from a frame without columns")
        elif partition_column not in df.columns:
            raise ValueError(f"partition column {partition_column!r} missing from frame for {table}")
        if len(df.columns):
            _check_rows_in_window(df, partition_column, start, end)
        with self._transaction() as con:
            if len(df.columns):
                view = self._register(con, df)
                types = self._sync_schema(con, table, df, view)
            else:
                view, types = None, {c: t for c, (t, _) in self._columns(con, table).items()}
                if partition_column not in types:
                    raise ValueError(f"{table} has no partition column {partition_column!r}")
            ptype = types[partition_column]
            con.execute(
                f"DELETE FROM {T.quote(table)} WHERE {T.quote(partition_column)} >= ? "
                f"AND {T.quote(partition_column)} < ?",
                [_bound_for(ptype, start), _bound_for(ptype, end)],
            )
            if view is None or df.empty:
                return 0
            sql = f"INSERT INTO {T.quote(table)} BY NAME {self._select_cast(view, types, list(df.columns))}"
            return int(con.execute(sql).fetchone()[0])

    def replace_table(self, table: str, df: pd.DataFrame) -> int:
        """Atomically replace a whole (unpartitioned) table by df, its schema included."""
        T.check_identifier(table, "table")
        self._guard_fixed(table)
        if len(df.columns) == 0:
            raise ValueError(f"cannot create {table} from a frame without columns")
        with self._transaction() as con:
            view = self._register(con, df)
            types = self._sync_schema(con, table, df, view, replace=True)
            if df.empty:
                return 0
            sql = f"INSERT INTO {T.quote(table)} BY NAME {self._select_cast(view, types, list(df.columns))}"
            return int(con.execute(sql).fetchone()[0])

    def append_bronze(self, rows: pd.DataFrame) -> int:
        """Append deliveries not yet stored; returns how many were inserted (0 for a replay).

        Duplicates inside `rows` keep the earliest received_at. load_seq continues the table's
        sequence in received order so downstream can read "everything after N".
        """
        unknown = sorted(set(rows.columns) - set(T.BRONZE_COLUMNS))
        missing = [c for c in T.BRONZE_REQUIRED if c not in rows.columns]
        if unknown or missing:
            raise ValueError(f"bronze rows: unknown columns {unknown}, missing columns {missing}")
        for c in ("headers", "body"):
            if pd.api.types.infer_dtype(rows[c], skipna=True) not in ("string", "empty"):
                raise ValueError(f"bronze rows: {c} must be JSON text (str), not parsed objects")
        self.ensure_schema()
        if rows.empty:
            return 0
        frame = rows.drop(columns=["load_seq"], errors="ignore").assign(_ord=range(len(rows)))
        select = T.bronze_select_sql(set(frame.columns))
        with self._transaction() as con:
            view = self._register(con, frame)
            sql = f"""
                INSERT INTO {T.BRONZE_TABLE} BY NAME
                SELECT * EXCLUDE (_ord, _rn),
                       (SELECT coalesce(max(load_seq), 0) FROM {T.BRONZE_TABLE})
                         + row_number() OVER (ORDER BY received_at, _ord) AS load_seq
                FROM (
                    SELECT *, row_number() OVER (PARTITION BY source, delivery_id
                                                 ORDER BY received_at, _ord) AS _rn
                    FROM (SELECT {select}, _ord FROM {view}) AS src
                ) AS ranked
                WHERE _rn = 1 AND NOT EXISTS (
                    SELECT 1 FROM {T.BRONZE_TABLE} b
                    WHERE b.source = ranked.source AND b.delivery_id = ranked.delivery_id)
            """
            return int(con.execute(sql).fetchone()[0])

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
        if (replace_asset is None) != (start is None) or (start is None) != (end is None):
            raise ValueError("replace_asset, start and end go together (all or none)")
        unknown = sorted(set(rows.columns) - set(T.QUARANTINE_COLUMNS))
        missing = [c for c in T.QUARANTINE_REQUIRED if c not in rows.columns]
        if unknown or (missing and not rows.empty):
            raise ValueError(f"quarantine rows: unknown columns {unknown}, missing columns {missing}")
        if replace_asset is not None and not rows.empty and (rows["asset"] != replace_asset).any():
            raise ValueError(f"quarantine rows must all belong to asset {replace_asset!r} when replacing it")
        frame = T.prepare_quarantine_rows(rows)
        self.ensure_schema()
        cols = list(T.QUARANTINE_COLUMNS)
        with self._transaction() as con:
            view = self._register(con, frame)
            if replace_asset is not None:
                con.execute(
                    f"DELETE FROM {T.QUARANTINE_TABLE} WHERE asset = ? AND partition_day >= ? "
                    f"AND partition_day < ? AND quarantine_id NOT IN (SELECT quarantine_id FROM {view})",
                    [replace_asset, _bound_for("DATE", start), _bound_for("DATE", end)],
                )
            if frame.empty:
                return 0
            kept = ("quarantine_id", "first_seen_at")
            updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in kept)
            sql = (
                f"INSERT INTO {T.QUARANTINE_TABLE} ({', '.join(cols)}) "
                f"{self._select_cast(view, T.QUARANTINE_COLUMNS, cols)} "
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
    ) -> pd.DataFrame:
        """Rows with start <= partition_column < end (None = unbounded), in the written dtypes."""
        T.check_identifier(table, "table")
        T.check_identifier(partition_column, "partition column")
        window = _window_text(start, end)
        if not self.path.exists():
            raise NothingMaterializedError.for_table(self.path, table, window)
        with self.connect(read_only=True) as con:
            schema = self._columns(con, table)
            if not schema:
                raise NothingMaterializedError.for_table(self.path, table, window)
            wanted = columns or list(schema)
            bad = [c for c in [*wanted, partition_column] if c not in schema]
            if bad:
                raise ValueError(f"{table} has no column(s) {bad}; columns: {list(schema)}")
            conds, args = [], []
            ptype = schema[partition_column][0]
            if start is not None:
                conds.append(f"{T.quote(partition_column)} >= ?")
                args.append(_bound_for(ptype, start))
            if end is not None:
                conds.append(f"{T.quote(partition_column)} < ?")
                args.append(_bound_for(ptype, end))
            if where_sql:
                conds.append(f"({where_sql})")
                args.extend(params or [])
            where = f" WHERE {' AND '.join(conds)}" if conds else ""
            sql = f"SELECT {', '.join(T.quote(c) for c in wanted)} FROM {T.quote(table)}{where}"
            return _fetch(con, sql, args, {c: h for c, (_, h) in schema.items() if h})

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
            return _fetch(con, sql, None, {c: h for c, (_, h) in schema.items() if h})

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Read-only ad-hoc SQL; a missing table surfaces as NothingMaterializedError.

        Integer/boolean result columns get their written pandas dtype back when their name has one
        unambiguous remembered dtype across the warehouse (e.g. pr_number -> Int64).
        """
        with self.connect(read_only=True) as con:
            try:
                return _fetch(con, sql, params, self._hints_by_name(con))
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
        terms, params = [], []
        for kind in kinds:
            if isinstance(kind, tuple):
                terms.append("(provider = ? AND event_type = ?)")
                params.extend(kind)
            else:
                terms.append("event_type = ?")
                params.append(kind)
        rows = self.read_window(
            T.BRONZE_TABLE, "event_day", start, end, where_sql=" OR ".join(terms) or "FALSE",
            params=params, columns=BRONZE_READ_COLUMNS,
        )
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
