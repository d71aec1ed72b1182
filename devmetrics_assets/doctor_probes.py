"""`devmetrics doctor`'s probes: each asks one part of a deployment and returns `CheckResult`s.

The judgements live in doctor.py (pure); these functions only gather facts: the Dagster instance
(runs, daemon heartbeats, sensor states and ticks), the warehouse through the storage selection, the
code location loaded as the daemon loads it (a workspace file, or the package in process), and the
services' own health endpoints. A probe never raises for what it finds: an error is a failed result.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from devmetrics_assets.config import Settings
from devmetrics_assets.doctor import (
    CheckResult,
    DaemonFacts,
    SensorFacts,
    daemon_result,
    first_line,
    sensor_results,
)

LOCATION_NAME = "devmetrics_assets"  # as in workspace.yaml and deploy/workspace.yaml
DEFINITIONS_MODULE = "devmetrics_assets.definitions"
HTTP_TIMEOUT_SECONDS = 5.0


def instance_result(instance: dg.DagsterInstance) -> CheckResult:
    """The run storage answers a query (SQLite file or PostgreSQL server)."""
    storage = type(instance.run_storage).__name__
    try:
        count = instance.get_runs_count()
    except Exception as exc:  # noqa: BLE001 - reported as the failed check
        return CheckResult("instance", False, f"{storage}: {first_line(exc)}",
                           "check DAGSTER_HOME/dagster.yaml and the DAGSTER_PG_* variables; is PostgreSQL "
                           "up?")
    return CheckResult("instance", True, f"{storage} reachable ({count} runs)")


def warehouse_result(settings: Settings) -> CheckResult:
    """The configured warehouse (MongoDB when MONGODB_URI is set, else the DuckDB file) answers."""
    from devmetrics_assets.storage.selection import (
        StorageUnreachableError,
        check_reachable,
        describe_storage,
        open_storage,
    )
    from devmetrics_assets.storage.warehouse import NothingMaterializedError

    where = describe_storage(settings)
    try:
        check_reachable(settings)  # MongoDB ping, or the DuckDB folder writable
        found = open_storage(settings).table_exists("bronze")  # a real read on either backend
    except NothingMaterializedError:
        return CheckResult("warehouse", True, f"{where}: not created yet (nothing loaded)")
    except StorageUnreachableError as exc:
        return CheckResult("warehouse", False, str(exc), "fix the setting it names")
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file, a lock, a server error
        return CheckResult("warehouse", False, f"{where}: {first_line(exc)}",
                           "check DEVMETRICS_WAREHOUSE (a DuckDB file) or MONGODB_URI")
    return CheckResult("warehouse", True, f"{where}: reachable ({'Bronze present' if found else 'empty'})")


@contextmanager
def loaded_workspace(instance: dg.DagsterInstance, workspace: Path | None) -> Iterator[Any]:
    """The workspace as the daemon sees it: a workspace file (a gRPC code server in deploy/), or the
    package's definitions in this process under the same location name (the local profile)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    if workspace is not None:
        from dagster._cli.workspace.cli_target import workspace_opts_to_load_target
        from dagster_shared.cli import WorkspaceOpts

        target = workspace_opts_to_load_target(WorkspaceOpts(workspace=[str(workspace)]),
                                               allow_in_process=True)
    else:
        origin = LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE)
        target = InProcessWorkspaceLoadTarget(
            [InProcessCodeLocationOrigin(origin, location_name=LOCATION_NAME)])
    with WorkspaceProcessContext(instance, workspace_load_target=target, version=dg.__version__) as context:
        yield context.create_request_context()


def sensor_checks(instance: dg.DagsterInstance, workspace: Path | None) -> list[CheckResult]:
    """Each sensor of each code location: running (after its default status) and its last tick."""
    try:
        with loaded_workspace(instance, workspace) as request:
            entries = request.get_code_location_entries()
            results: list[CheckResult] = []
            for name, entry in sorted(entries.items()):
                if entry.code_location is None:
                    error = (entry.load_error.message.strip().splitlines()[0] if entry.load_error
                             else "not loaded")
                    results.append(CheckResult(
                        f"code location {name}", False, error[:240],
                        "is the code server running (dagster api grpc-health-check)? see its log"))
                    continue
                results.append(CheckResult(f"code location {name}", True, "loaded"))
                for repo in entry.code_location.get_repositories().values():
                    facts = [_sensor_facts(instance, sensor) for sensor in repo.get_sensors()]
                    results.extend(sensor_results(facts, name))
            if not entries:
                results.append(CheckResult("code location", False, "the workspace names none",
                                           "point --workspace at deploy/workspace.yaml"))
            return results
    except Exception as exc:  # noqa: BLE001 - a bad workspace file, an import error in the definitions
        return [CheckResult("code location", False, first_line(exc),
                            "check --workspace / DEVMETRICS_WORKSPACE and that the definitions import")]


def _sensor_facts(instance: dg.DagsterInstance, sensor: Any) -> SensorFacts:
    origin_id, selector_id = sensor.get_remote_origin_id(), sensor.selector_id
    state = sensor.get_current_instigator_state(instance.get_instigator_state(origin_id, selector_id))
    ticks = instance.get_ticks(origin_id, selector_id, limit=1)
    tick = ticks[0] if ticks else None
    error = None
    if tick is not None and tick.error is not None:
        error = (tick.error.message.strip().splitlines() or [""])[0][:200]
    return SensorFacts(sensor.name, state.is_running, tick.timestamp if tick else None,
                       tick.status.value if tick else None, error)


def daemon_check(instance: dg.DagsterInstance, now: float) -> CheckResult:
    """Heartbeats of every daemon this instance needs, judged at `now` (epoch seconds)."""
    from dagster._daemon.controller import get_daemon_statuses

    try:
        statuses = get_daemon_statuses(instance, instance.get_required_daemon_types(), curr_time_seconds=now,
                                       ignore_errors=True)
    except Exception as exc:  # noqa: BLE001
        return CheckResult("service daemon", False, first_line(exc), "check the instance first")
    return daemon_result([DaemonFacts(t, bool(s.healthy), s.last_heartbeat.timestamp if s.last_heartbeat
                                      else None) for t, s in sorted(statuses.items())])


def http_check(name: str, url: str, expect_json_key: str | None = None) -> CheckResult:
    """GET `url`: a 2xx answer (and, if given, a JSON object with that key) within a few seconds."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
            body = response.read(65536)
        if expect_json_key is not None and expect_json_key not in json.loads(body or b"{}"):
            return CheckResult(f"service {name}", False, f"{url}: answer lacks {expect_json_key!r}",
                               f"is {url} really the {name}?")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return CheckResult(f"service {name}", False, f"{url}: {reason}",
                           f"start the {name} or fix its URL (see docs/deploy.md)")
    return CheckResult(f"service {name}", True, f"{url} answers")


def grpc_check(host: str, port: int) -> CheckResult:
    """The code server's gRPC health service answers SERVING (what `dagster api grpc-health-check` asks)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    where = f"{host}:{port}"
    try:
        with grpc.insecure_channel(where) as channel:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=HTTP_TIMEOUT_SECONDS)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    except grpc.RpcError as exc:
        reason = exc.code().name if hasattr(exc, "code") else first_line(exc)
        return CheckResult("service code-server", False, f"{where}: {reason}",
                           "start the code server (dagster api grpc -m devmetrics_assets.definitions ...)")
    if status != "SERVING":
        return CheckResult("service code-server", False, f"{where}: {status}", "see the code server's log")
    return CheckResult("service code-server", True, f"{where} SERVING")
