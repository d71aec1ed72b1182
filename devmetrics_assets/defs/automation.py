"""Declarative automation and tier schedules: when each layer runs (freshness policies: freshness.py).

Automation (state-based, evaluated by `automation_sensors()`):
- Bronze: no condition; it has no upstream to react to. `near_real_time` sources load on arrival (the
  arrivals sensor, defs/arrivals.py); for the other tiers `tier_schedules()` materialise the tier's latest
  Bronze partition on its cadence, which also runs the freshness check when nothing arrived.
- Silver: a partition (an EVENT day) is requested when a new Bronze load says it changed that day
  (`affected_event_days`, so a late delivery re-runs exactly its day, however late), when the pending-work
  ledger holds it (a load that died before Silver), or when it is the newly missing latest partition;
  never while deps are missing / in progress, and only when all blocking checks of its deps passed
  (Bronze's `signature_verification` holds deliveries stored with --no-verify back).
  A late review also re-runs its change's (later) landing day (`runner.late_review_days`).
- Gold: a partition is requested when a Silver partition it reads was updated (any window, not only the
  latest: late data re-runs its day, week and month) and all Silver blocking checks passed on the latest
  materialisation (failed or never-run checks both hold Gold back). Daily Gold and the fact tables are also
  requested for the EARLIER deployment days whose Gold the updated Silver days change (`ReachBackDays`: a
  late incident or rollback blames an earlier release, `runner.reach_back`). A weekly / monthly partition
  waits while a daily partition it reads is requested in another run of the same tick, so its blocking
  cross-grain check never compares against a day about to change.
`AutomationCondition.eager()` alone would not do: it only considers the latest time partition, so a late
delivery would re-run today's Silver partition instead of the affected one.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from devmetrics_assets.checks.validations import TIER_FAIL_WINDOWS
from devmetrics_assets.defs.automation_storage import (
    automation_tick,
    late_review_partition_keys,
    pending_partition_keys,
    reach_back_partition_keys,
)
from devmetrics_assets.sources.registry import SourceSpec

AC = dg.AutomationCondition
AFFECTED_KEY = "affected_event_days"  # Bronze materialisation metadata (defs/bronze.py)
# When each tier's Bronze is materialised (UTC). Daily runs once the day has closed.
TIER_CRON = {"near_real_time": "*/5 * * * *", "hourly": "5 * * * *", "daily": "15 0 * * *"}
AUTOMATION_SENSOR = "devmetrics_automation"
RUN_TAGS = {"devmetrics/trigger": "automation"}


# ================================================================================== automation
class BronzeLoadsTouched(dg.AutomationCondition):
    """True for the partitions (event days) that a Bronze load since the previous tick changed.

    Reads `affected_event_days` from the new materialisations of the asset's parents: a delivery
    received today for an event three weeks ago makes exactly that day true. False on the first
    evaluation (no previous tick to compare with), like `newly_updated`.
    """

    @property
    def name(self) -> str:
        return "bronze_loads_touched_event_day"

    @property
    def description(self) -> str:
        return "A new Bronze load changed deliveries of this event day"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        previous = context.previous_max_storage_id
        if previous is None or context.candidate_subset.is_empty:
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        current = context.max_storage_id
        instance = context.asset_graph_view.instance
        days: set[str] = set()
        for parent in sorted(context.asset_graph.get(context.key).parent_keys):
            days |= _affected_days(instance, parent, previous, current)
        partitions = context.partitions_def
        if partitions is None:
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        days |= late_review_partition_keys(days, tick=automation_tick(context))
        with dg.partition_loading_context(effective_dt=context.evaluation_time):
            valid = {d for d in days if partitions.has_partition_key(d)}
        subset = context.candidate_subset.compute_intersection_with_partition_keys(valid)
        return dg.AutomationResult(context=context, true_subset=subset)


class PendingEventDays(dg.AutomationCondition):
    """True for the Silver partitions (event days) that the pending-work ledger holds.

    A load that died after Bronze committed (kill -9, a locked warehouse, a bad rule) leaves its event
    days in `pending_event_days` (pending_work.py); this makes automation finish them. Read from the
    configured storage in the code server; a warehouse locked by a writer is skipped for this tick.
    """

    @property
    def name(self) -> str:
        return "pending_event_days"

    @property
    def description(self) -> str:
        return "An earlier load left this event day pending (ledger pending_event_days)"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        partitions = context.partitions_def
        if partitions is None or context.candidate_subset.is_empty:
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        # A day whose Silver was materialised after the row was recorded is under way (its Gold, week
        # and month follow from that update); re-requesting it until the month is done would loop.
        days = pending_partition_keys(context.asset_graph_view.instance, context.key)
        with dg.partition_loading_context(effective_dt=context.evaluation_time):
            valid = {d for d in days if partitions.has_partition_key(d)}
        subset = context.candidate_subset.compute_intersection_with_partition_keys(valid)
        return dg.AutomationResult(context=context, true_subset=subset)


class ReachBackDays(dg.AutomationCondition):
    """True for the earlier deployment days whose Gold the Silver days updated since the previous tick change.

    A change failure belongs to the blamed release's day but is learnt later (an incident naming it, a
    rollback), so re-running the incident's own day is not enough: `runner.reach_back` (the rule `devmetrics
    load`, `replay` and the watcher use) finds those earlier days from the stored Silver. Only for assets
    partitioned like their Silver parents (daily Gold, the fact tables); the weeks and months follow from
    daily Gold. Storage is read only when Silver had new materialisations since the previous tick; when it
    cannot be read (a writer holds the warehouse) the changed days wait in the condition's cursor and are
    tried again on the next tick, so none is lost.
    """

    @property
    def name(self) -> str:
        return "reach_back_deployment_days"

    @property
    def description(self) -> str:
        return "A Silver day updated since the previous tick changes this (earlier) deployment day's Gold"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        empty = context.get_empty_subset()
        previous = context.previous_max_storage_id
        partitions = context.partitions_def
        graph = context.asset_graph
        silver = [p for p in sorted(graph.get(context.key).parent_keys)
                  if graph.get(p).group_name == "silver" and graph.get(p).partitions_def == partitions]
        if previous is None or partitions is None or not silver:
            return dg.AutomationResult(context=context, true_subset=empty)
        instance = context.asset_graph_view.instance
        changed = set(json.loads(context.cursor)) if context.cursor else set()
        for parent in silver:
            changed |= _materialised_partitions(instance, parent, previous, context.max_storage_id)
        if not changed:
            return dg.AutomationResult(context=context, true_subset=empty)
        earlier = reach_back_partition_keys(changed, tick=automation_tick(context))
        if earlier is None:  # storage busy: keep the days for the next tick
            return dg.AutomationResult(context=context, true_subset=empty, cursor=json.dumps(sorted(changed)))
        with dg.partition_loading_context(effective_dt=context.evaluation_time):
            valid = {d for d in earlier if partitions.has_partition_key(d)}
        subset = context.candidate_subset.compute_intersection_with_partition_keys(valid)
        return dg.AutomationResult(context=context, true_subset=subset)


class UpdatedDuringTick(dg.AutomationCondition):
    """True for the partitions materialised after the storage cursor this evaluation reads at.

    Dagster fixes a tick's cursor when the tick starts but reads `in_progress` live: a run that
    materialises the partition in between (an arrival run's Silver, seconds after its Bronze) looks
    touched, not yet updated and no longer in progress, and would be requested again. `~` of this holds
    it for one tick; the next one sees the materialisation and resets.
    """

    @property
    def name(self) -> str:
        return "updated_during_tick"

    @property
    def description(self) -> str:
        return "Materialised while this tick was being evaluated"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        if context.partitions_def is None or context.candidate_subset.is_empty:
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        instance = context.asset_graph_view.instance
        # No cursor: the event log was empty when the tick started, so any materialisation is newer.
        updated = _materialised_partitions(instance, context.key, context.max_storage_id or 0, None)
        subset = context.candidate_subset.compute_intersection_with_partition_keys(updated)
        return dg.AutomationResult(context=context, true_subset=subset)


class RequestedInAnotherRun(dg.AutomationCondition):
    """True for this asset's partitions requested this tick in a run other than the evaluated asset's.

    `will_be_requested` is false across partitionings (a daily partition cannot run with its week), so
    `any_deps_updated` alone would launch a week next to a daily run that is about to change one of its
    days; `~any_deps_match(RequestedInAnotherRun())` makes the week wait for the next tick instead.
    """

    @property
    def name(self) -> str:
        return "requested_in_another_run"

    @property
    def description(self) -> str:
        return "Requested this tick, in a run of its own"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        from dagster._core.definitions.assets.graph.asset_graph import executable_in_same_run

        requested = context.request_subsets_by_key.get(context.key)
        root = context.root_context.key
        if requested is None or root == context.key or executable_in_same_run(
            asset_graph=context.asset_graph, child_key=root, parent_key=context.key
        ):
            return dg.AutomationResult(context=context, true_subset=context.get_empty_subset())
        return dg.AutomationResult(context=context, true_subset=requested)


def _affected_days(
    instance: dg.DagsterInstance, key: dg.AssetKey, after: int, upto: int | None
) -> set[str]:
    """Union of affected_event_days over `key`'s materialisations with after < storage id <= upto."""
    days: set[str] = set()
    for record in _materialisations(instance, key, after, upto):
        materialization = record.asset_materialization
        value = materialization.metadata.get(AFFECTED_KEY) if materialization else None
        if value is not None:
            days.update(str(d) for d in (value.value or []))
    return days


def _materialised_partitions(
    instance: dg.DagsterInstance, key: dg.AssetKey, after: int, upto: int | None
) -> set[str]:
    """Partition keys of `key` materialised with after < storage id <= upto."""
    return {r.partition_key for r in _materialisations(instance, key, after, upto) if r.partition_key}


def _materialisations(
    instance: dg.DagsterInstance, key: dg.AssetKey, after: int, upto: int | None
) -> Iterator[dg.EventLogRecord]:
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after,
                                  before_storage_id=None if upto is None else upto + 1),
            limit=500, cursor=cursor, ascending=True,
        )
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def _guards(condition: dg.AutomationCondition) -> dg.AutomationCondition:
    # eager()'s guards: nothing missing or running upstream, not already running; plus the trust gate.
    return (
        condition.since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & ~UpdatedDuringTick()
        & AC.all_deps_blocking_checks_passed()
    )


def silver_condition() -> dg.AutomationCondition:
    newly_missing = (AC.in_latest_time_window() & AC.newly_missing()).with_label("newly_missing_latest")
    touched = newly_missing | BronzeLoadsTouched() | PendingEventDays()
    return _guards(touched).with_label("touched_event_days_after_checks")


def gold_condition() -> dg.AutomationCondition:
    newly_missing = (AC.in_latest_time_window() & AC.newly_missing()).with_label("newly_missing_latest")
    # A day of another partitioning requested this tick (a reach-back day) is about to change: wait for it.
    waits = AC.any_deps_match(RequestedInAnotherRun()).with_label("a_dep_partition_runs_first")
    updated = newly_missing | AC.any_deps_updated() | ReachBackDays()
    return (_guards(updated) & ~waits).with_label("eager_any_window_after_checks")


def automation_condition(layer: str) -> dg.AutomationCondition | None:
    """Bronze: None (tier schedules drive it). Silver / Gold: see the module docstring."""
    if layer == "bronze":
        return None
    if layer == "silver":
        return silver_condition()
    if layer == "gold":
        return gold_condition()
    raise ValueError(f"unknown layer {layer!r}")


def automation_sensors(
    name: str = AUTOMATION_SENSOR,
    minimum_interval_seconds: int = 30,
    run_tags: Mapping[str, str] | None = None,
) -> list[dg.AutomationConditionSensorDefinition]:
    """The sensor that evaluates the conditions, on by default.

    It runs in the code server (`use_user_code_server=True`) because `BronzeLoadsTouched` is Python
    the daemon cannot deserialise; it targets every asset, so Dagster creates no default sensor.
    """
    with warnings.catch_warnings():
        # use_user_code_server is marked beta; it is the documented way to run custom conditions.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [_automation_sensor(name, minimum_interval_seconds, {**RUN_TAGS, **(run_tags or {})})]


def _automation_sensor(name: str, minimum_interval_seconds: int,
                       run_tags: Mapping[str, str]) -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        name,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        use_user_code_server=True,
        minimum_interval_seconds=minimum_interval_seconds,
        run_tags=run_tags,
        description="Silver after Bronze loads touch its event days; Gold after Silver passes checks.",
    )


# ================================================================================== tier schedules
def tier_schedules(
    sources: Sequence[SourceSpec],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.RUNNING,
    run_tags: Mapping[str, str] | None = None,
) -> list[dg.ScheduleDefinition]:
    """One schedule per tier in use: materialise that tier's Bronze assets' latest partition.

    The fallback that keeps Bronze (and its freshness check) running whether or not data arrives;
    automation takes Silver and Gold from there.
    """
    schedules = []
    for tier in sorted({s.tier for s in sources}, key=lambda t: TIER_FAIL_WINDOWS[t]):
        keys = [dg.AssetKey(s.asset_name) for s in sources if s.tier == tier]
        job = dg.define_asset_job(f"bronze_{tier}_job", selection=dg.AssetSelection.assets(*keys),
                                  tags=dict(run_tags or {}))
        schedules.append(_latest_partition_schedule(tier, job, partitions_def, default_status))
    return schedules


def partitions_to_load(
    tier: str, tick: datetime, partitions_def: dg.TimeWindowPartitionsDefinition
) -> list[str]:
    """Received-day partitions a tier's tick loads.

    Daily: the day that just closed (complete). Intra-day tiers: today's open partition, and in the
    first hour of a day also yesterday's, so deliveries received in its last minutes are not missed.
    """
    with dg.partition_loading_context(effective_dt=tick):
        existing = set(partitions_def.get_partition_keys())
    today = tick.astimezone(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    if tier == "daily":
        wanted = [yesterday]
    else:
        wanted = ([yesterday] if tick.astimezone(UTC).hour == 0 else []) + [today.isoformat()]
    return [k for k in wanted if k in existing]


def _latest_partition_schedule(
    tier: str,
    job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    default_status: dg.DefaultScheduleStatus,
) -> dg.ScheduleDefinition:
    @dg.schedule(name=f"bronze_{tier}_schedule", cron_schedule=TIER_CRON[tier], job=job,
                 execution_timezone="UTC", default_status=default_status,
                 description=f"Latest Bronze partition of the {tier} sources ({TIER_CRON[tier]} UTC).")
    def _schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time
        keys = partitions_to_load(tier, tick, partitions_def)
        if not keys:
            return dg.SkipReason("no partition exists yet")
        return [dg.RunRequest(partition_key=k, run_key=f"{tier}:{k}:{tick.isoformat()}",
                              tags={"devmetrics/tier": tier}) for k in keys]

    return _schedule
