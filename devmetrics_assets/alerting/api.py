"""The one interface every alert producer uses: build a `Notification`, hand it to a `Notifier`.

Producers: the trust-layer sensor (check failures, failed materialisations, freshness, recoveries)
and the real-time watcher (failed production deployment, incident opened/reopened, rollback).
The notifier routes by group, owner and severity, de-duplicates by `problem_key` until a recovery
clears it, and delivers through a durable outbox with retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

SEVERITIES = ("info", "warning", "error", "critical")


@dataclass(frozen=True)
class Notification:
    # Stable identity of the problem: one notification per problem until it clears.
    problem_key: str
    # check_failed | materialization_failed | freshness_failed | recovered | deployment_failed | ...
    kind: str
    severity: str  # one of SEVERITIES
    title: str
    body: str
    occurred_at: datetime
    asset_key: str | None = None
    group: str | None = None
    owners: tuple[str, ...] = ()
    recovery: bool = False  # True when this clears an earlier problem with the same problem_key
    details: dict[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    def notify(self, notification: Notification) -> bool:
        """Queue the notification durably; False when de-duplicated (already open / nothing to clear)."""
        ...
