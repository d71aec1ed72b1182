"""`devmetrics doctor` (is this deployment configured and running?) and `devmetrics health` (one service).

doctor prints one line per check, `ok` or `FAIL` with what to fix, and exits 0 when every check passes,
1 when one fails; a mistake in its own flags or the profile is one line and exit 2. Checks:
- instance: the Dagster instance of the profile (SQLite or PostgreSQL) answers a query on its runs;
- warehouse: the DuckDB file or MongoDB (MONGODB_URI), through the storage selection, answers a read;
- secrets: every variable sources.yaml names (secret_env, token_env) is set; values are never printed;
- code location and sensors: the workspace loads; each sensor is running (also those running by
  default) and its last tick (time and status) did not fail;
- service daemon: every daemon the instance needs heartbeats (as `dagster-daemon liveness-check`);
- services, when named by flags or variables: the webserver's /server_info, the receiver's /healthz,
  the code server's gRPC health, the watcher's heartbeat file.

`devmetrics doctor --prepare` only writes dagster.yaml from the profile (a service's start-up step).
`devmetrics health watcher|url` is the container/systemd health check of one service: exit 0 or 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from devmetrics_assets.cli.common import UserError
from devmetrics_assets.doctor import CheckResult, SourceSecrets, first_line, parse_host_port, passed

SKIPPABLE = ("instance", "warehouse", "secrets", "sensors", "daemon")
ENV = {"workspace": "DEVMETRICS_WORKSPACE", "webserver_url": "DEVMETRICS_WEBSERVER_URL",
       "receiver_url": "DEVMETRICS_RECEIVER_URL", "code_server": "DEVMETRICS_CODE_SERVER",
       "watcher_heartbeat": "DEVMETRICS_WATCHER_HEARTBEAT"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor",
                            help="check a deployment: instance, warehouse, secrets, sensors, services",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    doctor.add_argument("--profile", choices=["local", "production"],
                        help="instance profile (default: DEVMETRICS_PROFILE, else local)")
    doctor.add_argument("--prepare", action="store_true",
                        help="only write DAGSTER_HOME/dagster.yaml from the profile, then exit 0")
    doctor.add_argument("--workspace", type=Path,
                        help=f"workspace.yaml the daemon uses (default ${ENV['workspace']}, else the package "
                             "loaded in this process)")
    doctor.add_argument("--webserver-url", help=f"e.g. http://127.0.0.1:3000 (or ${ENV['webserver_url']})")
    doctor.add_argument("--receiver-url", help=f"e.g. http://127.0.0.1:8787 (or ${ENV['receiver_url']})")
    doctor.add_argument("--code-server", metavar="HOST:PORT",
                        help=f"gRPC code server (or ${ENV['code_server']})")
    doctor.add_argument("--watcher-heartbeat", type=Path, metavar="PATH",
                        help=f"the watcher's heartbeat file (or ${ENV['watcher_heartbeat']})")
    doctor.add_argument("--max-heartbeat-age", type=float, default=60.0,
                        help="seconds after which the watcher counts as stopped (default 60)")
    doctor.add_argument("--skip", action="append", default=[], choices=SKIPPABLE,
                        help="leave out a check (repeatable), e.g. --skip daemon on a laptop without one")
    doctor.set_defaults(func=cmd_doctor)

    health = sub.add_parser("health", help="health check of one service (exit 0 healthy, 1 not)")
    which = health.add_subparsers(dest="service", required=True)  # the same one-line-error parser class
    watcher = which.add_parser("watcher", help="the watcher touched its heartbeat file recently")
    watcher.add_argument("--heartbeat", type=Path, help="default $DEVMETRICS_HOME/realtime/heartbeat")
    watcher.add_argument("--max-age", type=float, default=60.0, help="seconds (default 60)")
    url = which.add_parser("url", help="GET a health URL (receiver /healthz, webserver /server_info)")
    url.add_argument("url", help="e.g. http://127.0.0.1:8787/healthz; healthy on a 2xx answer within 5 s")
    health.set_defaults(func=cmd_health)


def _option(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name)
    return str(value) if value is not None else (os.environ.get(ENV[name], "").strip() or None)


def _prepare(args: argparse.Namespace):
    """Profile checked (exit 2 when wrong) and dagster.yaml written; the settings."""
    from devmetrics_assets.config import Settings
    from devmetrics_assets.instance_setup import PROFILE_ENV, instance_profile, prepare_environment

    if args.profile:
        os.environ[PROFILE_ENV] = args.profile
    settings = Settings.from_env()
    instance_profile()  # InstanceProfileError: one line, exit 2
    prepare_environment(settings)
    return settings


def run_checks(args: argparse.Namespace, now: float | None = None) -> list[CheckResult]:
    """Every check the flags ask for, in order; `now` (epoch seconds) pins the clock for heartbeats."""
    import dagster as dg

    from devmetrics_assets import doctor_probes as probes

    now = time.time() if now is None else now
    code_server = _option(args, "code_server")
    try:
        server = parse_host_port(code_server, "--code-server") if code_server else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    workspace = _option(args, "workspace")
    if workspace and not Path(workspace).is_file():
        raise UserError(f"--workspace: no file {workspace}")
    settings = _prepare(args)
    skip = set(args.skip)
    results: list[CheckResult] = []
    if not skip >= {"instance", "sensors", "daemon"}:
        try:
            instance = dg.DagsterInstance.get()
        except Exception as exc:  # noqa: BLE001 - a dagster.yaml Dagster cannot load
            _debug(args)
            results.append(CheckResult("instance", False, first_line(exc), "check DAGSTER_HOME/dagster.yaml"))
            instance = None
        if instance is not None:
            with instance:
                first = probes.instance_result(instance)
                if "instance" not in skip or not first.ok:  # the others need it: a failure is always said
                    results.append(first)
                if first.ok and "sensors" not in skip:
                    results.extend(probes.sensor_checks(instance, Path(workspace) if workspace else None))
                if first.ok and "daemon" not in skip:
                    results.append(probes.daemon_check(instance, now))
    if "warehouse" not in skip:
        results.append(probes.warehouse_result(settings))
    if "secrets" not in skip:
        results.extend(_secret_checks(settings))
    results.extend(_service_checks(args, server, now))
    return results


def _secret_checks(settings) -> list[CheckResult]:
    from devmetrics_assets.config import ConfigError
    from devmetrics_assets.doctor import secret_results
    from devmetrics_assets.sources.registry import load_sources, sources_path

    try:
        sources = load_sources(settings=settings)
    except ConfigError as exc:
        return [CheckResult("secrets", False, f"{sources_path(settings)}: {first_line(exc)}",
                            "fix sources.yaml (docs/sources.md)")]
    return secret_results([SourceSecrets(s.name, s.secret_env, s.token_env) for s in sources], os.environ)


def _service_checks(args: argparse.Namespace, server: tuple[str, int] | None,
                    now: float) -> list[CheckResult]:
    from devmetrics_assets import doctor_probes as probes
    from devmetrics_assets.doctor import heartbeat_result
    from devmetrics_assets.realtime.heartbeat import heartbeat_age

    results = []
    if url := _option(args, "webserver_url"):
        results.append(probes.http_check("webserver", f"{url.rstrip('/')}/server_info",
                                         "dagster_webserver_version"))
    if url := _option(args, "receiver_url"):
        results.append(probes.http_check("receiver", f"{url.rstrip('/')}/healthz", "status"))
    if server is not None:
        results.append(probes.grpc_check(*server))
    if path := _option(args, "watcher_heartbeat"):
        results.append(heartbeat_result(heartbeat_age(Path(path), now), args.max_heartbeat_age, path))
    return results


def _debug(args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()


def cmd_doctor(args: argparse.Namespace) -> int:
    if args.prepare:
        settings = _prepare(args)
        print(f"wrote {os.environ['DAGSTER_HOME']}/dagster.yaml for {settings.home}")
        return 0
    results = run_checks(args)
    for result in results:
        print(result.line())
    failed = [r.name for r in results if not r.ok]
    print(f"doctor: all {len(results)} checks passed" if passed(results)
          else f"doctor: {len(failed)} of {len(results)} checks failed: {', '.join(failed)}")
    return 0 if passed(results) else 1


def cmd_health(args: argparse.Namespace) -> int:
    from devmetrics_assets import doctor_probes as probes
    from devmetrics_assets.config import Settings
    from devmetrics_assets.doctor import heartbeat_result
    from devmetrics_assets.realtime.heartbeat import default_heartbeat_path, heartbeat_age

    if args.service == "watcher":
        path = args.heartbeat or default_heartbeat_path(Settings.from_env().home)
        result = heartbeat_result(heartbeat_age(path, time.time()), args.max_age, str(path))
    else:
        result = probes.http_check("url", args.url)
    print(result.line(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1
