"""The watcher's health story: a heartbeat file it touches while its loop runs.

The watcher is not a server, so there is no URL to ask. Each turn of `Watcher.run_forever` that polled
the feed without an error calls `Heartbeat.beat()`, which sets the file's modification time at most
every `every_seconds` (a change stream loops several times a second: no need to write each time). A
watcher that is stuck, dead, or only retrying errors stops touching it; `heartbeat_age` tells how long
ago the last beat was, and `devmetrics health watcher` (cli/doctor.py) fails when it is too old.
"""

from __future__ import annotations

import time
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"  # under <DEVMETRICS_HOME>/realtime/
DEFAULT_MAX_AGE_SECONDS = 60.0


def default_heartbeat_path(home: Path) -> Path:
    return Path(home) / "realtime" / HEARTBEAT_FILE


class Heartbeat:
    """Touch `path` at most every `every_seconds` (monotonic clock: immune to wall-clock jumps)."""

    def __init__(self, path: Path, every_seconds: float = 5.0) -> None:
        self.path = Path(path)
        self.every_seconds = every_seconds
        self._last: float | None = None

    def beat(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_seconds:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # creates it, or sets an existing file's modification time to now
        self._last = now


def heartbeat_age(path: Path, now: float) -> float | None:
    """Seconds since the last beat at wall-clock time `now` (epoch seconds), or None without a file."""
    try:
        return max(0.0, now - Path(path).stat().st_mtime)
    except FileNotFoundError:
        return None
