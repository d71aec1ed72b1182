"""The aggregate reads of the `Storage` interface: result shapes and the pandas halves (pure).

Each aggregate read (storage/backend.py) is computed where the data lives when the backend can (DuckDB
SQL, a MongoDB query); what is left to pandas, and the exact columns and dtypes every backend returns,
are here so both backends give identical frames for the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from devmetrics_assets.storage.frames import TimeLike, naive_utc

QUARANTINE_GROUP_COLUMNS = ["layer", "asset", "reason", "rows", "days", "first_seen_at", "last_seen_at"]
QUARANTINE_SAMPLE_COLUMNS = ["layer", "asset", "record_ref", "partition_day", "reason", "record",
                             "last_seen_at"]
QUARANTINE_REF_COLUMNS = ["layer", "asset", "record_ref", "partition_day"]
SHIPPING_COLUMNS = ["deployment_id", "is_production", "final_status", "commit_shas"]


def day_bound(value: TimeLike) -> datetime:
    """A window bound on a day column: the UTC calendar day it falls on, as a naive midnight."""
    return naive_utc(value).replace(hour=0, minute=0, second=0, microsecond=0)


def daily_counts_frame(days: pd.Series, counts: pd.Series) -> pd.DataFrame:
    """(received_day datetime64[us], deliveries int64), ordered by day."""
    frame = pd.DataFrame({
        "received_day": pd.to_datetime(pd.Series(days, dtype="object")).astype("datetime64[us]"),
        "deliveries": pd.Series(counts).astype("int64").to_numpy(),
    })
    return frame.sort_values("received_day", ignore_index=True)


def ilike_regex(pattern: str) -> str:
    """An SQL ILIKE pattern (`%` any run, `_` one character) as an anchored regular expression; use it
    case-insensitively with `.` matching newlines, as ILIKE does."""
    wild = {"%": ".*", "_": "."}
    return "^" + "".join(wild.get(ch) or re.escape(ch) for ch in pattern) + "$"


def reason_pattern(reason_like: str) -> str:
    """`reason_like` as an ILIKE pattern: a case-insensitive substring, or a pattern when it has `%`."""
    return reason_like if "%" in reason_like else f"%{reason_like}%"


def quarantine_groups_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows (layer, asset, reason, partition_day, first_seen_at, last_seen_at) counted per
    (layer, asset, reason): rows, distinct partition days, first and last seen; most rows first."""
    if rows.empty:
        return empty_quarantine_groups()
    groups = (
        rows.groupby(["layer", "asset", "reason"], dropna=False)
        .agg(rows=("layer", "size"), days=("partition_day", "nunique"),
             first_seen_at=("first_seen_at", "min"), last_seen_at=("last_seen_at", "max"))
        .reset_index()
    )
    return normalise_quarantine_groups(groups)


def normalise_quarantine_groups(groups: pd.DataFrame) -> pd.DataFrame:
    """Group frame in fixed dtypes and order (rows desc, then layer, asset, reason)."""
    frame = groups[QUARANTINE_GROUP_COLUMNS].astype({"rows": "int64", "days": "int64"})
    for column in ("first_seen_at", "last_seen_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    return frame.sort_values(["rows", "layer", "asset", "reason"], ascending=[False, True, True, True],
                             ignore_index=True)


def empty_quarantine_groups() -> pd.DataFrame:
    return normalise_quarantine_groups(pd.DataFrame({c: pd.Series(dtype="object")
                                                     for c in QUARANTINE_GROUP_COLUMNS}))


def latest_quarantine_frame(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The `limit` most recently seen quarantine rows (ties: by quarantine_id), sample columns only."""
    if rows.empty:
        return pd.DataFrame(columns=QUARANTINE_SAMPLE_COLUMNS)
    ordered = rows.sort_values(["last_seen_at", "quarantine_id"], ascending=[False, True], kind="stable")
    return ordered.head(max(0, int(limit)))[QUARANTINE_SAMPLE_COLUMNS].reset_index(drop=True)


def shipped_any(deployments: pd.DataFrame, shas: Sequence[str]) -> pd.DataFrame:
    """The successful production deployments among `deployments` whose comma-separated commit_shas
    include any of `shas`."""
    if deployments.empty:
        return empty_shipping()
    wanted = set(shas)
    ok = deployments["is_production"].fillna(False).astype(bool) & (deployments["final_status"] == "success")
    ships = deployments["commit_shas"].map(
        lambda text: isinstance(text, str) and not wanted.isdisjoint(text.split(",")))
    return deployments.loc[ok & ships, SHIPPING_COLUMNS].reset_index(drop=True)


def empty_shipping() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SHIPPING_COLUMNS})
