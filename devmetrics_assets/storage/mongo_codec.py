"""DataFrame <-> MongoDB documents with the DuckDB warehouse's column types and read-back dtypes.

The MongoDB backend must give back exactly what the DuckDB backend gives back for the same
writes, so it records the same column types (the DuckDB type names decided by `tables.py`) and the
same pandas dtype hints, and decodes through `tables.normalise_frame`.

BSON dates have millisecond precision while the contract keeps microseconds, so a timestamp is
stored as a real BSON date (queryable, indexable) plus, when not zero, its sub-millisecond
remainder in `_us.<column>`. Day columns are midnight BSON dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.storage import tables as T

MICROS_FIELD = "_us"
TZ_TYPES = ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")
INT_TYPES = ("BIGINT", "UBIGINT", "INTEGER")
_OBJECT_INFERENCE = {
    "string": "VARCHAR", "empty": "VARCHAR", "boolean": "BOOLEAN", "integer": "BIGINT",
    "floating": "DOUBLE", "mixed-integer-float": "DOUBLE", "decimal": "DOUBLE",
    "datetime64": "TIMESTAMP", "date": "DATE", "timedelta": "INTERVAL", "timedelta64": "INTERVAL",
}


def infer_type(name: str, series: pd.Series) -> str:
    """The DuckDB type the DuckDB backend would give this column (see tables.duckdb_type_for)."""
    inferred = None
    if series.dtype == object:
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind == "datetime":
            aware = any(getattr(v, "tzinfo", None) is not None for v in series.dropna().head(50))
            inferred = "TIMESTAMP WITH TIME ZONE" if aware else "TIMESTAMP"
        else:
            inferred = _OBJECT_INFERENCE.get(kind)
    return T.duckdb_type_for(name, series, inferred)


def plan_schema(
    df: pd.DataFrame, types: dict[str, str], hints: dict[str, str], *, replace: bool = False
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(types, hints, new columns) after writing df: new columns added, nullable writers upgrade hints.

    Mirrors warehouse_schema.sync_schema so both backends remember the same thing.
    """
    types, hints = ({}, {}) if replace else (dict(types), dict(hints))
    new = []
    for c in df.columns:
        dtype = str(df[c].dtype)
        if c not in types:
            types[c] = infer_type(c, df[c])
            hints[c] = dtype
            new.append(c)
        elif T.upgrades_hint(hints.get(c), dtype):
            hints[c] = dtype
    return types, hints, new


def utc_naive(series: pd.Series) -> pd.Series:
    """Any time-like column as naive UTC datetime64[us] (naive values are taken as UTC)."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        s = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        s = series
    else:
        s = pd.to_datetime(series, utc=True).dt.tz_localize(None)
    return s.astype("datetime64[us]")


def _with_nulls(values: list, mask: np.ndarray) -> list:
    for i in np.flatnonzero(mask):
        values[i] = None
    return values


def encode_column(series: pd.Series, typ: str) -> tuple[list[Any], list[int] | None]:
    """BSON-ready values for one column (None for missing) and, for timestamps, µs remainders."""
    typ = typ.upper()
    if typ in (*TZ_TYPES, "TIMESTAMP", "DATE"):
        s = utc_naive(series)
        micros = None
        if typ == "DATE":
            s = s.dt.normalize()
        else:  # BSON keeps milliseconds: store them, and the rest of the microseconds beside
            rem = (s.dt.microsecond % 1000).fillna(0).astype("int64").to_numpy()
            if rem.any():
                micros = rem.tolist()
                s = s.dt.floor("ms")
        return s.to_numpy().astype(object).tolist(), micros
    mask = series.isna().to_numpy()
    if typ in INT_TYPES:
        s = series if pd.api.types.is_integer_dtype(series.dtype) else pd.to_numeric(series)
        if pd.api.types.is_float_dtype(s.dtype) and not (s.dropna() % 1 == 0).all():
            raise ValueError(f"column {series.name!r}: non-integer values for a {typ} column")
        return _with_nulls(s.astype("Int64").tolist(), mask), None
    if typ == "BOOLEAN":
        return _with_nulls(series.astype("boolean").tolist(), mask), None
    if typ == "DOUBLE":
        return _with_nulls(pd.to_numeric(series).astype("float64").tolist(), mask), None
    if typ == "INTERVAL":
        us = pd.to_timedelta(series) // pd.Timedelta(microseconds=1)
        return _with_nulls(us.astype("Int64").tolist(), mask), None
    if typ == "VARCHAR":
        values = series.tolist()
        if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            values = [v if isinstance(v, str) else str(v) for v in values]
        return _with_nulls(values, mask), None
    return _with_nulls(series.tolist(), mask), None


def encode_frame(
    df: pd.DataFrame,
    types: dict[str, str],
    *,
    extra: dict[str, Any] | None = None,
    meta_fields: Sequence[str] = (),
    meta_extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One document per row; `meta_fields` (time-series metaField) are nested under `meta`."""
    columns = list(df.columns)
    encoded = {c: encode_column(df[c], types[c]) for c in columns}
    n = len(df)
    docs: list[dict[str, Any]] = []
    meta_set = set(meta_fields)
    for i in range(n):
        doc: dict[str, Any] = dict(extra or {})
        meta: dict[str, Any] = {}
        for c in columns:
            values, micros = encoded[c]
            (meta if c in meta_set else doc)[c] = values[i]
            if micros is not None and micros[i]:
                doc.setdefault(MICROS_FIELD, {})[c] = micros[i]
        if meta_fields or meta_extra:
            doc["meta"] = {**meta, **(meta_extra or {})}
        docs.append(doc)
    return docs


def _decode_times(values: list, micros: list[int], typ: str) -> pd.Series:
    s = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[us]")
    if any(micros):
        s = s + pd.to_timedelta(np.asarray(micros, dtype="int64"), unit="us")
    return s.dt.tz_localize("UTC") if typ in TZ_TYPES else s


def decode_documents(
    docs: Sequence[dict[str, Any]],
    columns: Sequence[str],
    types: dict[str, str],
    hints: dict[str, str] | None = None,
    meta_fields: Sequence[str] = (),
) -> pd.DataFrame:
    """A frame in the dtypes the DuckDB backend returns for the same columns and hints."""
    hints = hints or {}
    meta_set = set(meta_fields)
    data: dict[str, pd.Series] = {}
    for c in columns:
        typ = types[c].upper()
        if c in meta_set:
            values = [(d.get("meta") or {}).get(c) for d in docs]
        else:
            values = [d.get(c) for d in docs]
        if typ in (*TZ_TYPES, "TIMESTAMP", "DATE"):
            micros = [(d.get(MICROS_FIELD) or {}).get(c, 0) for d in docs]
            data[c] = _decode_times(values, micros, typ)
        elif typ == "DOUBLE":
            data[c] = pd.Series(values, dtype="float64")
        elif typ in (*INT_TYPES, "BOOLEAN") and c not in hints:
            nullable = any(v is None for v in values)
            if typ == "BOOLEAN":
                dtype = "boolean" if nullable else "bool"
            else:
                dtype = "Int64" if nullable else "int64"
            data[c] = pd.Series(values, dtype=object).astype(dtype)
        elif typ == "INTERVAL":
            data[c] = pd.to_timedelta(pd.Series(values, dtype="Int64"), unit="us")
        else:
            data[c] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(data, columns=list(columns), index=pd.RangeIndex(len(docs)))
    return T.normalise_frame(frame, [types[c] for c in columns], hints)
