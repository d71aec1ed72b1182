"""The Dagster instance under DAGSTER_HOME: its configuration, runs whose process died, one UI per home.

- `prepare_environment` points DAGSTER_HOME at `<DEVMETRICS_HOME>/dagster_home` (unless set) and writes
  `dagster.yaml` there from the instance profile (`DEVMETRICS_PROFILE`, docs/deploy.md):
  `local` (default): Dagster's SQLite files, written through instance_storage.LocalSqliteStorage (the
  same rows, fewer transactions), no telemetry, and run monitoring, so a run that never starts or never
  finishes cancelling is failed by the daemon;
  `production`: the same plus PostgreSQL storage for runs, events and schedules (dagster-postgres; the
  connection is read by Dagster from `DAGSTER_PG_URL` or `DAGSTER_PG_HOST/PORT/USER/PASSWORD/DB` through
  `env:`, so no password is ever written), run retries, a run queue that lets one run at a time write
  a DuckDB file (runs tagged `devmetrics/warehouse`, see `warehouse_tags`), and retention of old ticks.
  A file we wrote earlier is rewritten (also on a profile change); a file written by someone else is
  left alone.
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
import importlib.util
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import dagster as dg

from devmetrics_assets.config import ConfigError, Settings
from devmetrics_assets.instance_storage import MODULE as STORAGE_MODULE
from devmetrics_assets.instance_storage import STORAGE_CLASS

MARKER = "# written by devmetrics (instance_setup.py): edit freely, remove this line to keep your edits"
# The DuckDB file a run writes: the run queue admits one run per value (one writer per file).
WAREHOUSE_TAG = "devmetrics/warehouse"
# The daemon moves queued runs to launch every this many seconds (Dagster's default 5): an arrival run
# waits for it between the sensor's request and its start (docs/benchmark.md, "Freshness").
DEQUEUE_SECONDS = 2
# Both profiles. The per-value limit on WAREHOUSE_TAG keeps a second run off a DuckDB file already being
# written (DuckDB allows one writer process per file), whoever asked for it (an arrival, automation, a
# backfill from the UI); runs on MongoDB carry no such tag.
_RUN_QUEUE = f"""run_queue:
  max_concurrent_runs: 10
  dequeue_interval_seconds: {DEQUEUE_SECONDS}
  tag_concurrency_limits:
    - key: {WAREHOUSE_TAG}
      value:
        applyLimitPerUniqueValue: true
      limit: 1
"""
# Dagster's SQLite storage with cheaper event writes (instance_storage.py): the files of `storage: sqlite`.
DAGSTER_YAML = f"""{MARKER}
telemetry:
  enabled: false
storage:
  custom:
    module: {STORAGE_MODULE}
    class: {STORAGE_CLASS}
    config:
      base_dir:
        env: DAGSTER_HOME
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 60
{_RUN_QUEUE}"""
EVENT_BATCH_ENV, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"
PID_TAG = "devmetrics/pid"
HOST_TAG = "devmetrics/host"
UI_LOCK = "ui.lock"

PROFILE_ENV = "DEVMETRICS_PROFILE"
LOCAL = "local"
PRODUCTION = "production"
PROFILES = (LOCAL, PRODUCTION)
PG_URL_ENV = "DAGSTER_PG_URL"
PG_PORT_ENV = "DAGSTER_PG_PORT"
# Without DAGSTER_PG_URL, these name the server; the password may be empty (trust or peer auth) but set.
PG_REQUIRED_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_DB")
PG_PASSWORD_ENV = "DAGSTER_PG_PASSWORD"
# dagster-postgres installs psycopg2, but SQLAlchemy 2.1 reads a bare `postgresql://` as psycopg 3: the
# driver is named explicitly (the `scheme` of postgres_db; the prefix DAGSTER_PG_URL must carry).
PG_SCHEME = "postgresql+psycopg2"

# Shared by both profiles. Run monitoring: a run that never starts or never finishes cancelling is failed.
_MONITORING = """run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 60
"""
# Production only. Run retries re-launch a run that failed as a whole (process lost, worker crash), not
# one whose asset or check failed: those fail the same way again until the data or rules are fixed.
# Ticks of schedules and sensors are purged after a while (the daemon ticks every 30-60 s: millions of
# rows a year).
_PRODUCTION_REST = f"""run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
{_RUN_QUEUE}retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days:
      skipped: 7
      failure: 30
      success: 30
"""


class UiAlreadyRunningError(RuntimeError):
    """Another `devmetrics ui` (dagster dev) holds this home's lock."""


class InstanceProfileError(ConfigError):
    """DEVMETRICS_PROFILE is unknown, or the production profile lacks its PostgreSQL settings."""


