"""Dagster sensors that turn the trust layer's signals into notifications.

- `alerting_asset_checks`: asset-check executions (failures by severity, recoveries). A failed WARN
  check does not fail its run, so run-failure hooks never see it; this reads
  `event_log_storage.get_asset_check_execution_history` per check. Execution rows are created
  PLANNED and updated in place when the result arrives, so a single high-water id would skip a row
  planned before the mark and completed after it; the cursor instead keeps, per check, the ids of
  the recent COMPLETED executions it has handled, and handles any completed one it has not seen. It also
  keeps the partitions still failing per check: "passed again" is sent only once a later execution
  passed over the partitions that failed (alerting/check_recovery.py), not when other days pass.
- `alerting_failed_runs`: runs that failed, reported per asset whose step failed without
  materialising (a blocking-check failure materialised its asset: that is the check sensor's);
  cleared when the asset materialises again.
- `alerting_freshness`: the freshness state the freshness daemon records for assets with a
  `FreshnessPolicy` (`event_log_storage.get_freshness_state_records`): FAIL -> error, WARN ->
  warning, PASS -> recovery. A Bronze `freshness` asset check is reported by the check sensor (kind
  `freshness_failed`).
- `alerting_outbox`: delivers what is still queued (retries with backoff), every tick.

The sensors request no runs. De-duplication is the notifier's (its problem state), so a sensor may
report the same failing state on every tick and the user is told once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as CheckStatus

from devmetrics_assets.alerting import check_recovery as R
from devmetrics_assets.alerting.api import Notification, Notifier

NotifierFactory = Callable[[], Notifier]
CHECK_HISTORY = 25  # completed executions per check read each tick
RUN_LOOKBACK_SECONDS = 300.0  # re-read runs updated this long before the cursor (late commits)
RUN_BATCH = 200
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
COMPLETED = {CheckStatus.SUCCEEDED, CheckStatus.FAILED}


# ---- shared helpers ---------------------------------------------------------------------------
def _ui(notifier: Notifier) -> str | None:
    config = getattr(notifier, "config", None)
    return getattr(config, "ui_base_url", None)


def _links(notifier: Notifier, asset: dg.AssetKey | None = None, run_id: str | None = None,
           checks: bool = False) -> dict[str, str]:
    base = _ui(notifier)
    if not base:
        return {}
    links = {}
    if asset is not None:
        links["asset"] = f"{base}/assets/{'/'.join(asset.path)}" + ("?view=checks" if checks else "")
    if run_id:
        links["run"] = f"{base}/runs/{run_id}"
    return links


def _asset_info(context: dg.SensorEvaluationContext, key: dg.AssetKey) -> tuple[str | None, tuple[str, ...]]:
    graph = context.repository_def.asset_graph if context.repository_def else None
    if graph is None or not graph.has(key):
        return None, ()
    node = graph.get(key)
    return node.group_name, tuple(node.owners)


def _window(run: dg.DagsterRun | None, partition: str | None) -> str | None:
    if partition:
        return partition
    if run is None:
        return None
    tags = run.tags
    if RANGE_START in tags:
        start, end = tags[RANGE_START], tags.get(RANGE_END, tags[RANGE_START])
        return start if start == end else f"{start}...{end}"
    return tags.get("dagster/partition")


def _metadata_text(metadata: dict[str, Any], limit: int = 8) -> list[str]:
    lines = []
    for name, value in list(metadata.items())[:limit]:
        raw = getattr(value, "value", value)
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        text = " ".join(str(text).split())
        lines.append(f"- {name}: {text[:300] + '…' if len(text) > 300 else text}")
    return lines


def _plain_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: json.loads(json.dumps(getattr(v, "value", v), default=str)) for k, v in metadata.items()}


def _load(cursor: str | None) -> dict[str, Any] | None:
    try:
        return json.loads(cursor) if cursor else None
    except ValueError:
        return None  # an unreadable cursor is a first tick


def _deliver(notifier: Notifier) -> str:
    deliver = getattr(notifier, "deliver", None)
    if deliver is None:
        return ""
    report = deliver()
    return f"; delivered {len(report.delivered)}, failed {len(report.failed)}"


# ---- asset checks -----------------------------------------------------------------------------
def _check_notification(context: dg.SensorEvaluationContext, notifier: Notifier,
                        record: Any, step: R.Step | None = None) -> Notification | None:
    evaluation = record.evaluation
    if evaluation is None:
        return None
    key: dg.AssetCheckKey = record.key
    asset = key.asset_key.to_user_string()
    problem_key = f"check:{asset}:{key.name}" + (f":{record.partition}" if record.partition else "")
    group, owners = _asset_info(context, key.asset_key)
    run = context.instance.get_run_by_id(record.run_id)
    window = _window(run, record.partition)
    when = datetime.fromtimestamp(record.event.timestamp if record.event else record.create_timestamp, UTC)
    details = {"check": key.name, "asset": asset, "run_id": record.run_id, "partition_window": window,
               "metadata": _plain_metadata(dict(evaluation.metadata)),
               "links": _links(notifier, key.asset_key, record.run_id, checks=True)}
    where = f" for {window}" if window else ""
    if evaluation.passed:
        cleared = R.describe(step.cleared) if step is not None and step.cleared else None
        fixed = f"; the partitions that failed ({cleared}) pass now" if cleared else ""
        return Notification(problem_key=problem_key, kind="recovered", severity="info",
                            title=f"Check passed again: {asset} / {key.name}",
                            body=f"Asset check `{key.name}` on `{asset}` passed{where}{fixed} "
                                 f"(run {record.run_id}).",
                            occurred_at=when, asset_key=asset, group=group, owners=owners, recovery=True,
                            details=details)
    graph = context.repository_def.asset_graph if context.repository_def else None
    node = graph.get(key) if graph is not None and graph.has(key) else None
    blocking = bool(getattr(node, "blocking", False))
    error = evaluation.severity == dg.AssetCheckSeverity.ERROR
    kind = "freshness_failed" if "freshness" in key.name else "check_failed"
    stopped = ", blocking: downstream steps of the run did not run" if blocking and error else ""
    level = "ERROR" if error else "WARN"
    lines = [f"Asset check `{key.name}` on `{asset}` failed{where} ({level}{stopped})."]
    failed = R.failed_partitions(dict(evaluation.metadata))
    if failed != [R.WHOLE]:
        lines.append(f"Failed partitions: {R.describe(failed)}. It recovers once a run over them passes.")
    description = getattr(node, "description", None) or evaluation.description
    if description:
        lines.append(description)
    lines += _metadata_text(dict(evaluation.metadata))
    return Notification(problem_key=problem_key, kind=kind, severity="error" if error else "warning",
                        title=f"Check failed: {asset} / {key.name}", body="\n".join(lines), occurred_at=when,
                        asset_key=asset, group=group, owners=owners,
                        details={**details, "blocking": blocking})


def _when(record: Any) -> tuple[float, int]:
    return (record.event.timestamp if record.event else record.create_timestamp, record.id)


def _fold(failing: tuple[str, ...], record: Any) -> R.Step:
    evaluation = record.evaluation
    if evaluation is None:
        return R.Step(failing, False, ())
    return R.fold(failing, evaluation.passed, dict(evaluation.metadata))


def check_tick(context: dg.SensorEvaluationContext, notifier: Notifier) -> tuple[str, str]:
    """One evaluation of the check sensor: (new cursor, summary).

    Per check the cursor keeps the ids of the completed executions handled and the partitions still
    failing (alerting/check_recovery.py): a pass sends "passed again" only once it covered them all.
    A check without that state yet (first look, or a cursor from before it existed) rebuilds it from
    the executions already handled, oldest first, without notifying them again.
    """
    cursor = _load(context.cursor) or {}
    seen: dict[str, list[int]] = cursor.get("seen", {})
    failing_by_check: dict[str, list[str]] = cursor.get("failing", {})
    graph = context.repository_def.asset_graph
    storage = context.instance.event_log_storage
    new_seen: dict[str, list[int]] = {}
    new_failing: dict[str, list[str]] = {}
    counts = {"failed": 0, "recovered": 0, "deduplicated": 0, "still_failing": 0}
    for key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        name = key.to_user_string()
        records = storage.get_asset_check_execution_history(key, limit=CHECK_HISTORY, status=COMPLETED)
        if name not in seen:
            fresh = list(records[:1])  # first look at this check: its current state, not its history
        else:
            known = set(seen[name])
            fresh = [r for r in records if r.id not in known]
        fresh.sort(key=_when)
        failing: tuple[str, ...] = tuple(failing_by_check.get(name, ()))
        if name not in failing_by_check:
            fresh_ids = {r.id for r in fresh}
            for record in sorted((r for r in records if r.id not in fresh_ids), key=_when):
                failing = _fold(failing, record).failing
        for record in fresh:
            step = _fold(failing, record)
            before, failing = failing, step.failing
            if record.evaluation is not None and record.evaluation.passed and before and not step.recovered:
                counts["still_failing"] += 1  # a pass over other partitions: the failed data is not fixed
                continue
            notification = _check_notification(context, notifier, record, step)
            if notification is None:
                continue
            if notifier.notify(notification):
                counts["recovered" if notification.recovery else "failed"] += 1
            else:
                counts["deduplicated"] += 1
        new_seen[name] = [r.id for r in records]
        new_failing[name] = list(failing)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    return json.dumps({"v": 2, "seen": new_seen, "failing": new_failing}, separators=(",", ":")), summary


# ---- failed runs ------------------------------------------------------------------------------
def _error_text(error: Any) -> str:
    """The innermost cause (the user's exception), not Dagster's wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = " ".join(str(getattr(error, "message", error)).split())
    return message[:500] + ("…" if len(message) > 500 else "")


def _failed_assets(instance: dg.DagsterInstance, run_id: str) -> dict[dg.AssetKey, str]:
    """Assets planned in a step that failed and not materialised by the run -> the step's error.

    A run that failed with no step failure (its process was killed and the run reaper failed it, or it
    never launched) reports every planned asset it did not materialise, with the run's failure message.
    """
    types = {DagsterEventType.STEP_FAILURE, DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
             DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.RUN_FAILURE}
    planned: dict[str, set[dg.AssetKey]] = {}
    done: set[dg.AssetKey] = set()
    errors: dict[str, str] = {}
    run_failure = "the run failed"
    for entry in instance.all_logs(run_id, of_type=types):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED and event.asset_key:
            planned.setdefault(event.step_key or "", set()).add(event.asset_key)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key:
            done.add(event.asset_key)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            errors[event.step_key or ""] = _error_text(getattr(event.event_specific_data, "error", None))
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            run_failure = " ".join((event.message or run_failure).split())[:500]
    if not errors:
        return {key: run_failure for keys in planned.values() for key in keys if key not in done}
    return {key: errors[step] for step in errors for key in planned.get(step, set()) if key not in done}


def run_tick(context: dg.SensorEvaluationContext, notifier: Notifier) -> tuple[str, str]:
    now = time.time()
    cursor = _load(context.cursor)
    if cursor is None:
        # First tick: start from now (like Dagster's run-status sensors), do not replay old runs.
        return json.dumps({"v": 1, "since": now, "seen": {}, "failing": {}}), "started watching runs"
    since, seen, failing = cursor["since"], cursor["seen"], cursor["failing"]
    records = context.instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE],
                      updated_after=datetime.fromtimestamp(since - RUN_LOOKBACK_SECONDS, UTC)),
        order_by="update_timestamp", ascending=True, limit=RUN_BATCH)
    sent = recovered = 0
    for record in records:
        run = record.dagster_run
        updated = record.update_timestamp.timestamp()
        if run.run_id in seen:
            continue
        seen[run.run_id] = updated
        since = max(since, updated)
        failed = _failed_assets(context.instance, run.run_id)
        window = _window(run, None)
        where = f" for {window}" if window else ""
        for key, error in sorted(failed.items(), key=lambda kv: kv[0].to_user_string()):
            asset = key.to_user_string()
            group, owners = _asset_info(context, key)
            failing[asset] = updated
            sent += notifier.notify(Notification(
                problem_key=f"materialization:{asset}", kind="materialization_failed", severity="error",
                title=f"Materialisation failed: {asset}",
                body=f"Run {run.run_id} ({run.job_name}) failed to materialise `{asset}`{where}.\n"
                     f"Error: {error}",
                occurred_at=record.update_timestamp, asset_key=asset, group=group, owners=owners,
                details={"run_id": run.run_id, "job": run.job_name, "partition_window": window,
                         "error": error, "links": _links(notifier, key, run.run_id)}))
    for asset, failed_at in list(failing.items()):
        latest = context.instance.get_latest_materialization_event(dg.AssetKey.from_user_string(asset))
        if latest is not None and latest.timestamp > failed_at:
            group, owners = _asset_info(context, dg.AssetKey.from_user_string(asset))
            recovered += notifier.notify(Notification(
                problem_key=f"materialization:{asset}", kind="recovered", severity="info",
                title=f"Materialised again: {asset}",
                body=f"`{asset}` materialised successfully (run {latest.run_id}).",
                occurred_at=datetime.fromtimestamp(latest.timestamp, UTC), asset_key=asset, group=group,
                owners=owners, recovery=True,
                details={"run_id": latest.run_id,
                         "links": _links(notifier, dg.AssetKey.from_user_string(asset), latest.run_id)}))
            del failing[asset]
    horizon = since - RUN_LOOKBACK_SECONDS
    seen = {run_id: ts for run_id, ts in seen.items() if ts >= horizon}
    new_cursor = json.dumps({"v": 1, "since": since, "seen": seen, "failing": failing}, separators=(",", ":"))
    return new_cursor, (f"{sent} failure(s) notified, {recovered} recovery(ies), "
                        f"{len(failing)} asset(s) failing")


