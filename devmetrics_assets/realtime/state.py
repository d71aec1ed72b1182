"""The watcher's durable memory: where it is in the stream, what it handled, what is deployed.

One local SQLite file (default `$DEVMETRICS_HOME/realtime/watcher.sqlite3`). Everything one event
changes (the cursor — a MongoDB resume token or the last DuckDB load_seq —, the handled-delivery
ledger, the open real-time problems, the main-line index and the deployed sha per repo) is committed
in ONE SQLite transaction after the event's notifications were handed to the notifier. A crash
before that commit replays the event on restart (nothing lost); the replay is recognised by the
ledger, and a notification handed over just before the crash is de-duplicated by the notifier's
durable problem key (alerting/notifier.py), so nothing is notified twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS handled (
    source TEXT NOT NULL, delivery_id TEXT NOT NULL, handled_at REAL NOT NULL,
    PRIMARY KEY (source, delivery_id));
CREATE INDEX IF NOT EXISTS handled_at ON handled (handled_at);
CREATE TABLE IF NOT EXISTS problems (
    problem_key TEXT PRIMARY KEY, kind TEXT NOT NULL, repo TEXT, is_open INTEGER NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS problems_repo ON problems (repo, kind, is_open);
CREATE TABLE IF NOT EXISTS mainline (
    repo TEXT NOT NULL, sha TEXT NOT NULL, pushed_at INTEGER NOT NULL, pos INTEGER NOT NULL,
    PRIMARY KEY (repo, sha));
CREATE TABLE IF NOT EXISTS deployed (
    repo TEXT PRIMARY KEY, sha TEXT NOT NULL, pushed_at INTEGER NOT NULL, pos INTEGER NOT NULL,
    deployment_id TEXT NOT NULL);
"""
LEDGER_RETENTION_SECONDS = 14 * 86400.0

Ordinal = tuple[int, int]  # (repository.pushed_at epoch seconds, position in the push)


class WatcherState:
    """A single-writer SQLite store; call `commit()` after each event (or `rollback()`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = sqlite3.connect(self.path, isolation_level="DEFERRED", check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.executescript(SCHEMA)
        self.con.commit()

    def close(self) -> None:
        self.con.close()

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()

    # ---- cursor --------------------------------------------------------------------------------
    def cursor(self, name: str) -> Any | None:
        row = self.con.execute("SELECT value FROM cursor WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_cursor(self, name: str, value: Any) -> None:
        self.con.execute("INSERT OR REPLACE INTO cursor (name, value, updated_at) VALUES (?, ?, ?)",
                         (name, json.dumps(value), time.time()))

    # ---- ledger of handled deliveries ----------------------------------------------------------
    def handled(self, source: str, delivery_id: str) -> bool:
        return self.con.execute("SELECT 1 FROM handled WHERE source = ? AND delivery_id = ?",
                                (source, delivery_id)).fetchone() is not None

    def mark_handled(self, source: str, delivery_id: str) -> None:
        self.con.execute("INSERT OR IGNORE INTO handled VALUES (?, ?, ?)", (source, delivery_id, time.time()))

    def prune(self, older_than_seconds: float = LEDGER_RETENTION_SECONDS) -> None:
        self.con.execute("DELETE FROM handled WHERE handled_at < ?", (time.time() - older_than_seconds,))
        self.con.commit()

    # ---- real-time problems (so a recovery can clear them) -------------------------------------
    def problem_open(self, key: str) -> bool:
        row = self.con.execute("SELECT is_open FROM problems WHERE problem_key = ?", (key,)).fetchone()
        return bool(row and row[0])

    def set_problem(self, key: str, kind: str, repo: str | None, is_open: bool) -> None:
        self.con.execute("INSERT OR REPLACE INTO problems VALUES (?, ?, ?, ?, ?)",
                         (key, kind, repo, int(is_open), time.time()))

    def open_problems(self, repo: str, kind: str) -> list[str]:
        rows = self.con.execute(
            "SELECT problem_key FROM problems WHERE repo = ? AND kind = ? AND is_open = 1", (repo, kind)
        ).fetchall()
        return [r[0] for r in rows]

    # ---- main line and deployed sha (rollback detection) ---------------------------------------
    def add_mainline(self, repo: str, pushed_at: int, shas: Iterable[str]) -> None:
        """Record a default-branch push; a commit keeps its FIRST main-line position (contracts §5)."""
        self.con.executemany("INSERT OR IGNORE INTO mainline VALUES (?, ?, ?, ?)",
                             [(repo, sha.lower(), pushed_at, pos) for pos, sha in enumerate(shas)])

    def ordinal(self, repo: str, sha: str) -> tuple[str, Ordinal] | None:
        """(full sha, ordinal) of a main-line commit; a short sha counts when its prefix is unique."""
        sha = sha.lower()
        row = self.con.execute("SELECT sha, pushed_at, pos FROM mainline WHERE repo = ? AND sha = ?",
                               (repo, sha)).fetchone()
        if row is None and 7 <= len(sha) < 40:
            rows = self.con.execute(
                "SELECT sha, pushed_at, pos FROM mainline WHERE repo = ? AND sha >= ? AND sha < ? LIMIT 2",
                (repo, sha, sha + "g")).fetchall()
            row = rows[0] if len(rows) == 1 else None
        return None if row is None else (row[0], (row[1], row[2]))

    def deployed(self, repo: str) -> tuple[str, Ordinal, str] | None:
        row = self.con.execute("SELECT sha, pushed_at, pos, deployment_id FROM deployed WHERE repo = ?",
                               (repo,)).fetchone()
        return None if row is None else (row[0], (row[1], row[2]), row[3])

    def set_deployed(self, repo: str, sha: str, ordinal: Ordinal, deployment_id: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO deployed VALUES (?, ?, ?, ?, ?)",
                         (repo, sha, ordinal[0], ordinal[1], deployment_id))
