"""Table definitions of the warehouse (docs/contracts.md §4), shared by the DuckDB and MongoDB backends.

Bronze and quarantine have fixed DDL because several writers share them and their keys matter
(Bronze is append-only and unique per (source, delivery_id); quarantine rows are keyed by a stable
hash); the checks a writer's rows must pass before anything is written live here too, so both
backends refuse the same rows with the same message. Silver and Gold tables are created from the
first DataFrame written to them, so the pure transforms own their columns. The type rules live here
too: pandas -> DuckDB when a table is created (day columns by name -> DATE, tz-aware -> TIMESTAMPTZ)
and DuckDB -> pandas on reads (contract dtypes; integers/booleans as written, remembered in column
comments; the MongoDB backend records the same type names and hints).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pandas as pd

from devmetrics_assets.storage.frames import TimeLike

BRONZE_TABLE = "bronze_deliveries"
QUARANTINE_TABLE = "quarantine"

# Column -> DuckDB type, in contract order.
BRONZE_COLUMNS: dict[str, str] = {
    "source": "VARCHAR",
    "provider": "VARCHAR",
    "delivery_id": "VARCHAR",
    "event_type": "VARCHAR",
    "received_at": "TIMESTAMPTZ",
    "received_day": "DATE",
    "event_at": "TIMESTAMPTZ",
    "event_day": "DATE",
    "headers": "VARCHAR",
    "body": "VARCHAR",
    "payload_sha256": "VARCHAR",
    "signature_status": "VARCHAR",
    "load_batch_id": "VARCHAR",
    "loaded_at": "TIMESTAMPTZ",
    "load_seq": "BIGINT",
}
# Columns a Bronze writer must supply; received_day/event_day/loaded_at/load_seq are derived when absent.
BRONZE_REQUIRED = (
    "source",
    "provider",
    "delivery_id",
    "event_type",
    "received_at",
    "headers",
    "body",
    "payload_sha256",
    "signature_status",
    "load_batch_id",
)
SIGNATURE_STATUSES = ("verified", "unchecked")
# Readers add where a row was read (`file:<name>:<line>`), so the Bronze asset can trace a row back to
# its line (conflicts, quarantined forgeries); Bronze writers accept the column and never store it.
RECORD_REF = "record_ref"

BRONZE_DDL = f"""
CREATE TABLE IF NOT EXISTS {BRONZE_TABLE} (
    source VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,
    delivery_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    received_day DATE NOT NULL,
    event_at TIMESTAMPTZ,
    event_day DATE NOT NULL,
    headers VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    payload_sha256 VARCHAR NOT NULL,
    signature_status VARCHAR NOT NULL CHECK (signature_status IN ('verified', 'unchecked')),
    load_batch_id VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    load_seq BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
)
"""

QUARANTINE_COLUMNS: dict[str, str] = {
    "quarantine_id": "VARCHAR",
    "layer": "VARCHAR",
    "asset": "VARCHAR",
    "source": "VARCHAR",
    "record_ref": "VARCHAR",
    "partition_day": "DATE",
    "reason": "VARCHAR",
    "record": "VARCHAR",
    "first_seen_at": "TIMESTAMPTZ",
    "last_seen_at": "TIMESTAMPTZ",
}
QUARANTINE_REQUIRED = ("layer", "asset", "reason")
LAYERS = ("bronze", "silver", "gold")

QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    quarantine_id VARCHAR PRIMARY KEY,
    layer VARCHAR NOT NULL CHECK (layer IN ('bronze', 'silver', 'gold')),
    asset VARCHAR NOT NULL,
    source VARCHAR,
    record_ref VARCHAR,
    partition_day DATE,
    reason VARCHAR NOT NULL,
    record VARCHAR,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
)
"""

# Durable pending work: the event days each Bronze load batch changed, written in the same transaction as
# the deliveries (docs/trust.md "Pending work"). A row is cleared once Silver and every Gold grain of its
# day were materialised after it was recorded, so a load that dies half-way is finished by the next one.
PENDING_TABLE = "pending_event_days"
PENDING_COLUMNS: dict[str, str] = {
    "source": "VARCHAR",
    "load_batch_id": "VARCHAR",
    "event_day": "DATE",
    "recorded_at": "TIMESTAMPTZ",
}
PENDING_DDL = f"""
CREATE TABLE IF NOT EXISTS {PENDING_TABLE} (
    source VARCHAR NOT NULL,
    load_batch_id VARCHAR NOT NULL,
    event_day DATE NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (load_batch_id, source, event_day)
)
"""

# How far each landing day file is loaded (sources/landing_offsets.py): bytes and lines up to the end of
# the last whole line read, written with the deliveries read from it, so an event-driven Bronze load reads
# only what arrived since (docs/trust.md "Event-driven Bronze").
OFFSETS_TABLE = "landing_offsets"
OFFSETS_DDL = f"""
CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (
    source VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    byte_offset BIGINT NOT NULL,
    line_number BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, file)
)
"""
# (source, file name, byte offset, line number): one landing offset as append_bronze takes it.
LandingOffset = tuple[str, str, int, int]

