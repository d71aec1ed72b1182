"""OutboxNotifier: one notification per problem until it clears, one recovery, delivered durably.

Problem state lives in the outbox's SQLite file (table `problems`), so every producer (the Dagster
sensors in the daemon, the real-time watcher in its own process, the CLI) shares one memory of what
is already open. Deciding and queueing happen in one IMMEDIATE transaction: two producers reporting
the same problem at the same moment queue it once.

- A problem not open yet: opened, routed (alerting.yaml), queued for each of its channels.
- Already open: nothing queued (returns False), unless the severity got worse (warning -> error),
  which is queued again as an escalation.
- A recovery for an open problem: cleared, queued to the channels the problem went to (so the people
  told about it hear it is over). A recovery with nothing open returns False.
- A channel that fails `failures_before_alert` times in a row: the fallback channel (the local
  console file by default) gets a `channel_failing` notification, once, and a recovery when the
  channel delivers again. Its queued messages are kept and go out when it is back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.alerting.channels import Channel, notification_to_message, severity_rank
from devmetrics_assets.alerting.outbox import DB_FILE, DeliveryReport, Outbox, connect, transaction
from devmetrics_assets.alerting.routing import AlertingConfig, load_config

log = logging.getLogger(__name__)
CHANNEL_FAILING = "channel_failing"
PRUNE_EVERY_SECONDS = 3600.0

PROBLEM_SCHEMA = """
CREATE TABLE IF NOT EXISTS problems (
    problem_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('open', 'cleared')),
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    channels TEXT NOT NULL,
    opened_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    cleared_at REAL,
    notification TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_health (
    channel TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    first_failure_at REAL,
    last_error TEXT,
    last_success_at REAL
);
"""


def channel_problem_key(channel: str) -> str:
    return f"alerting:channel_failing:{channel}"


class OutboxNotifier:
    """The Notifier every producer uses (see alerting/api.py). Cheap to build; holds no connection."""

    def __init__(
        self,
        config: AlertingConfig,
        home: Path,
        *,
        channels: Mapping[str, Channel] | None = None,
        db_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        outbox: Outbox | None = None,
    ) -> None:
        self.config = config
        self.home = Path(home)
        self.channels = dict(channels) if channels is not None else config.build_channels(self.home)
        self.clock = clock
        d = config.delivery
        self.outbox = outbox or Outbox(
            db_path or self.home / DB_FILE, backoff_base_seconds=d.backoff_base_seconds,
            backoff_max_seconds=d.backoff_max_seconds, lease_seconds=max(60.0, 4 * d.timeout_seconds),
            clock=clock)
        self.path = self.outbox.path
        self._last_prune = 0.0
        with connect(self.path) as con:
            con.executescript(PROBLEM_SCHEMA)

    # ---- the Notifier protocol -------------------------------------------------------------------
    def notify(self, notification: Notification) -> bool:
        """Queue durably (and try to send at once); False when de-duplicated or nothing to clear."""
        queued = self._record(notification)
        if queued and self.config.delivery.deliver_on_notify:
            # Channels already failing are left to the outbox's backoff: a producer (a sensor tick, the
            # watcher) must not wait for a dead server's timeout on every notification.
            self.deliver(skip_failing=True)
        return queued

    def _record(self, n: Notification, channels: tuple[str, ...] | None = None) -> bool:
        now = self.clock()
        with connect(self.path) as con, transaction(con):
            row = con.execute("SELECT * FROM problems WHERE problem_key = ?", (n.problem_key,)).fetchone()
            is_open = row is not None and row["status"] == "open"
            if n.recovery:
                if not is_open:
                    return False
                targets = tuple(json.loads(row["channels"]))
                opened = datetime.fromtimestamp(row["opened_at"], UTC)
                n = dataclasses.replace(n, details={
                    **n.details, "problem_opened_at": opened.isoformat(),
                    "problem_duration_seconds": round(now - row["opened_at"], 1),
                    "problem_title": row["title"]})
                con.execute("UPDATE problems SET status = 'cleared', cleared_at = ?, last_seen_at = ? "
                            "WHERE problem_key = ?", (now, now, n.problem_key))
            elif is_open:
                if severity_rank(n.severity) <= severity_rank(row["severity"]):
                    con.execute("UPDATE problems SET last_seen_at = ?, occurrences = occurrences + 1 "
                                "WHERE problem_key = ?", (now, n.problem_key))
                    return False
                routed = channels or self.config.route(n)
                targets = tuple(dict.fromkeys([*json.loads(row["channels"]), *routed]))
                n = dataclasses.replace(n, details={**n.details, "escalated_from": row["severity"]})
                con.execute("UPDATE problems SET severity = ?, channels = ?, last_seen_at = ?, title = ?, "
                            "notification = ?, occurrences = occurrences + 1 WHERE problem_key = ?",
                            (n.severity, json.dumps(targets), now, n.title, self._json(n), n.problem_key))
            else:
                targets = channels or self.config.route(n)
                con.execute(
                    "INSERT OR REPLACE INTO problems (problem_key, status, kind, severity, title, channels, "
                    "opened_at, last_seen_at, occurrences, cleared_at, notification) "
                    "VALUES (?, 'open', ?, ?, ?, ?, ?, ?, 1, NULL, ?)",
                    (n.problem_key, n.kind, n.severity, n.title, json.dumps(targets), now, now,
                     self._json(n)))
            message = notification_to_message(n)
            for channel in targets:
                self.outbox.enqueue(channel, message, n.problem_key, con=con)
        return True

    @staticmethod
    def _json(n: Notification) -> str:
        return json.dumps(notification_to_message(n), ensure_ascii=False, default=str)

    # ---- delivery and the notifier's own health -----------------------------------------------
    def deliver(self, max_attempts: int | None = None, *, skip_failing: bool = False) -> DeliveryReport:
        """Send what is due (bounded), then tell the fallback channel about channels that keep failing.

        `skip_failing` leaves channels whose last attempt failed to a later call."""
        report = self.outbox.deliver(self.channels,
                                     max_attempts=max_attempts or self.config.delivery.max_attempts_per_tick,
                                     skip_channels=self.failing_channels() if skip_failing else None)
        if self._record_health(report):
            extra = self.outbox.deliver(self.channels, max_attempts=5,
                                        only_channels={self.config.fallback_channel})
            report.delivered += extra.delivered
            report.failed += extra.failed
        if self.clock() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = self.clock()
            self.outbox.prune(self.config.delivery.retention_days * 86400.0)
        return report

    def _record_health(self, report: DeliveryReport) -> bool:
        """Update per-channel failure streaks; returns True when a meta-notification was queued."""
        queued = False
        fallback = self.config.fallback_channel
        for channel, outcome in report.outcomes.items():
            now = self.clock()
            with connect(self.path) as con, transaction(con):
                row = con.execute("SELECT * FROM channel_health WHERE channel = ?", (channel,)).fetchone()
                if outcome is None:
                    con.execute("INSERT OR REPLACE INTO channel_health (channel, consecutive_failures, "
                                "first_failure_at, last_error, last_success_at) VALUES (?, 0, NULL, NULL, ?)",
                                (channel, now))
                    streak, since, error, permanent = 0, None, None, False
                else:
                    error, permanent = outcome
                    streak = (row["consecutive_failures"] if row else 0) + 1
                    since = row["first_failure_at"] if row and row["first_failure_at"] else now
                    con.execute("INSERT OR REPLACE INTO channel_health (channel, consecutive_failures, "
                                "first_failure_at, last_error, last_success_at) VALUES (?, ?, ?, ?, ?)",
                                (channel, streak, since, error, row["last_success_at"] if row else None))
            if outcome is None:
                queued |= self._record(Notification(
                    problem_key=channel_problem_key(channel), kind=CHANNEL_FAILING, severity="info",
                    title=f"Notifications to channel '{channel}' are delivered again",
                    body=f"Channel '{channel}' accepted a notification; queued ones are being sent.",
                    occurred_at=datetime.fromtimestamp(now, UTC), group="alerting", recovery=True,
                ), channels=(fallback,))
                continue
            if streak < self.config.delivery.failures_before_alert:
                continue
            if channel == fallback:
                if streak == self.config.delivery.failures_before_alert:
                    print(f"devmetrics alerting: the fallback channel '{channel}' keeps failing: {error}",
                          file=sys.stderr)
                    log.error("fallback alerting channel %s keeps failing: %s", channel, error)
                continue
            pending = self.outbox.pending_count(channel)
            hint = (" This looks like a configuration problem (URL, address or credentials)."
                    if permanent else "")
            queued |= self._record(Notification(
                problem_key=channel_problem_key(channel), kind=CHANNEL_FAILING, severity="error",
                title=f"Notifications to channel '{channel}' keep failing",
                body=(f"{streak} delivery attempts in a row failed since "
                      f"{datetime.fromtimestamp(since, UTC).isoformat(timespec='seconds')}. "
                      f"Last error: {error}."
                      f"{hint} {pending} notification(s) are queued for it and will be delivered when it "
                      "works again."),
                occurred_at=datetime.fromtimestamp(now, UTC), group="alerting",
                details={"channel": channel, "consecutive_failures": streak, "pending": pending,
                         "last_error": error},
            ), channels=(fallback,))
        return queued

    # ---- reading state -------------------------------------------------------------------------
    def problems(self, status: str | None = "open") -> list[dict[str, Any]]:
        """Problems as dicts (open ones by default), oldest first."""
        sql, args = "SELECT * FROM problems", []
        if status:
            sql, args = sql + " WHERE status = ?", [status]
        with connect(self.path) as con:
            rows = con.execute(sql + " ORDER BY opened_at", args).fetchall()
        return [{**dict(r), "channels": json.loads(r["channels"])} for r in rows]

    def failing_channels(self) -> set[str]:
        """Channels whose latest delivery attempt failed."""
        with connect(self.path) as con:
            rows = con.execute("SELECT channel FROM channel_health WHERE consecutive_failures > 0").fetchall()
        return {r[0] for r in rows}

    def is_open(self, problem_key: str) -> bool:
        with connect(self.path) as con:
            row = con.execute("SELECT status FROM problems WHERE problem_key = ?", (problem_key,)).fetchone()
        return bool(row and row[0] == "open")


def build_notifier(config_path: str | Path | None, home: Path) -> OutboxNotifier:
    """The notifier for a DEVMETRICS_HOME: alerting.yaml at `config_path` (None or missing = defaults:
    everything to the local console channel), outbox and problem state in `home`/alerting.sqlite3."""
    home = Path(home)
    return OutboxNotifier(load_config(config_path, home), home)
