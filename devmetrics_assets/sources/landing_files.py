"""The landing layout and envelope format (docs/contracts.md §6), in one place for every writer and reader.

A source's folder `landing/<source>/` holds one file per received day (UTC), `<YYYY-MM-DD>.jsonl`, one
envelope per line: `{"received_at", "delivery_id", "provider", "event_type", "signature_status",
"headers", "body_raw"}`. Both writers, the webhook receiver (receiver/store.py, group commit) and the
API pullers (sources/pull/landing_io.py), build the line with `envelope` + `encode_line` and append it
with `DayFileWriter`, so a delivery lands the same way whatever its transport. Readers pick the files
with `day_files` / `window_days` and the lines with `iter_landing_lines` (a torn last line left unread).
Nothing here imports Dagster.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# One line reader and line type for every landing/recorded-delivery reader (sources/lines.py).
from devmetrics_assets.sources.lines import DAY_FILE, iter_landing_lines, iter_lines
from devmetrics_assets.sources.lines import Line as LandingLine
from devmetrics_assets.timeutil import as_utc

log = logging.getLogger("devmetrics.landing")

__all__ = [
    "DAY_FILE", "DayFileWriter", "LandingLine", "day_file", "day_file_name", "day_files", "encode_line",
    "envelope", "import_files", "iter_landing_lines", "iter_lines", "received_text", "window_days",
]


# ---------------------------------------------------------------------------------------- layout
def day_file_name(day: date) -> str:
    """`YYYY-MM-DD.jsonl`, the file of `day` (a date, or the received datetime, already in UTC)."""
    return f"{day:%Y-%m-%d}.jsonl"


def day_file(folder: Path, day: date) -> Path:
    return folder / day_file_name(day)


def day_files(folder: Path, start: date | None = None, end: date | None = None) -> list[Path]:
    """The `YYYY-MM-DD.jsonl` files of `folder` whose day is in [start, end), oldest first. Other files
    (the receiver's index, rejects folders, a name that is not a real date) are never read as deliveries."""
    if not folder.exists():
        return []
    picked = []
    for path in sorted(folder.iterdir()):
        match = DAY_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        try:
            day = date.fromisoformat(match.group(1))
        except ValueError:
            continue
        if (start is None or day >= start) and (end is None or day < end):
            picked.append(path)
    return picked


def import_files(folder: Path) -> list[Path]:
    """Recorded files `devmetrics load` copied in (`import-<digest>.jsonl`): read whole on every run,
    since one file may hold any received days."""
    return sorted(folder.glob("import-*.jsonl")) if folder.exists() else []


def window_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The day files [first, last) that can hold deliveries received in [start, end): start's day up to
    the day of the last instant before `end` (so an `end` at midnight does not read that day's file)."""
    last_instant = as_utc(end) - timedelta(microseconds=1)
    return as_utc(start).date(), last_instant.date() + timedelta(days=1)


# -------------------------------------------------------------------------------------- envelope
def received_text(value: datetime) -> str:
    """`2025-03-04T10:15:02.123456Z`: the envelope's `received_at`, always UTC with microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(*, received_at: datetime, delivery_id: str, provider: str, event_type: str,
             signature_status: str, headers: Mapping[str, str], body_raw: str) -> dict[str, Any]:
    """One landing envelope, keys in the contract's order. `headers` must already be free of secrets;
    `body_raw` is the exact payload text (what was signed, what Bronze stores and hashes)."""
    return {
        "received_at": received_text(received_at),
        "delivery_id": delivery_id,
        "provider": provider,
        "event_type": event_type,
        "signature_status": signature_status,
        "headers": headers,
        "body_raw": body_raw,
    }


def encode_line(record: Mapping[str, Any], *, compact: bool = True) -> bytes:
    """A JSON line (UTF-8, non-ASCII kept, newline-terminated). The receiver writes compact lines; the
    pullers have always written `json.dumps` defaults (`compact=False`), kept so re-pulls append the
    same bytes. Every reader parses JSON, so both are the same envelope."""
    separators = (",", ":") if compact else None
    return json.dumps(record, ensure_ascii=False, separators=separators).encode("utf-8") + b"\n"


# --------------------------------------------------------------------------------- durable append
def fsync_dir(folder: Path, fsync: Callable[[int], None] = os.fsync) -> None:
    """Make a new file's directory entry durable, or a crash could lose the whole file."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


class DayFileWriter:
    """Durable appends to the files of one folder; used from one thread at a time, so it needs no lock.

    `append` writes the whole batch of lines and fsyncs it before returning, so a caller may acknowledge
    (receiver) or advance a cursor (puller) afterwards; a new file's directory entry is fsynced when it is
    created. A failed write or fsync truncates the file back to its previous length and raises, so a
    partial line can never glue itself to the next append. The two newest files stay open (today's and
    yesterday's, for a receiver running across midnight); others are closed as newer ones open.

    `close_torn_line`: when an existing file does not end in a newline (a crash mid-append), the next
    append starts with one, so the torn text becomes one unreadable (quarantined) line instead of
    corrupting the next delivery. `mode`: permissions of created files (before the umask).
    """

    def __init__(self, folder: Path, fsync: Callable[[int], None] = os.fsync, *, mode: int = 0o640,
                 close_torn_line: bool = False) -> None:
        self.folder = folder
        self.fsync = fsync
        self.mode = mode
        self.close_torn_line = close_torn_line
        self._fds: dict[str, int] = {}
        self._torn: set[str] = set()

    def __enter__(self) -> DayFileWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(self, name: str, data: bytes) -> None:
        """Append `data` (whole lines) to `folder/name` and fsync it; on failure cut it off and raise."""
        fd = self._fd(name)
        size = os.fstat(fd).st_size
        if name in self._torn:
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            self.fsync(fd)
        except BaseException:
            # Cut a partial write off so the next append starts on a clean line.
            try:
                os.ftruncate(fd, size)
            except OSError:
                log.exception("could not truncate %s after a failed write", self.folder / name)
            self._close(name)
            raise
        self._torn.discard(name)

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / name
            created = not path.exists()
            if self.close_torn_line and not created and _ends_without_newline(path):
                self._torn.add(name)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.mode)
            if created:
                fsync_dir(self.folder, self.fsync)
            for old in sorted(self._fds)[:-1]:  # keep the newest open file (and the one opened now)
                self._close(old)
            self._fds[name] = fd
        return fd

    def _close(self, name: str) -> None:
        self._torn.discard(name)
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for name in list(self._fds):
            self._close(name)