FIXED_TABLES = (BRONZE_TABLE, QUARANTINE_TABLE, PENDING_TABLE, OFFSETS_TABLE)
SCHEMA_DDL = (BRONZE_DDL, QUARANTINE_DDL, PENDING_DDL, OFFSETS_DDL)
# Quarantine reasons that mean "a signature was checked and failed": a source with such rows, or with
# verified Bronze rows, has been verified before and is never silently loaded unverified again.
SIGNATURE_REASON_PREFIXES = ("signature mismatch", "unsigned", "forged")

# Silver/Gold columns remember the pandas dtype they were written with in a DuckDB column comment,
# so integers and booleans come back nullable or not as written (DuckDB alone decides by the data).
DTYPE_COMMENT_PREFIX = "pandas_dtype:"
INT_NULLABLE = {
    "int8": "Int8",
    "int16": "Int16",
    "int32": "Int32",
    "int64": "Int64",
    "uint8": "UInt8",
    "uint16": "UInt16",
    "uint32": "UInt32",
    "uint64": "UInt64",
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Table/column names are interpolated into SQL, so only plain identifiers are accepted."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits and underscores")
    return name


def check_writable(table: str, partition_column: str | None = None) -> None:
    """A Silver/Gold write names plain identifiers and not Bronze or quarantine (they have their own
    writers, with keys and derivations a generic table write would break)."""
    check_identifier(table, "table")
    if partition_column is not None:
        check_identifier(partition_column, "partition column")
    if table in FIXED_TABLES:
        raise ValueError(f"{table} has its own writer (append_bronze / upsert_quarantine)")


def quote(name: str) -> str:
    return '"' + check_identifier(name) + '"'


def is_day_column(name: str) -> bool:
    """Day columns (contracts: event_day, received_day, partition_day, period_start) are DATE."""
    return name.endswith("_day") or name == "period_start"


def quarantine_id(layer: str, asset: str, source: str | None, record_ref: str | None, reason: str) -> str:
    """Stable id so the same problem found again updates its row instead of adding one."""
    parts = [layer, asset, source or "", record_ref or "", reason]
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def duckdb_type_for(name: str, series: pd.Series, inferred: str | None = None) -> str:
    """DuckDB column type for a DataFrame column.

    Decided from the pandas dtype (not from the values) so an empty frame creates the same table
    as a full one; `inferred` (DuckDB's own guess from its pandas scan) is used only for object
    columns holding non-strings.
    """
    dtype = series.dtype
    day = is_day_column(name)
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        unsigned_wide = pd.api.types.is_unsigned_integer_dtype(dtype) and dtype.itemsize >= 8
        return "UBIGINT" if unsigned_wide else "BIGINT"
    if pd.api.types.is_float_dtype(dtype):
        return "DOUBLE"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "DATE" if day else "TIMESTAMPTZ"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "DATE" if day else "TIMESTAMP"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "INTERVAL"
    if day:
        return "DATE"  # text or date objects in a day column: stored as DATE (bad text fails the write)
    if isinstance(dtype, pd.StringDtype | pd.CategoricalDtype):
        return "VARCHAR"
    if inferred and inferred.upper() not in ('"NULL"', "NULL"):
        return "TIMESTAMP" if inferred.upper().startswith("TIMESTAMP_") else inferred
    return "VARCHAR"


NULLABLE_DTYPES = {*INT_NULLABLE.values(), "boolean"}
_RESTORABLE = {*INT_NULLABLE, *NULLABLE_DTYPES, "bool"}


def upgrades_hint(remembered: str | None, dtype: str) -> bool:
    """Whether writing a column of `dtype` upgrades its remembered dtype: a nullable writer of a column
    remembered as a non-nullable integer or bool makes it read back nullable from then on."""
    return remembered in ("bool", *INT_NULLABLE) and dtype in NULLABLE_DTYPES


def normalise_frame(df: pd.DataFrame, types: list[str], hints: dict[str, str] | None = None) -> pd.DataFrame:
    """Give query results the contract dtypes: TIMESTAMPTZ -> datetime64[us, UTC], DATE -> naive
    datetime64[us], VARCHAR -> str, and integers/booleans back in the pandas dtype they were written
    with (kept in column comments), nullable when NULLs are present."""
    hints = hints or {}
    for i, (name, typ) in enumerate(zip(df.columns, types, strict=True)):
        col = df.iloc[:, i]
        typ = typ.upper()
        new = col
        if typ in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            new = pd.to_datetime(col, utc=True).astype("datetime64[us, UTC]")
        elif typ in ("DATE", "TIMESTAMP"):
            new = pd.to_datetime(col).astype("datetime64[us]")
        elif typ == "VARCHAR":
            new = col.astype("str")
        elif hints.get(name) in _RESTORABLE and typ in ("BIGINT", "INTEGER", "UBIGINT", "BOOLEAN"):
            hint = hints[name]
            if col.isna().any():
                hint = "boolean" if hint == "bool" else INT_NULLABLE.get(hint, hint)
            try:
                new = col.astype(hint)
            except (TypeError, ValueError):
                new = col
        if new is not col:
            df.isetitem(i, new)
    return df


