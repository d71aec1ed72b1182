"""What a provider pull produces: webhook-shaped deliveries and rejects, plus time helpers.

A `Delivery` is one API record turned into the body a webhook would have carried (contracts §2, §6),
with a deterministic delivery id `api:<provider>:<resource>:<id>:<version>` so pulling the same version
twice (cursor overlap, a re-run backfill) gives the same id and Bronze stores it once.
`version_at` is the provider's time of that version (a status's created_at, a PR's updated_at...): it
decides which pull window the delivery belongs to and becomes its `received_at` (see reader.py).

A record that cannot be turned into a delivery becomes a `Reject` with its reason and raw text; it is
quarantined, never dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

ZERO_SHA = "0" * 40


class PullDataError(ValueError):
    """The API answered with something that is not the documented resource (not a record problem)."""


@dataclass(frozen=True)
class Delivery:
    provider: str
    event_type: str
    delivery_id: str
    version_at: datetime
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reject:
    ref: str
    reason: str
    record: str


@dataclass
class PullResult:
    deliveries: list[Delivery] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def extend(self, other: PullResult) -> None:
        self.deliveries.extend(other.deliveries)
        self.rejects.extend(other.rejects)


def parse_time(value: Any) -> datetime | None:
    """Aware UTC datetime from the timestamp formats providers use, or None.

    ISO 8601 (`2025-03-04T10:15:02Z`, with offsets or fractions), GitLab's hook style
    (`2021-04-28 21:50:00 +0200`, `2017-09-15 16:52:00 UTC`).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = pd.Timestamp(text.replace(" UTC", "+00:00")).to_pydatetime()
            except (ValueError, TypeError):
                return None
    else:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    """`2025-03-04T10:15:02Z` (fractions kept when present): the form used in ids and query params."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_id(provider: str, resource: str, ident: Any, *version: Any) -> str:
    parts = [str(v) for v in version if v is not None and v != ""]
    return ":".join(["api", provider, resource, str(ident), *parts])


def record_text(item: Any) -> str:
    """The raw record as text for quarantine (JSON when possible, else repr)."""
    try:
        return json.dumps(item, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(item)


def reject_for(provider: str, resource: str, scope: str, item: Any, reason: str) -> Reject:
    """A reject whose reference is stable across pulls (hash of the record), so a bad record seen by
    two overlapping pulls is one quarantine row."""
    text = record_text(item)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Reject(ref=f"api:{provider}:{resource}:{scope}:sha256={digest}", reason=reason, record=text)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
