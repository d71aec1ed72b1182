"""Refresh exactly the partitions an alerting event touched, without delaying the next alert.

The watcher hands event days to a `Materialiser`; `DagsterMaterialiser` coalesces them for a short
debounce and, from a worker thread, runs `python -m devmetrics_assets.realtime.materialise DAY...`,
which calls `runner.materialise_days(..., include_bronze=False)`: the Silver and Gold day partitions
of those days plus their ISO weeks and months, each contiguous range as ONE run on the shared Dagster
instance (DAGSTER_HOME, the one the CLI and the UI use), so the runs show up in the UI. Bronze is not
re-run: the watcher only sees deliveries that are already stored.

Why runs launched by the watcher rather than `instance.submit_run` or a sensor: the watcher must work
without a Dagster daemon, the CLI materialises the same way, and a failed run is logged and its days
are retried with the next request. Why a child process: with DuckDB, one process cannot hold a
read-only handle (the watcher's tail) and a read-write handle (the run) on the same file, while
across processes DuckDB's file lock and the warehouse's retries already coordinate them; the child
also keeps Dagster out of the watcher's memory and a crashing run out of the watcher.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Protocol

from devmetrics_assets.config import Settings

log = logging.getLogger(__name__)


class Materialiser(Protocol):
    def request(self, days: Iterable[date]) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


class NoMaterialiser:
    """`--no-materialise`: alerts only."""

    def request(self, days: Iterable[date]) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `Settings.from_env()` in a child process equal `settings`."""
    return {"DEVMETRICS_HOME": str(settings.home), "DEVMETRICS_WAREHOUSE": str(settings.warehouse_path),
            "DEVMETRICS_LANDING": str(settings.landing_dir), "DEVMETRICS_RULES": str(settings.rules_path),
            "DEVMETRICS_PARTITION_START": settings.partition_start}


def subprocess_runner(settings: Settings, timeout: float = 3600.0) -> Callable[[Sequence[date]], list[str]]:
    """Run `python -m devmetrics_assets.realtime.materialise DAY...` (see `main`) and wait for it."""

    def run(days: Sequence[date]) -> list[str]:
        cmd = [sys.executable, "-m", "devmetrics_assets.realtime.materialise", *[d.isoformat() for d in days]]
        done = subprocess.run(cmd, env={**os.environ, **settings_env(settings)}, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"materialising {[d.isoformat() for d in days]} failed "
                               f"(exit {done.returncode}): {done.stderr[-2000:]}")
        return done.stdout.split()

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Materialise Silver/Gold for the given days (and their weeks and months) on the shared instance."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import prepare_environment
    from devmetrics_assets.pending_work import settle
    from devmetrics_assets.runner import materialise_days

    days = sorted({date.fromisoformat(a) for a in (sys.argv[1:] if argv is None else argv)})
    if not days:
        print("usage: python -m devmetrics_assets.realtime.materialise YYYY-MM-DD ...", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    prepare_environment(settings)
    from devmetrics_assets.storage.selection import open_storage

    storage = open_storage(settings)
    with dg.DagsterInstance.get() as instance:
        results = materialise_days(build_definitions(settings), instance, days, include_bronze=False,
                                   storage=storage)
        settle(instance, storage)  # clear the pending work these runs finished (pending_work.py)
    print("\n".join(r.run_id for r in results))
    return 0 if all(r.success for r in results) else 1


class DagsterMaterialiser:
    """Coalesces requested days and materialises them in a background thread."""

    def __init__(self, run: Callable[[Sequence[date]], object], debounce_seconds: float = 2.0) -> None:
        self.run = run
        self.debounce_seconds = debounce_seconds
        self.completed: list[list[date]] = []  # batches run (for logs and tests)
        self._pending: set[date] = set()
        self._retry: set[date] = set()  # days of a failed run: re-run with the next request
        self._busy = False
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="devmetrics-materialiser", daemon=True)
        self._thread.start()

    @classmethod
    def for_settings(cls, settings: Settings, debounce_seconds: float = 2.0) -> DagsterMaterialiser:
        return cls(subprocess_runner(settings), debounce_seconds)

    def request(self, days: Iterable[date]) -> None:
        with self._cond:
            self._pending.update(days)
            self._pending.update(self._retry)
            self._retry.clear()
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once nothing is pending or running (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def close(self, timeout: float | None = 120.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stop)
                if not self._pending and self._stop:
                    return
                if not self._stop:  # let a burst of events arrive, then run them together
                    self._cond.wait(self.debounce_seconds)
                days, self._pending, self._busy = sorted(self._pending), set(), True
            try:
                self.run(days)
                self.completed.append(days)
                log.info("materialised silver/gold for %s", [d.isoformat() for d in days])
            except Exception:  # noqa: BLE001 - keep watching; retry these days with the next request
                log.exception("materialising %s failed; will retry with the next request", days)
                with self._cond:
                    self._retry.update(days)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


if __name__ == "__main__":
    raise SystemExit(main())