def check_bronze_rows(rows: pd.DataFrame) -> None:
    """Bronze rows name only Bronze columns, supply the required ones, and carry JSON as text."""
    unknown = sorted(set(rows.columns) - set(BRONZE_COLUMNS) - {RECORD_REF})
    missing = [c for c in BRONZE_REQUIRED if c not in rows.columns]
    if unknown or missing:
        raise ValueError(f"bronze rows: unknown columns {unknown}, missing columns {missing}")
    for c in ("headers", "body"):
        if pd.api.types.infer_dtype(rows[c], skipna=True) not in ("string", "empty"):
            raise ValueError(f"bronze rows: {c} must be JSON text (str), not parsed objects")


def check_quarantine_rows(
    rows: pd.DataFrame, replace_asset: str | None, start: TimeLike | None, end: TimeLike | None
) -> None:
    """Quarantine rows name only quarantine columns (the required ones unless empty); replacing an
    asset's window takes the asset and both bounds, and every row must belong to that asset."""
    if (replace_asset is None) != (start is None) or (start is None) != (end is None):
        raise ValueError("replace_asset, start and end go together (all or none)")
    unknown = sorted(set(rows.columns) - set(QUARANTINE_COLUMNS))
    missing = [c for c in QUARANTINE_REQUIRED if c not in rows.columns]
    if unknown or (missing and not rows.empty):
        raise ValueError(f"quarantine rows: unknown columns {unknown}, missing columns {missing}")
    if replace_asset is not None and not rows.empty and (rows["asset"] != replace_asset).any():
        raise ValueError(f"quarantine rows must all belong to asset {replace_asset!r} when replacing it")


def bronze_select_sql(present: set[str]) -> str:
    """SELECT list casting a Bronze frame to the table's types; derives the days and loaded_at.

    received_day defaults to the UTC day of received_at, event_day to the day of event_at and then
    to received_day (contracts §3: no anchor -> received day), loaded_at to now.
    """

    def col(name: str) -> str:
        typ = BRONZE_COLUMNS[name]
        return f"CAST({quote(name)} AS {typ})" if name in present else f"CAST(NULL AS {typ})"

    received_day = f"coalesce({col('received_day')}, CAST({col('received_at')} AS DATE))"
    exprs = {c: col(c) for c in BRONZE_COLUMNS if c != "load_seq"}
    exprs["received_day"] = received_day
    exprs["event_day"] = f"coalesce({col('event_day')}, CAST({col('event_at')} AS DATE), {received_day})"
    exprs["loaded_at"] = f"coalesce({col('loaded_at')}, current_timestamp)"
    return ", ".join(f"{e} AS {c}" for c, e in exprs.items())


def prepare_quarantine_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Fill ids and timestamps (first_seen_at defaults to last_seen_at, which defaults to now), one
    row per quarantine_id (earliest first seen, latest last seen)."""
    frame = rows.copy()
    for c in QUARANTINE_COLUMNS:
        if c not in frame.columns:
            frame[c] = None
    now = pd.Timestamp.now(tz="UTC")
    if frame.empty:
        return frame[list(QUARANTINE_COLUMNS)]

    def text(v: Any) -> str | None:
        return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)

    ids = [
        text(qid) or quarantine_id(layer, asset, text(src), text(ref), reason)
        for qid, layer, asset, src, ref, reason in zip(
            frame["quarantine_id"],
            frame["layer"],
            frame["asset"],
            frame["source"],
            frame["record_ref"],
            frame["reason"],
            strict=True,
        )
    ]
    frame["quarantine_id"] = ids
    last = pd.to_datetime(frame["last_seen_at"], utc=True).astype("datetime64[us, UTC]").fillna(now)
    first = pd.to_datetime(frame["first_seen_at"], utc=True).astype("datetime64[us, UTC]")
    frame["first_seen_at"] = first.fillna(last)
    frame["last_seen_at"] = last
    first = frame.groupby("quarantine_id")["first_seen_at"].transform("min")
    last = frame.groupby("quarantine_id")["last_seen_at"].transform("max")
    frame = frame.assign(first_seen_at=first, last_seen_at=last)
    return frame.drop_duplicates("quarantine_id", keep="last")[list(QUARANTINE_COLUMNS)]
