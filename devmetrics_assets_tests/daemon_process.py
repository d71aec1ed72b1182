"""A real `dagster-daemon run` for the tests: started with a given environment and workspace file, waited for
by its heartbeats in the instance's storage, and stopped with everything it started.

The daemon starts its own code server (a child process) and that server starts the runs it launches
(grandchildren), so it runs in a session of its own and is stopped by its process group: SIGTERM first
(the daemon shuts its threads and code server down), SIGKILL for whatever is left after a grace period.

`wait_for` is the polling the daemon tests use instead of timed assertions: it probes until a condition
holds or a generous deadline passes, and on the deadline fails with what it last saw and the daemon's log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest

T = TypeVar("T")


@dataclass
class DaemonProcess:
    process: subprocess.Popen
    log: Path
    started_at: float  # time.time() when it was started: heartbeats from before are another daemon's

    def log_tail(self, chars: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-chars:]

    def exited(self) -> int | None:
        return self.process.poll()


def start_daemon(workspace: Path, env: Mapping[str, str], log: Path, cwd: Path) -> DaemonProcess:
    """`dagster-daemon run -w workspace` in its own session, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started_at = time.time()
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["dagster-daemon", "run", "-w", str(workspace)], env=dict(env), cwd=cwd,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return DaemonProcess(process, log, started_at)


def stop_daemon(daemon: DaemonProcess, grace_seconds: float = 30.0) -> None:
    """SIGTERM the daemon's process group, wait, then SIGKILL what is left of it."""
    group = daemon.process.pid  # start_new_session: the daemon leads its own group
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        daemon.process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(group, signal.SIGKILL)  # code server or run processes that outlived the daemon
    except ProcessLookupError:
        pass
    daemon.process.wait(timeout=grace_seconds)


def wait_for(what: str, probe: Callable[[], tuple[bool, T]], timeout: float,
             daemon: DaemonProcess | None = None, every: float = 1.0) -> T:
    """Poll `probe` (returns (done, what it saw)) until done; on the deadline fail with what was seen last.

    A daemon that exited fails at once, with its log."""
    deadline = time.monotonic() + timeout
    seen: T | None = None
    while True:
        done, seen = probe()
        if done:
            return seen
        if daemon is not None and daemon.exited() is not None:
            pytest.fail(f"{what}: the daemon exited ({daemon.exited()}); last seen: {seen!r}\n"
                        f"--- daemon log ---\n{daemon.log_tail()}")
        if time.monotonic() > deadline:
            log = f"\n--- daemon log ---\n{daemon.log_tail()}" if daemon is not None else ""
            pytest.fail(f"{what}: not within {timeout:.0f} s; last seen: {seen!r}{log}")
        time.sleep(every)


def heartbeats_since(instance: dg.DagsterInstance, since: float) -> dict[str, float]:
    """Daemon type -> timestamp of its latest heartbeat, for heartbeats written after `since`."""
    return {kind: beat.timestamp for kind, beat in instance.get_daemon_heartbeats().items()
            if beat.timestamp >= since}


def wait_until_alive(daemon: DaemonProcess, instance: dg.DagsterInstance, timeout: float = 120.0) -> None:
    """Every daemon the instance requires (scheduler, sensors, run queue, monitoring, ...) has beaten."""
    required = set(instance.get_required_daemon_types())

    def probe() -> tuple[bool, dict[str, object]]:
        beats = heartbeats_since(instance, daemon.started_at)
        return required <= set(beats), {"required": sorted(required), "beating": sorted(beats)}

    wait_for("the daemon's heartbeats", probe, timeout, daemon)
