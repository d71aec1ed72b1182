"""Durable pull state: one SQLite file per source under its landing folder.

- `cursors`: per (source, resource) the high-watermark of the provider's updated time that has been
  pulled AND durably landed. The puller advances it only after the landing files are fsynced
  (reader.py); a failed pull never touches it. It only moves forward (max of old and new).
- `http_cache`: ETag + body per URL for conditional requests (bounded: oldest entries are pruned).

`plan_pull` decides what range a pull covers for a Bronze window [start, end):
- a live window (it contains `now`) resumes from `watermark - overlap` (the overlap re-reads records
  whose timestamps lagged behind: provider clock skew, eventual consistency); if the cursor is in an
  earlier day, the pull catches up from there (those records are late arrivals of this window);
  without a cursor it starts at `start`;
- a past window (a backfill) pulls exactly [start, end), whatever the cursor says.
- The cursor advances after a live pull, or after a past pull that starts at or before it (it is
  contiguous with what was pulled before); a backfill of an older window never moves it back, and a
  backfill ahead of the cursor does not skip the gap in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devmetrics_assets.sources.pull.records import iso, parse_time

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cursors (
        source TEXT NOT NULL, resource TEXT NOT NULL, watermark TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (source, resource))""",
    """CREATE TABLE IF NOT EXISTS http_cache (
        url TEXT PRIMARY KEY, etag TEXT NOT NULL, body BLOB NOT NULL, stored_at REAL NOT NULL)""",
)


class PullState:
    """Cursors and the ETag cache in one SQLite file (short-lived connections, one transaction each)."""

    def __init__(self, path: str | Path, *, cache_entries: int = 2000) -> None:
        self.path = Path(path)
        self.cache_entries = cache_entries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            for ddl in _SCHEMA:
                con.execute(ddl)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # ------------------------------------------------------------------ cursors
    def watermark(self, source: str, resource: str) -> datetime | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT watermark FROM cursors WHERE source = ? AND resource = ?", (source, resource)
            ).fetchone()
        return parse_time(row[0]) if row else None

    def cursors(self, source: str) -> dict[str, datetime]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT resource, watermark FROM cursors WHERE source = ? ORDER BY resource", (source,)
            ).fetchall()
        return {resource: parse_time(value) for resource, value in rows}

    def advance(self, source: str, resource: str, watermark: datetime) -> datetime:
        """Move the cursor to `watermark` unless it is already later; returns the stored value.

        Call only after the records up to `watermark` are durably written.
        """
        watermark = watermark.astimezone(UTC)
        now = iso(datetime.now(UTC))
        with self._connect() as con:
            row = con.execute(
                "SELECT watermark FROM cursors WHERE source = ? AND resource = ?", (source, resource)
            ).fetchone()
            current = parse_time(row[0]) if row else None
            if current is not None and current >= watermark:
                return current
            con.execute(
                "INSERT INTO cursors (source, resource, watermark, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source, resource) DO UPDATE SET watermark = excluded.watermark, "
                "updated_at = excluded.updated_at",
                (source, resource, iso(watermark), now),
            )
        return watermark

    # ------------------------------------------------------------------ ETag cache (http.ETagCache)
    def get(self, url: str) -> tuple[str, bytes] | None:
        with self._connect() as con:
            row = con.execute("SELECT etag, body FROM http_cache WHERE url = ?", (url,)).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def put(self, url: str, etag: str, body: bytes) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO http_cache (url, etag, body, stored_at) VALUES (?, ?, ?, julianday('now')) "
                "ON CONFLICT (url) DO UPDATE SET etag = excluded.etag, body = excluded.body, "
                "stored_at = excluded.stored_at",
                (url, etag, body),
            )
            con.execute(
                "DELETE FROM http_cache WHERE url NOT IN "
                "(SELECT url FROM http_cache ORDER BY stored_at DESC, rowid DESC LIMIT ?)",
                (self.cache_entries,),
            )


@dataclass(frozen=True)
class PullPlan:
    lower: datetime
    upper: datetime
    live: bool
    advances: bool


def plan_pull(
    start: datetime, end: datetime, watermark: datetime | None, overlap: timedelta, now: datetime
) -> PullPlan | None:
    """The [lower, upper) range of provider times to pull for Bronze window [start, end); None when the
    window is entirely in the future."""
    upper = min(end, now)
    if upper <= start:
        return None
    live = start <= now < end
    if live and watermark is not None:
        lower = watermark - overlap
        if lower >= upper:  # cursor at or ahead of now (clock skew): re-read the overlap only
            lower = max(start, upper - overlap)
        return PullPlan(lower, upper, live=True, advances=True)
    if live:
        return PullPlan(start, upper, live=True, advances=True)
    return PullPlan(start, upper, live=False, advances=watermark is not None and start <= watermark)


def next_watermark(plan: PullPlan, version_times: list[datetime]) -> datetime:
    """Everything before the result has been pulled: the newest version seen, or the lower bound when
    nothing was seen (so an empty pull still marks the range as read)."""
    return max(version_times) if version_times else plan.lower