def instance_profile(environ: Mapping[str, str] | None = None) -> str:
    """The checked instance profile: `local` unless DEVMETRICS_PROFILE says `production`."""
    env = os.environ if environ is None else environ
    profile = env.get(PROFILE_ENV, "").strip().lower() or LOCAL
    if profile not in PROFILES:
        raise InstanceProfileError(f"{PROFILE_ENV}={env.get(PROFILE_ENV)!r}: expected one of "
                                   f"{', '.join(PROFILES)} (see docs/deploy.md)")
    if profile == PRODUCTION:
        _check_postgres_settings(env)
    return profile


def _check_postgres_settings(env: Mapping[str, str]) -> None:
    if importlib.util.find_spec("dagster_postgres") is None:
        raise InstanceProfileError("the production profile keeps runs in PostgreSQL: install dagster-postgres"
                                   " (pip install 'devmetrics-assets[postgres]'); see docs/deploy.md")
    url = env.get(PG_URL_ENV, "").strip()
    if url:
        if not url.startswith(f"{PG_SCHEME}://"):
            raise InstanceProfileError(
                f"{PG_URL_ENV} must start with {PG_SCHEME}:// (the driver dagster-postgres installs; a bare "
                "postgresql:// asks SQLAlchemy 2.1 for psycopg 3); see docs/deploy.md")
        return
    missing = [name for name in PG_REQUIRED_ENV if not env.get(name, "").strip()]
    missing += [PG_PASSWORD_ENV] if PG_PASSWORD_ENV not in env else []
    if missing:
        raise InstanceProfileError(
            f"{PROFILE_ENV}=production needs PostgreSQL: set {PG_URL_ENV}, or {', '.join(missing)} "
            f"(and optionally {PG_PORT_ENV}); see docs/deploy.md")
    port = env.get(PG_PORT_ENV, "").strip()
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InstanceProfileError(f"{PG_PORT_ENV}={port!r}: expected a TCP port (1-65535)")


def _postgres_storage(env: Mapping[str, str]) -> str:
    """The `storage:` block: each connection field read by Dagster from the environment (`env:`)."""
    if env.get(PG_URL_ENV, "").strip():
        return f"storage:\n  postgres:\n    postgres_url:\n      env: {PG_URL_ENV}\n"
    fields = [("username", "DAGSTER_PG_USER"), ("password", PG_PASSWORD_ENV), ("hostname", "DAGSTER_PG_HOST"),
              ("db_name", "DAGSTER_PG_DB")]
    if env.get(PG_PORT_ENV, "").strip():
        fields.append(("port", PG_PORT_ENV))  # else Dagster's default, 5432
    lines = "".join(f"      {key}:\n        env: {name}\n" for key, name in fields)
    return f"storage:\n  postgres:\n    postgres_db:\n{lines}      scheme: {PG_SCHEME}\n"


def dagster_yaml(profile: str = LOCAL, environ: Mapping[str, str] | None = None) -> str:
    """The dagster.yaml devmetrics writes for `profile` (the local one is DAGSTER_YAML, unchanged)."""
    if profile == LOCAL:
        return DAGSTER_YAML
    env = os.environ if environ is None else environ
    return (f"{MARKER}\n# profile: production (DEVMETRICS_PROFILE); see docs/deploy.md\n"
            f"telemetry:\n  enabled: false\n{_postgres_storage(env)}{_MONITORING}{_PRODUCTION_REST}")


def warehouse_tags(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Run tags naming the DuckDB file the run writes ({} on MongoDB, which takes concurrent writers)."""
    from devmetrics_assets.storage.selection import DUCKDB, storage_kind

    if storage_kind(environ) != DUCKDB:
        return {}
    return {WAREHOUSE_TAG: str(Path(settings.warehouse_path).resolve())}


def prepare_environment(settings: Settings) -> Path:
    """One Dagster home for the CLI and the UI, inside the working area unless DAGSTER_HOME says otherwise.

    Raises InstanceProfileError (one line, before anything is written) for a bad DEVMETRICS_PROFILE."""
    profile = instance_profile()
    wanted = dagster_yaml(profile)
    # Dagster hands a step's per-partition events to storage as one batch only when this is set; both
    # profiles' storages write a batch in one transaction (docs/benchmark.md, "Backfill bookkeeping").
    # Processes started from here (dagster dev, the daemon's runs) inherit it.
    os.environ.setdefault(EVENT_BATCH_ENV, EVENT_BATCH_SIZE)
    settings.home.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = not config.exists() or config.read_text(encoding="utf-8").startswith(MARKER) or \
        config.read_text(encoding="utf-8").strip() == "telemetry:\n  enabled: false"
    if ours and (not config.exists() or config.read_text(encoding="utf-8") != wanted):
        tmp = config.with_suffix(".tmp")
        tmp.write_text(wanted, encoding="utf-8")
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
