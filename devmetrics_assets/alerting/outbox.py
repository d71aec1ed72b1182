"""The durable outbox: a notification is stored before any attempt to send it, and stays until sent.

A SQLite file under DEVMETRICS_HOME (not the DuckDB warehouse: DuckDB allows one writing process,
and the Dagster daemon, the UI's runs and the real-time watcher all notify at the same time). SQLite
in WAL mode with a busy timeout lets those processes enqueue and deliver concurrently; every write is
one short transaction and a connection is never held between calls.

Delivery (`deliver`) takes messages that are due, oldest first, claims each with a lease (so two
processes never send the same message at once), sends it, and records the outcome. A failure is
retried with exponential backoff and full jitter (wait uniform(0, min(max, base * 2**(n-1))) after
the n-th failure, or the receiver's Retry-After if longer; storage/retry.py, shared with the
warehouse's lock retries). A call makes a bounded number of attempts, and stops trying a channel for
the rest of the call once it failed, so one dead channel neither blocks the others nor stalls the
caller. Nothing is ever dropped: a message stays pending
until it is delivered; delivered rows are pruned after the retention period.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devmetrics_assets.alerting.channels import Channel, DeliveryError
from devmetrics_assets.storage import transaction as txn
from devmetrics_assets.storage.retry import full_jitter

DB_FILE = "alerting.sqlite3"
CANDIDATES_PER_CALL = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    problem_key TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_until REAL,
    lease_owner TEXT,
    last_error TEXT,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS outbox_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived autocommit connection (WAL, busy timeout); use `transaction` to write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        yield con
    finally:
        con.close()


def transaction(con: sqlite3.Connection) -> AbstractContextManager[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so read-then-write decisions are atomic."""
    return txn.transaction(con, begin="BEGIN IMMEDIATE")


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    channel: str
    problem_key: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxMessage:
        return cls(id=row["id"], channel=row["channel"], problem_key=row["problem_key"],
                   payload=json.loads(row["payload"]), status=row["status"], attempts=row["attempts"],
                   next_attempt_at=row["next_attempt_at"], last_error=row["last_error"],
                   created_at=row["created_at"], delivered_at=row["delivered_at"])


@dataclass
class DeliveryReport:
    delivered: list[tuple[int, str]] = field(default_factory=list)  # (message id, channel)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (message id, channel, error)
    # Per channel tried in this call: None when it worked, else (error, permanent).
    outcomes: dict[str, tuple[str, bool] | None] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.delivered) + len(self.failed)


