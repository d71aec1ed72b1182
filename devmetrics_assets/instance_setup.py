"""The Dagster instance under DAGSTER_HOME: its configuration, runs whose process died, one UI per home.

- `prepare_environment` points DAGSTER_HOME at `<DEVMETRICS_HOME>/dagster_home` (unless set) and writes
  `dagster.yaml` there: SQLite storage (Dagster's default), no telemetry, and run monitoring, so a run
  that never starts or never finishes cancelling is failed by the daemon. A file we wrote earlier is
  upgraded; a file written by someone else is left alone.
- Dagster's default run launcher cannot tell whether a run's process is alive (run monitoring's worker
  health check needs a container launcher), so a run killed with kill -9 stays STARTED forever.
  `fail_orphaned_runs` marks such runs failed: a STARTED run whose process (the pid in its events, or
  the `devmetrics/pid` tag of a command-line run) no longer exists on this host. The command line calls
  it on start, and the `devmetrics_run_reaper` sensor every minute; the run-failure notification
  follows as for any failed run.
- `ui_lock` holds an exclusive lock on `<DAGSTER_HOME>/ui.lock` for the life of `dagster dev`, so a
  second `devmetrics ui` on the same home is refused instead of starting a second daemon.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

import dagster as dg

from devmetrics_assets.config import Settings

MARKER = "# written by devmetrics (instance_setup.py): edit freely, remove this line to keep your edits"
DAGSTER_YAML = f"""{MARKER}
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 60
"""
PID_TAG = "devmetrics/pid"
HOST_TAG = "devmetrics/host"
UI_LOCK = "ui.lock"


class UiAlreadyRunningError(RuntimeError):
    """Another `devmetrics ui` (dagster dev) holds this home's lock."""


def prepare_environment(settings: Settings) -> Path:
    """One Dagster home for the CLI and the UI, inside the working area unless DAGSTER_HOME says otherwise."""
    settings.home.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = not config.exists() or config.read_text(encoding="utf-8").startswith(MARKER) or \
        config.read_text(encoding="utf-8").strip() == "telemetry:\n  enabled: false"
    if ours and (not config.exists() or config.read_text(encoding="utf-8") != DAGSTER_YAML):
        tmp = config.with_suffix(".tmp")
        tmp.write_text(DAGSTER_YAML, encoding="utf-8")
        os.replace(tmp, config)
    return home


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def run_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The process that executes `run`: its tag, else the pid of its newest event."""
    tag = run.tags.get(PID_TAG)
    if tag and tag.isdigit():
        return int(tag)
    records = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None and event.pid else None


def fail_orphaned_runs(instance: dg.DagsterInstance, host: str | None = None) -> list[str]:
    """Mark failed the STARTED runs of this host whose process is gone; returns their run ids."""
    host = host or socket.gethostname()
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if run.tags.get(HOST_TAG, host) != host:
            continue  # another machine's run: its own reaper judges it
        pid = run_pid(instance, run)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(run, f"run process {pid} on {host} is gone (killed or crashed); marked "
                                        "failed by devmetrics (instance_setup.fail_orphaned_runs)")
        failed.append(run.run_id)
    return failed


def ui_lock(dagster_home: Path) -> IO[str]:
    """Take the home's UI lock (kept across exec: the lock lives as long as `dagster dev`)."""
    handle = (dagster_home / UI_LOCK).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise UiAlreadyRunningError(
                f"devmetrics ui is already running on {dagster_home} (lock {dagster_home / UI_LOCK}); "
                "open it in the browser, or stop it before starting another") from None
        raise
    os.set_inheritable(handle.fileno(), True)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