# ---- freshness --------------------------------------------------------------------------------
def freshness_tick(context: dg.SensorEvaluationContext, notifier: Notifier) -> str:
    graph = context.repository_def.asset_graph
    keys = [n.key for n in graph.asset_nodes if n.freshness_policy_or_from_metadata is not None]
    if not keys:
        return "no asset declares a freshness policy"
    states = context.instance.event_log_storage.get_freshness_state_records(keys)
    counts = {"failed": 0, "recovered": 0}
    for key, record in sorted(states.items(), key=lambda kv: kv[0].to_user_string()):
        state = getattr(record.freshness_state, "value", str(record.freshness_state))
        asset = key.to_user_string()
        group, owners = _asset_info(context, key)
        policy = graph.get(key).freshness_policy_or_from_metadata
        common = {"occurred_at": record.updated_at, "asset_key": asset, "group": group, "owners": owners,
                  "problem_key": f"freshness:{asset}"}
        details = {"state": state, "policy": repr(policy), "links": _links(notifier, key)}
        if state in ("FAIL", "WARN"):
            latest = context.instance.get_latest_materialization_event(key)
            last = (datetime.fromtimestamp(latest.timestamp, UTC).isoformat(timespec="seconds")
                    if latest else "never")
            counts["failed"] += notifier.notify(Notification(
                kind="freshness_failed", severity="error" if state == "FAIL" else "warning",
                title=f"Stale data: {asset} ({state})",
                body=f"`{asset}` is {'past its fail window' if state == 'FAIL' else 'past its warn window'}: "
                     f"last materialised {last}. Policy: {policy!r}.",
                details=details, **common))
        elif state == "PASS":
            counts["recovered"] += notifier.notify(Notification(
                kind="recovered", severity="info", title=f"Fresh again: {asset}",
                body=f"`{asset}` is within its freshness policy again.", recovery=True, details=details,
                **common))
    return f"{counts['failed']} freshness problem(s) notified, {counts['recovered']} recovery(ies)"


