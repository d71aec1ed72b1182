"""OpenLineage for every materialisation of the asset graph: the Dagster side (openlineage_events.py builds).

Mechanism, and why. Runs reach the instance two ways: the `devmetrics` command (load, demo, refresh,
the realtime watcher) executes ranges IN PROCESS through `runner.run_range`, never through the daemon;
the UI, schedules, automation and backfills launch runs that the daemon watches. So there are two
callers of the same `emit_run_lineage(instance, run_id, ...)`:

- `runner.run_range` (and the quarantine run of `materialise_days`) call `emit_after_run` once the
  in-process run has finished, whether it succeeded or raised;
- two run-status sensors (SUCCESS, FAILURE), declared only when lineage is configured and RUNNING by
  default, cover the daemon's runs. They skip runs tagged with the runner's process id (`devmetrics/pid`):
  the runner has already sent those, and a daemon sharing the instance must not send them twice.

A job hook would not do: Dagster hooks fire per step, after it, so they see neither the run's start nor
a run that fails before its steps, and a multi-asset step hides which asset failed. Both callers build
the events from the run's event log after the fact (planned assets, materialisations with their
per-partition metadata, the run's start and end times), so the START event carries the run's real start
time even though it is posted at the end; consumers order by eventTime.

Configuration lives in the `openlineage` resource (URL, namespace, endpoint, timeout: nothing secret, so
it may show in the UI); the API key is read from the environment at send time and never stored. The
resource and the sensors exist only when DEVMETRICS_OPENLINEAGE_URL is set: unset costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from devmetrics_assets import openlineage_events as OL
from devmetrics_assets.instance_setup import PID_TAG

log = logging.getLogger(__name__)

RESOURCE_KEY = "openlineage"


class OpenLineageResource(dg.ConfigurableResource):
    """Where lineage goes. The API key is not a field: it is read from DEVMETRICS_OPENLINEAGE_API_KEY."""

    url: str
    namespace: str
    endpoint: str = OL.DEFAULT_ENDPOINT
    timeout_s: float = OL.DEFAULT_TIMEOUT_S

    def lineage_config(self) -> OL.LineageConfig:
        import os

        return OL.LineageConfig(url=self.url, namespace=self.namespace, endpoint=self.endpoint,
                                timeout_s=self.timeout_s, api_key=os.environ.get(OL.API_KEY_ENV) or None)


def lineage_resource(home: Path | str | None) -> OpenLineageResource | None:
    """The resource from the environment, or None when lineage is not configured."""
    config = OL.LineageConfig.from_env(home)
    if config is None:
        return None
    return OpenLineageResource(url=config.url, namespace=config.namespace, endpoint=config.endpoint,
                               timeout_s=config.timeout_s)


def upstream_map(asset_graph: Any) -> dict[str, list[str]]:
    """Each asset's upstream asset names (the input datasets of its OpenLineage runs)."""
    return {node.key.to_user_string(): sorted(k.to_user_string() for k in node.parent_keys)
            for node in asset_graph.asset_nodes}


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def _root_cause(error: Any) -> str | None:
    """The innermost error's message: Dagster wraps the asset's exception in a step-execution error."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip() if error is not None else None


def summarise_run(instance: dg.DagsterInstance, run_id: str,
                  upstream: Mapping[str, Sequence[str]]) -> OL.RunSummary | None:
    """The finished run as lineage needs it, read from the instance's event log."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return None
    run = record.dagster_run
    planned: list[str] = []
    metadata: dict[str, list[dict[str, Any]]] = {}
    finished: dict[str, float] = {}
    error: str | None = None
    types = {DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_MATERIALIZATION,
             DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    for entry in instance.all_logs(run_id, of_type=types):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            name = event.asset_key.to_user_string() if event.asset_key else None
            if name and name not in planned:
                planned.append(name)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialisation = entry.asset_materialization
            if materialisation is None:
                continue
            name = materialisation.asset_key.to_user_string()
            metadata.setdefault(name, []).append({k: _plain(v) for k, v in materialisation.metadata.items()})
            finished[name] = max(finished.get(name, 0.0), entry.timestamp)
        elif error is None and event.event_type == DagsterEventType.STEP_FAILURE:
            error = f"{event.step_key}: {_root_cause(event.step_failure_data.error) or event.message}"
        elif error is None:
            error = event.message
    names = planned + [n for n in metadata if n not in planned]
    assets = [OL.AssetOutcome(name=n, upstream=list(upstream.get(n, [])), materialised=n in metadata,
                              row_count=OL.row_count(metadata.get(n, [])), finished_at=finished.get(n))
              for n in names]
    started = record.start_time or record.create_timestamp.timestamp()
    ended = record.end_time or max([started, *finished.values()])
    return OL.RunSummary(run_id=run_id, job_name=run.job_name, started_at=started, ended_at=ended,
                         succeeded=run.status == dg.DagsterRunStatus.SUCCESS, assets=assets, error=error)


def emit_run_lineage(instance: dg.DagsterInstance, run_id: str, upstream: Mapping[str, Sequence[str]],
                     config: OL.LineageConfig) -> int:
    """Send the run's events; returns how many were accepted. Never raises (lineage is best effort)."""
    try:
        summary = summarise_run(instance, run_id, upstream)
        if summary is None:
            return 0
        return OL.send(OL.build_events(summary, config.namespace), config)
    except Exception as error:  # noqa: BLE001 - a lineage bug must not fail a run or a sensor tick
        log.warning("OpenLineage: no events for run %s (%s: %s)", run_id, type(error).__name__, error)
        return 0


def resource_of(defs: dg.Definitions) -> OpenLineageResource | None:
    resource = (defs.resources or {}).get(RESOURCE_KEY)
    return resource if isinstance(resource, OpenLineageResource) else None


def emit_after_run(defs: dg.Definitions, instance: dg.DagsterInstance, run_id: str) -> int:
    """The command line's call after an in-process run; nothing at all when lineage is not configured."""
    resource = resource_of(defs)
    if resource is None:
        return 0
    try:
        upstream = upstream_map(defs.resolve_asset_graph())
    except Exception as error:  # noqa: BLE001
        log.warning("OpenLineage: no asset graph (%s)", error)
        return 0
    return emit_run_lineage(instance, run_id, upstream, resource.lineage_config())


def lineage_sensors(resource: OpenLineageResource | None) -> list[dg.SensorDefinition]:
    """The run-status sensors for daemon-launched runs (none when lineage is not configured)."""
    if resource is None:
        return []

    def _emit(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
        run = context.dagster_run
        if PID_TAG in run.tags:
            return dg.SkipReason(f"run {run.run_id} ran in process; the devmetrics command sent its lineage")
        upstream = upstream_map(context.repository_def.asset_graph) if context.repository_def else {}
        emit_run_lineage(context.instance, run.run_id, upstream, resource.lineage_config())
        return None

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="openlineage_on_success",
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="OpenLineage START/COMPLETE for the assets of a finished run.")
    def openlineage_on_success(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
        return _emit(context)

    @dg.run_failure_sensor(name="openlineage_on_failure", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="OpenLineage START/COMPLETE/FAIL for the assets of a failed run.")
    def openlineage_on_failure(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
        return _emit(context)

    return [openlineage_on_success, openlineage_on_failure]
