"""Durable landing of deliveries: append, fsync, then acknowledge — with group commit.

Each source has one writer. A request hands its envelope line to the writer and waits; the writer
takes EVERY line queued so far, appends them to `landing/<source>/<YYYY-MM-DD>.jsonl` (received day),
fsyncs the file once, records the delivery ids in the source's SQLite index and only then wakes the
waiting requests, which answer 2xx. While one batch is being fsynced the next one accumulates, so one
fsync covers many concurrent deliveries and throughput does not collapse to one request per fsync.

Redeliveries are answered "duplicate" by looking the delivery id up in `landing/<source>/_index.sqlite`
(the index is written after the data is durable: a crash in between can at worst store a redelivery
twice, which Bronze's (source, delivery_id) key absorbs). A failed write truncates the file back to
its previous length, so a torn line can never glue itself to the next delivery, and every request of
the batch gets an error (5xx), never an acknowledgement.

The file layout, the envelope and the durable append itself are sources/landing_files.py's (shared
with the API pullers); this module adds the group commit and the delivery-id index.

Refused requests go to `landing/_rejects/<YYYY-MM-DD>.jsonl` (without secrets: the caller passes
allow-listed headers only); they are never loaded. So do deliveries answered 503 (not stored) and bodies
cut off by a client that hung up (status 499) or did not finish in time (408): every request that was
not acknowledged leaves a trace there. The log is JSON lines written with ensure_ascii=False: split it on
"\n" only (str.splitlines() also splits on U+2028 and other characters kept raw inside strings).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devmetrics_assets.sources.landing_files import DayFileWriter, day_file, day_file_name

log = logging.getLogger("devmetrics.receiver")

INDEX_NAME = "_index.sqlite"
REJECTS_DIR = "_rejects"
MAX_BATCH = 4096


class StoreError(RuntimeError):
    """The delivery could not be made durable; the request must not be acknowledged."""


@dataclass(frozen=True)
class Pending:
    delivery_id: str
    received_at: datetime
    line: bytes


@dataclass
class Stats:
    stored: int = 0
    duplicates: int = 0
    batches: int = 0
    failed_batches: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Waiting:
    item: Pending
    future: asyncio.Future = field(repr=False)


class SourceLog:
    """The files of one source: day files appended with fsync (landing_files.DayFileWriter), and the
    delivery-id index.

    Used from one thread at a time (the source's writer thread), so it needs no lock.
    """

    def __init__(self, folder: Path, fsync: Callable[[int], None] = os.fsync) -> None:
        self.folder = folder
        # A crash mid-write can leave a torn last line: end it first, so the next (acknowledged)
        # delivery is not glued onto it; the torn line is quarantined by Bronze with its reason.
        self.files = DayFileWriter(folder, fsync, close_torn_line=True)
        self._index: sqlite3.Connection | None = None

    def index(self) -> sqlite3.Connection:
        if self._index is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.folder / INDEX_NAME)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS deliveries (delivery_id TEXT PRIMARY KEY, "
                         "received_at TEXT NOT NULL, file TEXT NOT NULL) WITHOUT ROWID")
            conn.commit()
            self._index = conn
        return self._index

    def known(self, ids: set[str]) -> set[str]:
        found: set[str] = set()
        listed = list(ids)
        for i in range(0, len(listed), 900):  # SQLite's bound-parameter limit
            chunk = listed[i:i + 900]
            marks = ",".join("?" * len(chunk))
            rows = self.index().execute(
                f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    def commit(self, items: list[Pending]) -> list[str]:
        """Store a batch; returns "stored" / "duplicate" per item. Raises on any failure to persist."""
        known = self.known({i.delivery_id for i in items})
        outcome: list[str] = []
        by_file: dict[str, list[bytes]] = {}
        fresh: list[tuple[str, str, str]] = []
        for item in items:
            if item.delivery_id in known:
                outcome.append("duplicate")
                continue
            known.add(item.delivery_id)
            name = day_file_name(item.received_at)
            by_file.setdefault(name, []).append(item.line)
            fresh.append((item.delivery_id, item.received_at.isoformat(), name))
            outcome.append("stored")
        for name, lines in by_file.items():
            self.files.append(name, b"".join(lines))
        if fresh:
            conn = self.index()
            conn.executemany("INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)", fresh)
            conn.commit()
        return outcome

    def close(self) -> None:
        self.files.close()
        if self._index is not None:
            self._index.close()
            self._index = None


class _Writer:
    """Group commit for one source: at most one batch in flight; everything queued meanwhile is the next."""

    def __init__(self, source_log: SourceLog, stats: Stats) -> None:
        self.log = source_log
        self.stats = stats
        self.queue: list[_Waiting] = []
        self.wakeup = asyncio.Event()
        # One thread per source: SQLite connections and file descriptors stay on it.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing")
        self.task: asyncio.Task | None = None
        self.busy = False

    async def put(self, item: Pending) -> str:
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            # First delivery, a new event loop (a test client's), or a writer that died: (re)start it.
            self.wakeup = asyncio.Event()
            self.task = loop.create_task(self._run())
        waiting = _Waiting(item, loop.create_future())
        self.queue.append(waiting)
        self.wakeup.set()
        return await waiting.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                self.busy = True
                try:
                    outcome = await loop.run_in_executor(
                        self.executor, self.log.commit, [w.item for w in batch])
                except Exception as exc:  # every failure must reach the waiting requests
                    self.stats.failed_batches += 1
                    log.error("landing write failed for %s: %s", self.log.folder, exc)
                    for waiting in batch:
                        if not waiting.future.done():
                            waiting.future.set_exception(StoreError(f"delivery not stored: {exc}"))
                    continue
                finally:
                    self.busy = False
                self.stats.batches += 1
                for waiting, result in zip(batch, outcome, strict=True):
                    if result == "stored":
                        self.stats.stored += 1
                    else:
                        self.stats.duplicates += 1
                    if not waiting.future.done():
                        waiting.future.set_result(result)

    async def close(self) -> None:
        if self.task is not None:
            while self.queue or self.busy:
                await asyncio.sleep(0.01)
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(self.executor, self.log.close)
        self.executor.shutdown(wait=True)


class LandingStore:
    """Landing files for every source plus the rejects log; one group-commit writer per source."""

    def __init__(self, folders: dict[str, Path], rejects_dir: Path,
                 fsync: Callable[[int], None] = os.fsync) -> None:
        self.folders = folders
        self.rejects_dir = rejects_dir
        self.fsync = fsync
        self.stats = Stats()
        self._writers: dict[str, _Writer] = {}

    async def put(self, source: str, item: Pending) -> str:
        """"stored" or "duplicate" once the delivery is durable; raises StoreError otherwise."""
        writer = self._writers.get(source)
        if writer is None:
            writer = self._writers[source] = _Writer(SourceLog(self.folders[source], self.fsync), self.stats)
        return await writer.put(item)

    def reject(self, record: dict[str, Any]) -> None:
        """Append a refused request to the rejects log (best effort: a 4xx is answered regardless)."""
        self.stats.rejected += 1
        now = datetime.now(UTC)
        line = json.dumps({"logged_at": now.isoformat(), **record}, ensure_ascii=False, default=str) + "\n"
        try:
            self.rejects_dir.mkdir(parents=True, exist_ok=True)
            path = day_file(self.rejects_dir, now)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode("utf-8", errors="replace"))
            finally:
                os.close(fd)
        except OSError:
            log.exception("could not write the rejects log in %s", self.rejects_dir)

    async def close(self) -> None:
        for writer in self._writers.values():
            await writer.close()
        self._writers.clear()
