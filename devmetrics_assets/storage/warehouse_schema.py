"""How the DuckDB warehouse creates, evolves and reads its Silver/Gold tables (used by warehouse.py).

Silver and Gold tables are created from the first DataFrame written to them and gain the columns
later frames add (schema evolution). DuckDB alone would decide by the data whether an integer or
boolean comes back nullable, so each column remembers the pandas dtype it was written with in its
column comment, and reads restore it. These helpers work on an open connection inside the caller's
transaction; the connection handling, retries and the write/read API stay in `Warehouse`.
"""

from __future__ import annotations

import uuid
import warnings

import duckdb
import pandas as pd
import pyarrow as pa

from devmetrics_assets.storage import tables as T


def fetch(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None, hints: dict[str, str] | None = None
) -> pd.DataFrame:
    """Run a query and return its rows in the contract dtypes (tables.normalise_frame)."""
    con.execute(sql, params or [])  # one bind: a shard's read carries ~100k load_seq values
    types = [str(d[1]) for d in con.description]
    names = [d[0] for d in con.description]
    texts = [i for i, t in enumerate(types) if t.upper() == "VARCHAR"]
    if texts and len(set(names)) == len(names) and all(t.upper() in _ROUND_TRIP for t in types):
        df = _fetch_text_by_arrow(con, texts)
    else:
        df = _df(con)
    return T.normalise_frame(df, types, hints)


# Types that come back from Arrow into DuckDB as themselves, so DuckDB's pandas conversion of them is
# the one `con.df()` does (the non-text columns of a result with text go that way, see below).
_ROUND_TRIP = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
               "UTINYINT", "DOUBLE", "FLOAT", "BOOLEAN", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}
_TEXT = pd.StringDtype("pyarrow", na_value=float("nan"))  # what con.df() gives VARCHAR columns


def _df(con: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation) -> pd.DataFrame:
    with warnings.catch_warnings():
        # duckdb 2.0's pandas conversion uses a keyword pandas 3.1 deprecates; not ours to fix.
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        return con.df()


def _fetch_text_by_arrow(con: duckdb.DuckDBPyConnection, texts: list[int]) -> pd.DataFrame:
    """The executed result as `con.df()` gives it, text columns taken from Arrow without copying.

    con.df() turns every VARCHAR value into a Python str and back into an Arrow-backed string array
    (about 1 s for a year of push bodies); the Arrow result holds the same strings already. The other
    columns still go through DuckDB's own pandas conversion (scanned back from the Arrow table).
    """
    with warnings.catch_warnings():
        # DuckDB copies the rows once more than con.sql(...).to_arrow_table() would; binding the query
        # twice (to learn its types first) costs more than that copy when it carries a shard's load_seqs.
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        table = con.to_arrow_table()
    # No rows: DuckDB's own conversion, as before (Arrow's empty text columns have no chunks, which
    # pandas cannot join on, and con.df() gives them another dtype).
    if table.num_rows == 0 or not all(pa.types.is_string(table.schema.field(i).type) or
                                      pa.types.is_large_string(table.schema.field(i).type) for i in texts):
        return _df(con.from_arrow(table))
    text = set(texts)
    rest = [i for i in range(table.num_columns) if i not in text]
    df = _df(con.from_arrow(table.select(rest))) if rest else pd.DataFrame(index=range(table.num_rows))
    for i in texts:
        col = table.column(i)
        name = table.schema.field(i).name
        df.insert(i, name, pd.Series(pd.array(col, dtype=_TEXT), name=name, copy=False))
    return df


def columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[str, str | None]]:
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


def hints_by_name(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """column name -> remembered dtype, for names with one unambiguous dtype across the warehouse."""
    rows = con.execute(
        "SELECT column_name, min(comment), count(DISTINCT comment) FROM duckdb_columns() "
        "WHERE schema_name = 'main' AND starts_with(comment, ?) GROUP BY column_name",
        [T.DTYPE_COMMENT_PREFIX],
    ).fetchall()
    return {name: hint[len(T.DTYPE_COMMENT_PREFIX) :] for name, hint, n in rows if n == 1}


def register(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> str:
    """Expose df to SQL as a uniquely named view (DuckDB's pandas scan, no row-by-row copy)."""
    view = "_df_" + uuid.uuid4().hex[:12]
    con.register(view, df)
    return view


def sync_schema(
    con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame, view: str, replace: bool = False
) -> dict[str, str]:
    """Create the table from df's dtypes, or add df's new columns (schema evolution); returns types."""
    existing = {} if replace else columns(con, table)
    inferred = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()}
    wanted = {c: T.duckdb_type_for(c, df[c], inferred.get(c)) for c in df.columns}
    if not existing:
        cols = ", ".join(f"{T.quote(c)} {t}" for c, t in wanted.items())
        verb = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE"
        con.execute(f"{verb} {T.quote(table)} ({cols})")
        for c in df.columns:
            set_hint(con, table, c, df[c])
        return wanted
    types = {c: t for c, (t, _) in existing.items()}
    for c in df.columns:
        if c not in existing:
            con.execute(f"ALTER TABLE {T.quote(table)} ADD COLUMN {T.quote(c)} {wanted[c]}")
            set_hint(con, table, c, df[c])
            types[c] = wanted[c]
        elif T.upgrades_hint(existing[c][1], str(df[c].dtype)):
            set_hint(con, table, c, df[c])  # a nullable writer upgrades the remembered dtype
    return types


def set_hint(con: duckdb.DuckDBPyConnection, table: str, column: str, series: pd.Series) -> None:
    """Remember the column's pandas dtype in its comment."""
    hint = T.DTYPE_COMMENT_PREFIX + str(series.dtype)
    con.execute(f"COMMENT ON COLUMN {T.quote(table)}.{T.quote(column)} IS '{hint.replace(chr(39), '')}'")


def select_cast(view: str, types: dict[str, str], cols: list[str]) -> str:
    """SELECT of the view's columns cast to the table's types (for INSERT ... BY NAME)."""
    exprs = ", ".join(f"CAST({T.quote(c)} AS {types[c]}) AS {T.quote(c)}" for c in cols)
    return f"SELECT {exprs} FROM {view}"
