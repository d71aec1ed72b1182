"""Notebook loaders: Gold metrics, Silver entities and quarantine as DataFrames.

No Dagster import (a notebook pays only for pandas + the driver). Reads go through the `Storage`
interface of the configured warehouse (`storage/selection.py`: MongoDB when MONGODB_URI is set, else
the DuckDB file); with DuckDB each call opens one short-lived read-only connection, because DuckDB
lets a single process write the file and a notebook holding a connection would block the pipeline.

    from devmetrics_assets import load_gold
    load_gold("week", "2025-01-01", "2025-03-31", scope_type="team")
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd

from devmetrics_assets.config import Settings
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.selection import open_storage
from devmetrics_assets.storage.tables import LAYERS, QUARANTINE_TABLE
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse

GOLD_TABLES = {"day": "gold_dora_daily", "week": "gold_dora_weekly", "month": "gold_dora_monthly"}
SILVER_ENTITIES = ("changes", "deployments", "incidents")
SCOPE_TYPES = ("repo", "team", "service", "org")

DayLike = str | date | datetime | pd.Timestamp | None

__all__ = ["NothingMaterializedError", "load_gold", "load_quarantine", "load_silver"]


def _warehouse(warehouse: str | Path | Storage | None) -> Storage:
    """A path means that DuckDB file; a Storage is used as is; None means the configured warehouse."""
    if isinstance(warehouse, str | Path):
        return Warehouse(warehouse)
    if warehouse is not None:
        return warehouse
    return open_storage(Settings.from_env())


def _day(value: DayLike, name: str) -> pd.Timestamp | None:
    """A UTC calendar day as a naive midnight; aware datetimes are converted to UTC first."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date (use 'YYYY-MM-DD', a date or a datetime)") from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _inclusive_window(start: DayLike, end: DayLike) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo, hi = _day(start, "start"), _day(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise ValueError(f"end {hi.date()} is before start {lo.date()}")
    return lo, None if hi is None else hi + pd.Timedelta(days=1)


def _choice(value: str, valid: tuple[str, ...] | list[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def _read(
    warehouse: Storage,
    table: str,
    day_column: str,
    start: DayLike,
    end: DayLike,
    filters: dict[str, str | None],
    sort: list[str],
) -> pd.DataFrame:
    lo, hi = _inclusive_window(start, end)
    active = {c: v for c, v in filters.items() if v is not None}
    if isinstance(warehouse, Warehouse):  # DuckDB: filter in SQL
        where = " AND ".join(f'"{c}" = ?' for c in active)
        df = warehouse.read_window(table, day_column, lo, hi, where_sql=where, params=list(active.values()))
    else:  # any other Storage: the interface has no filter, so filter the window in pandas
        df = warehouse.read_window(table, day_column, lo, hi)
        for column, value in active.items():
            df = df[df[column] == value]
    return df.sort_values(sort, kind="stable", ignore_index=True)


def load_gold(
    grain: str = "day",
    start: DayLike = None,
    end: DayLike = None,
    *,
    scope_type: str | None = "org",
    scope: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """DORA metrics per period: rows with period_start in [start, end] (inclusive days).

    grain day|week|month; scope_type repo|team|service|org (None = all), scope one name of it.
    A weekly/monthly row is included when its period STARTS in the range.
    """
    table = GOLD_TABLES[_choice(grain, list(GOLD_TABLES), "grain")]
    if scope_type is not None:
        _choice(scope_type, SCOPE_TYPES, "scope_type")
    return _read(
        _warehouse(warehouse),
        table,
        "period_start",
        start,
        end,
        {"scope_type": scope_type, "scope": scope},
        ["period_start", "scope_type", "scope"],
    )


def load_silver(
    entity: str,
    start: DayLike = None,
    end: DayLike = None,
    *,
    repo: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """Silver rows of entity changes|deployments|incidents, event_day in [start, end], optionally one repo."""
    table = f"silver_{_choice(entity, SILVER_ENTITIES, 'entity')}"
    return _read(_warehouse(warehouse), table, "event_day", start, end, {"repo": repo}, ["event_day", "repo"])


def load_quarantine(
    start: DayLike = None,
    end: DayLike = None,
    *,
    layer: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """Quarantined records with partition_day in [start, end], optionally one layer (bronze|silver|gold).

    Rows without a partition_day are returned only when neither start nor end is given.
    """
    if layer is not None:
        _choice(layer, LAYERS, "layer")
    return _read(
        _warehouse(warehouse),
        QUARANTINE_TABLE,
        "partition_day",
        start,
        end,
        {"layer": layer},
        ["partition_day", "layer", "asset", "record_ref"],
    )
