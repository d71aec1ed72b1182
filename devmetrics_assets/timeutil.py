"""One conversion of a single time value to an aware UTC datetime, for every module that needs one.

Window bounds (Dagster's aware datetimes, the command line's strings and dates), cursor times and
timestamps read back from stores all pass through `as_utc`. No Dagster import (the receiver and the
watcher use it); pandas only to recognise its missing values and Timestamps. Columns of times are parsed
vectorised by `transforms.payloads.to_utc`.
"""

from __future__ import annotations

import math
import numbers
from datetime import UTC, date, datetime, time
from typing import Any, overload

import numpy as np
import pandas as pd

# Epoch values at or above this magnitude are milliseconds (seconds reach it only in the year 5138);
# the same rule as the vectorised parser, so a scalar and a column read the same number alike.
EPOCH_MS_FROM = 1e11


@overload
def as_utc(value: datetime | date) -> datetime: ...
@overload
def as_utc(value: Any) -> datetime | None: ...
def as_utc(value: Any) -> datetime | None:
    """`value` as an aware UTC datetime.

    - a datetime (or pandas Timestamp): naive means UTC, aware is converted; a date is its UTC midnight;
    - text: ISO-8601 (`2025-03-04T10:15:02Z`, `+02:00` offsets, a bare date), surrounding space ignored;
    - a number (int, float or numpy number, not bool): epoch seconds, or milliseconds from 1e11 on;
    - None, NaN, NaT, pandas NA and blank text: None (a missing time, for the caller to judge).
    Anything else (unparseable text, other types) raises ValueError: a garbage time is never guessed.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.endswith("z"):  # fromisoformat reads 'Z' and offsets, not a lower-case 'z'
            text = text[:-1] + "Z"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from None
        return as_utc(parsed)
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):  # NaN, NaT, pd.NA
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, datetime):
        if isinstance(value, pd.Timestamp):  # a plain datetime for every caller (nanoseconds dropped)
            value = value.to_pydatetime(warn=False)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        seconds = value / 1000 if abs(value) >= EPOCH_MS_FROM else value
        if not math.isfinite(seconds):
            raise ValueError(f"not an epoch time: {value!r}")
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch time out of range: {value!r}") from None
    raise ValueError(f"not a time: {value!r} ({type(value).__name__})")