class Outbox:
    """Queue and deliver messages; cheap to construct, holds no connection."""

    def __init__(
        self,
        path: str | Path,
        *,
        backoff_base_seconds: float = 5.0,
        backoff_max_seconds: float = 900.0,
        lease_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.path = Path(path)
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = uuid.uuid4().hex
        with connect(self.path) as con:
            con.executescript(SCHEMA)
            # Ids restart if the file is deleted; the file's own salt keeps message ids unique anyway.
            con.execute("INSERT OR IGNORE INTO outbox_meta VALUES ('salt', ?)", (uuid.uuid4().hex[:8],))
            self.salt = con.execute("SELECT v FROM outbox_meta WHERE k = 'salt'").fetchone()[0]

    # ---- writing -------------------------------------------------------------------------------
    def enqueue(self, channel: str, payload: Mapping[str, Any], problem_key: str | None = None,
                con: sqlite3.Connection | None = None) -> int:
        """Store one message for one channel, due now; inside `con`'s transaction when given.

        The message id is written into the payload (`message_id`) so receivers can de-duplicate.
        """
        if con is None:
            with connect(self.path) as own, transaction(own):
                return self.enqueue(channel, payload, problem_key, own)
        now = self.clock()
        cur = con.execute(
            "INSERT INTO outbox (channel, problem_key, payload, created_at, next_attempt_at) "
            "VALUES (?, ?, '{}', ?, ?)", (channel, problem_key, now, now))
        message_id = int(cur.lastrowid)
        body = {**payload, "message_id": f"{message_id}-{self.salt}"}
        con.execute("UPDATE outbox SET payload = ? WHERE id = ?",
                    (json.dumps(body, ensure_ascii=False, default=str), message_id))
        return message_id

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempts`-th consecutive failure: full jitter, capped."""
        delay = full_jitter(attempts, self.backoff_base_seconds, self.backoff_max_seconds, self.rng)
        return max(delay, min(retry_after, self.backoff_max_seconds)) if retry_after else delay

    # ---- delivering ----------------------------------------------------------------------------
    def _claim(self, con: sqlite3.Connection, message_id: int, now: float) -> OutboxMessage | None:
        with transaction(con):
            row = con.execute(
                "UPDATE outbox SET lease_until = ?, lease_owner = ? WHERE id = ? AND status = 'pending' "
                "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?) RETURNING *",
                (now + self.lease_seconds, self.owner, message_id, now, now)).fetchone()
        return OutboxMessage.from_row(row) if row else None

    def deliver(
        self,
        channels: Mapping[str, Channel],
        *,
        max_attempts: int = 20,
        only_channels: set[str] | None = None,
        skip_channels: set[str] | None = None,
    ) -> DeliveryReport:
        """Send due messages, oldest first, at most `max_attempts` sends; see the module docstring."""
        report = DeliveryReport()
        with connect(self.path) as con:
            now = self.clock()
            candidates = con.execute(
                "SELECT id, channel FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? "
                "AND (lease_until IS NULL OR lease_until < ?) ORDER BY id LIMIT ?",
                (now, now, CANDIDATES_PER_CALL)).fetchall()
            failed_channels: set[str] = set(skip_channels or ())
            for message_id, channel_name in candidates:
                if report.attempts >= max_attempts:
                    break
                if channel_name in failed_channels or (only_channels and channel_name not in only_channels):
                    continue
                message = self._claim(con, message_id, self.clock())
                if message is None:
                    continue  # another process took it, or it is no longer due
                error = self._send(channels.get(channel_name), channel_name, message)
                if error is None:
                    con.execute("UPDATE outbox SET status = 'delivered', delivered_at = ?, "
                                "lease_until = NULL, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                                (self.clock(), message_id))
                    report.delivered.append((message_id, channel_name))
                    report.outcomes[channel_name] = None
                    continue
                attempts = message.attempts + 1
                wait = self.backoff(attempts, error.retry_after)
                con.execute("UPDATE outbox SET attempts = ?, next_attempt_at = ?, lease_until = NULL, "
                            "last_error = ? WHERE id = ?",
                            (attempts, self.clock() + wait, str(error)[:1000], message_id))
                report.failed.append((message_id, channel_name, str(error)))
                report.outcomes[channel_name] = (str(error), error.permanent)
                failed_channels.add(channel_name)
        return report

    @staticmethod
    def _send(channel: Channel | None, name: str, message: OutboxMessage) -> DeliveryError | None:
        if channel is None:
            return DeliveryError(f"channel {name!r} is not configured in alerting.yaml (message kept)",
                                 permanent=True)
        try:
            channel.send(message.payload)
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # a channel bug must not lose the message or stop the others
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    # ---- reading and housekeeping --------------------------------------------------------------
    def messages(self, status: str | None = None, channel: str | None = None) -> list[OutboxMessage]:
        conds, args = [], []
        if status:
            conds.append("status = ?")
            args.append(status)
        if channel:
            conds.append("channel = ?")
            args.append(channel)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        with connect(self.path) as con:
            rows = con.execute(f"SELECT * FROM outbox{where} ORDER BY id", args).fetchall()
        return [OutboxMessage.from_row(r) for r in rows]

    def pending_count(self, channel: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM outbox WHERE status = 'pending'", []
        if channel:
            sql, args = sql + " AND channel = ?", [channel]
        with connect(self.path) as con:
            return int(con.execute(sql, args).fetchone()[0])

    def prune(self, older_than_seconds: float) -> int:
        """Forget delivered messages older than the retention period (pending ones are never pruned)."""
        with connect(self.path) as con, transaction(con):
            cur = con.execute("DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?",
                              (self.clock() - older_than_seconds,))
            return cur.rowcount