# ---- the sensors ------------------------------------------------------------------------------
def notification_sensors(
    notifier_factory: NotifierFactory,
    *,
    minimum_interval_seconds: int = 30,
    prefix: str = "alerting",
) -> list[dg.SensorDefinition]:
    """The alerting sensors, RUNNING by default. `notifier_factory` is called on every tick, so an
    edited alerting.yaml is picked up without a restart (and a malformed one fails the tick with the
    file and field named)."""
    running = dg.DefaultSensorStatus.RUNNING

    @dg.sensor(name=f"{prefix}_asset_checks", minimum_interval_seconds=minimum_interval_seconds,
               default_status=running,
               description="Notifies asset-check failures (by severity) once per problem, and recoveries.")
    def asset_checks(context: dg.SensorEvaluationContext):
        cursor, summary = check_tick(context, notifier_factory())
        context.update_cursor(cursor)
        return dg.SkipReason(summary)

    @dg.sensor(name=f"{prefix}_failed_runs", minimum_interval_seconds=minimum_interval_seconds,
               default_status=running,
               description="Notifies assets whose materialisation failed, and when they materialise again.")
    def failed_runs(context: dg.SensorEvaluationContext):
        cursor, summary = run_tick(context, notifier_factory())
        context.update_cursor(cursor)
        return dg.SkipReason(summary)

    @dg.sensor(name=f"{prefix}_freshness", minimum_interval_seconds=minimum_interval_seconds,
               default_status=running,
               description="Notifies assets past their freshness policy (WARN/FAIL), and when fresh again.")
    def freshness(context: dg.SensorEvaluationContext):
        return dg.SkipReason(freshness_tick(context, notifier_factory()))

    @dg.sensor(name=f"{prefix}_outbox", minimum_interval_seconds=minimum_interval_seconds,
               default_status=running,
               description="Delivers queued notifications: retries with backoff while a channel is down.")
    def outbox(context: dg.SensorEvaluationContext):
        notifier = notifier_factory()
        summary = _deliver(notifier).lstrip("; ") or "nothing to deliver"
        pending = getattr(getattr(notifier, "outbox", None), "pending_count", None)
        return dg.SkipReason(summary + (f", {pending()} pending" if pending else ""))

    return [asset_checks, failed_runs, freshness, outbox]
