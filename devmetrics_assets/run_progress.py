"""Progress of long command-line work, as plain lines on stderr (no TTY-only spinner).

    [bronze+silver+gold daily] 730/1825 partitions · 14 s

One line when a run starts, then at most one per `every_seconds` while its asset materialisations are
recorded, and one when it ends. `done/total` counts partitions per asset (5 assets over 365 days are 1,825),
driven by the run's own ASSET_MATERIALIZATION events: runner.run_range registers `RunPhase.on_event` as an
instance event listener of the in-process run, so the cost is one integer increment per event. The elapsed
time is since the command started (a monotonic clock, replaceable in tests).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

MATERIALIZATION = "ASSET_MATERIALIZATION"
# The elapsed-time clock of every Progress built without one (tests replace it with a fake).
CLOCK: Callable[[], float] = time.monotonic
LAYER_ORDER = ("bronze", "silver", "gold")


def format_elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


class Progress:
    """One command's progress reporter; each run is a phase of it (`phase(label, total)`)."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] | None = None,
                 every_seconds: float = 1.0) -> None:
        self.stream = stream
        self.clock = clock or CLOCK
        self.every_seconds = every_seconds
        self.started = self.clock()

    def phase(self, label: str, total: int) -> RunPhase:
        return RunPhase(self, label, total)

    def write(self, line: str) -> None:
        stream = self.stream or sys.stderr  # resolved late: tests capture sys.stderr after construction
        stream.write(line + "\n")
        stream.flush()


class RunPhase:
    """The progress of one run: counts its materialisations, prints throttled `done/total` lines."""

    def __init__(self, progress: Progress, label: str, total: int) -> None:
        self.progress, self.label, self.total = progress, label, total
        self.done = 0
        self._last_printed: int | None = None
        self._last_at = progress.clock()
        self._print(self._last_at)

    def on_event(self, event: Any) -> None:
        """An instance event listener: count this run's asset materialisations."""
        dagster_event = getattr(event, "dagster_event", None)
        if dagster_event is None or dagster_event.event_type_value != MATERIALIZATION:
            return
        self.done += 1
        now = self.progress.clock()
        if self.done >= self.total or now - self._last_at >= self.progress.every_seconds:
            self._print(now)

    def finish(self) -> None:
        if self._last_printed != self.done:
            self._print()

    def _print(self, now: float | None = None) -> None:
        now = self.progress.clock() if now is None else now
        self._last_at, self._last_printed = now, self.done
        elapsed = format_elapsed(now - self.progress.started)
        self.progress.write(f"[{self.label}] {self.done}/{self.total} partitions · {elapsed}")


def phase_label(group_names: list[str], partitioning: str) -> str:
    """`bronze+silver+gold daily`: the layers a run materialises, in layer order, and its partitioning."""
    groups = sorted(set(group_names), key=lambda g: (LAYER_ORDER.index(g) if g in LAYER_ORDER else 9, g))
    return " ".join(part for part in ("+".join(groups), partitioning) if part)
