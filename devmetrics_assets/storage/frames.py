"""Partition windows as both storage backends see them (DuckDB `Warehouse`, `MongoWarehouse`).

A window is [start, end) given in any time-like form (Dagster hands aware datetimes, the CLI and tests
strings or dates). Both backends must turn it into the same bounds, refuse the same bad frames before
writing anything, and name the window the same way in their errors, so the layers and the IO manager
behave identically whichever backend is configured. That shared logic lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd

TimeLike = datetime | date | str | pd.Timestamp


def utc(value: TimeLike) -> pd.Timestamp:
    """A time-like value as an aware UTC timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def naive_utc(value: TimeLike | None) -> datetime | None:
    """A window bound as a naive UTC datetime: how DATE/TIMESTAMP columns and BSON dates compare."""
    return None if value is None else utc(value).tz_localize(None).to_pydatetime()


def bound_for(column_type: str, value: TimeLike | None) -> datetime | None:
    """A window bound as a Python datetime matching the column (aware for TIMESTAMPTZ, else naive UTC)."""
    if value is None:
        return None
    if "TIME ZONE" in column_type.upper() or column_type.upper() == "TIMESTAMPTZ":
        return utc(value).to_pydatetime()
    return naive_utc(value)


def window_text(start: TimeLike | None, end: TimeLike | None) -> str:
    """The window as errors print it, `[start, end)` with unbounded sides as -inf / +inf."""
    lo = "-inf" if start is None else utc(start).isoformat()
    hi = "+inf" if end is None else utc(end).isoformat()
    return f"[{lo}, {hi})"


def check_partition_frame(
    table: str, df: pd.DataFrame, partition_column: str, stored: Callable[[], bool]
) -> None:
    """A partition write needs its partition column in df; a frame without columns can only clear the
    window of a table that already exists (`stored` is asked only in that case, it may cost a read)."""
    if len(df.columns) == 0:
        if not stored():
            raise ValueError(f"cannot create {table} from a frame without columns")
    elif partition_column not in df.columns:
        raise ValueError(f"partition column {partition_column!r} missing from frame for {table}")


def check_rows_in_window(df: pd.DataFrame, column: str, start: TimeLike, end: TimeLike) -> None:
    """A transform bug must not overwrite other partitions: every row must lie in [start, end)."""
    if df.empty:
        return
    values = df[column]
    if not (pd.api.types.is_datetime64_any_dtype(values.dtype)):
        values = pd.to_datetime(values)
    lo, hi = utc(start), utc(end)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC")
    else:
        lo, hi = lo.tz_localize(None), hi.tz_localize(None)
    bad = values.isna() | (values < lo) | (values >= hi)
    if bad.any():
        examples = sorted({str(v) for v in values[bad].head(5)})
        raise ValueError(
            f"{int(bad.sum())} row(s) have {column} outside the window {window_text(start, end)} "
            f"(e.g. {examples}); nothing was written"
        )
