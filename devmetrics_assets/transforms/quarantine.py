"""Quarantine rows (contracts §4): what a layer could not use, kept with the reason and the raw record.

Rules:
- quarantine_id = sha256 hex of "layer|asset|source|record_ref|reason", so re-running a partition gives
  the same ids and storage can keep first_seen_at while replacing the rest.
- first_seen_at / last_seen_at are "now" in UTC; storage keeps the earlier first_seen_at on replace.
- Silver's record_ref is the delivery_id and partition_day the Bronze event_day of the delivery.
- One row per (quarantine_id): the same bad delivery reported twice with the same reason is one row.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from devmetrics_assets.transforms.payloads import DAY_DTYPE, UTC_DTYPE, as_day

QUARANTINE_COLUMNS = [
    "quarantine_id",
    "layer",
    "asset",
    "source",
    "record_ref",
    "partition_day",
    "reason",
    "record",
    "first_seen_at",
    "last_seen_at",
]
REJECT_COLUMNS = ["source", "record_ref", "partition_day", "reason", "record"]


def quarantine_id(layer: str, asset: str, source: str, record_ref: str, reason: str) -> str:
    key = f"{layer}|{asset}|{source}|{record_ref}|{reason}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": pd.Series([], dtype="str"),
            "record_ref": pd.Series([], dtype="str"),
            "partition_day": pd.Series([], dtype=DAY_DTYPE),
            "reason": pd.Series([], dtype="str"),
            "record": pd.Series([], dtype="str"),
        }
    )


def bronze_rejects(deliveries: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Reject rows for the Bronze deliveries whose reason is not null (reasons aligned on the index).

    Uses Bronze columns source, delivery_id, event_day and body.
    """
    mask = reasons.notna().to_numpy()
    if not mask.any():
        return empty_rejects()
    rows = deliveries.loc[mask]
    return pd.DataFrame(
        {
            "source": rows["source"].astype("str").to_numpy(),
            "record_ref": rows["delivery_id"].astype("str").to_numpy(),
            "partition_day": as_day(rows["event_day"]).to_numpy(),
            "reason": reasons[mask].astype("str").to_numpy(),
            "record": rows["body"].to_numpy(),
        }
    )


def in_window(days: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """Boolean mask of naive days in [start, end)."""
    return (days >= start) & (days < end)


def quarantine_rows(
    layer: str,
    asset: str,
    rejects: pd.DataFrame,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Contract quarantine rows from rejects (columns source, record_ref, partition_day, reason, record)."""
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    n = len(rejects)
    sources = rejects["source"].astype("str").tolist() if n else []
    refs = rejects["record_ref"].astype("str").tolist() if n else []
    reasons = rejects["reason"].astype("str").tolist() if n else []
    ids = [quarantine_id(layer, asset, s, r, why) for s, r, why in zip(sources, refs, reasons, strict=True)]
    record = rejects["record"] if n else pd.Series([], dtype="str")
    out = pd.DataFrame(
        {
            "quarantine_id": pd.Series(ids, dtype="str"),
            "layer": pd.Series([layer] * n, dtype="str"),
            "asset": pd.Series([asset] * n, dtype="str"),
            "source": pd.Series(sources, dtype="str"),
            "record_ref": pd.Series(refs, dtype="str"),
            "partition_day": (
                as_day(rejects["partition_day"]).reset_index(drop=True)
                if n
                else pd.Series([], dtype=DAY_DTYPE)
            ),
            "reason": pd.Series(reasons, dtype="str"),
            "record": pd.Series(record.tolist(), dtype="str"),
            "first_seen_at": pd.Series([now] * n, dtype=UTC_DTYPE),
            "last_seen_at": pd.Series([now] * n, dtype=UTC_DTYPE),
        }
    )
    return out.drop_duplicates("quarantine_id", keep="first").reset_index(drop=True)[QUARANTINE_COLUMNS]
