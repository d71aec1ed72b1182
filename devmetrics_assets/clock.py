"""The one place the product reads the wall clock, so every "now" can be pinned.

Checks (freshness, which days are complete), time bounds on incoming deliveries, the CLI's reports and
the real-time feed all ask `utc_now()`. Setting `DEVMETRICS_NOW` (ISO-8601; a time without an offset is
UTC, a bare date is its midnight UTC) pins it for a whole process tree: tests, a reproducible demo, or
re-judging a past day. Timestamps that record when something happened (Dagster events, outbox rows,
`loaded_at`) are bookkeeping, not judgement, and keep the real time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

NOW_ENV = "DEVMETRICS_NOW"


class ClockConfigError(ValueError):
    """DEVMETRICS_NOW is set but is not a timestamp."""


def parse_utc(value: str) -> datetime:
    """An ISO-8601 text as an aware UTC datetime; no offset means UTC ('Z' accepted)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def utc_now() -> datetime:
    """Now, aware UTC: `DEVMETRICS_NOW` when set, else the real clock."""
    pinned = os.environ.get(NOW_ENV)
    if not pinned:
        return datetime.now(UTC)
    try:
        return parse_utc(pinned)
    except ValueError:
        raise ClockConfigError(
            f"{NOW_ENV}={pinned!r} is not an ISO-8601 time (e.g. 2025-03-04T12:00:00Z); unset it to use "
            "the real clock"
        ) from None
