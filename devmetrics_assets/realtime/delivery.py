"""One stored Bronze delivery as the watcher sees it, from a Bronze row or a MongoDB document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Delivery:
    """One stored Bronze delivery, as the watcher sees it."""

    source: str
    delivery_id: str
    provider: str
    event_type: str
    received_at: datetime
    event_day: date
    body: dict[str, Any]
    load_seq: int | None = None
    loaded_at: datetime | None = None

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Delivery:
        """From a Bronze row or MongoDB document (times naive = UTC); a bad body becomes {}."""
        try:
            body = json.loads(rec.get("body") or "{}")
        except (TypeError, ValueError):
            body = {}
        return cls(
            source=str(rec.get("source")), delivery_id=str(rec.get("delivery_id")),
            provider=str(rec.get("provider") or "github"), event_type=str(rec.get("event_type")),
            received_at=utc(rec.get("received_at")) or datetime.now(UTC),
            event_day=(utc(rec.get("event_day")) or datetime.now(UTC)).date(),
            body=body if isinstance(body, dict) else {},
            load_seq=None if rec.get("load_seq") is None else int(rec["load_seq"]),
            loaded_at=utc(rec.get("loaded_at")),
        )


def utc(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, str | datetime | date) and pd.isna(value)):
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(ts):
        return None
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


