"""Freshness policies, declarative automation and tier schedules: the rules live in one place.

Freshness: Bronze gets a time-window policy from its source's tier (near_real_time fails after 15 min,
hourly after 1 h, daily after 26 h; warns at half). Silver and Gold inherit the strictest tier of their
inputs plus processing slack. The freshness daemon is not partition-aware and cannot be driven by a test
clock, so Bronze also carries a `freshness` asset check (checks/bronze_checks.py) the notifier acts on.

Automation (state-based, evaluated by `automation_sensors()`):
- Bronze: no condition; it has no upstream to react to. `tier_schedules()` materialise each tier's
  latest Bronze partition on the tier's cadence, which also runs the freshness check when nothing arrived.
- Silver: a partition (an EVENT day) is requested when a new Bronze load says it changed that day
  (`affected_event_days`, so a late delivery re-runs exactly its day, however late), when the pending-work
  ledger holds it (a load that died before Silver), or when it is the newly missing latest partition;
  never while deps are missing / in progress, and only when all blocking checks of its deps passed
  (Bronze's `signature_verification` holds deliveries stored with --no-verify back).
- Gold: a partition is requested when a Silver partition it reads was updated (any window, not only the
  latest: late data re-runs its day, week and month) and all Silver blocking checks passed on the latest
  materialisation (failed or never-run checks both hold Gold back).
`AutomationCondition.eager()` alone would not do: it only considers the latest time partition, so a late
delivery would re-run today's Silver partition instead of the affected one.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from devmetrics_assets.checks.validations import TIER_FAIL_WINDOWS, tier_windows
from devmetrics_assets.sources.registry import SourceSpec

AC = dg.AutomationCondition
AFFECTED_KEY = "affected_event_days"  # Bronze materialisation metadata (defs/bronze.py)
DEFAULT_TIER = "daily"  # SourceSpec's default: used until the definitions pass the real sources
# Processing slack on top of the strictest input tier, cumulative: Silver waits for Bronze, Gold for Silver.
PROCESSING_SLACK = {"silver": timedelta(minutes=30), "gold": timedelta(hours=1)}
GRAIN_PERIOD = {"day": timedelta(0), "week": timedelta(days=7), "month": timedelta(days=31)}
# When each tier's Bronze is materialised (UTC). Daily runs once the day has closed.
TIER_CRON = {"near_real_time": "*/5 * * * *", "hourly": "5 * * * *", "daily": "15 0 * * *"}
AUTOMATION_SENSOR = "devmetrics_automation"
RUN_TAGS = {"devmetrics/trigger": "automation"}


# ================================================================================== freshness
def _policy(fail: timedelta) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=fail / 2)


def strictest_tier(tiers: Iterable[str]) -> str:
    """The tier with the shortest fail window (near_real_time < hourly < daily)."""
    given = list(tiers) or [DEFAULT_TIER]
    for tier in given:
        tier_windows(tier)  # unknown tiers fail loudly
    return min(given, key=lambda t: TIER_FAIL_WINDOWS[t])


def layer_fail_window(layer: str, tiers: Iterable[str] = (), grain: str = "day") -> timedelta:
    """Fail window of a layer: its strictest input tier plus the processing slack up to that layer.

    A weekly / monthly Gold asset is only rebuilt once its period has closed (or late data touches
    it), so its window adds the period length to the daily one.
    """
    fail, _ = tier_windows(strictest_tier(tiers))
    if layer == "bronze":
        return fail
    if layer == "silver":
        return fail + PROCESSING_SLACK["silver"]
    if layer == "gold":
        if grain not in GRAIN_PERIOD:
            raise ValueError(f"unknown Gold grain {grain!r}; known: {list(GRAIN_PERIOD)}")
        return fail + PROCESSING_SLACK["silver"] + PROCESSING_SLACK["gold"] + GRAIN_PERIOD[grain]
    raise ValueError(f"unknown layer {layer!r}")


def bronze_freshness_policy(spec: SourceSpec) -> dg.FreshnessPolicy | None:
    return _policy(layer_fail_window("bronze", [spec.tier]))


def freshness_policy(
    layer: str, tiers: Iterable[str] | None = None, grain: str | None = None
) -> dg.FreshnessPolicy | None:
    """Silver/Gold policy from the strictest tier of `tiers` (default: the default source tier).

    The layers call this with the layer only. Silver gets its policy right away; Gold gets None there
    because its window depends on the grain, which the hook is not told: `with_tier_freshness(defs,
    sources)` applies every Silver and Gold policy with the real sources' tiers and each Gold grain.
    """
    if layer == "gold" and grain is None:
        return None
    return _policy(layer_fail_window(layer, tiers or [DEFAULT_TIER], grain or "day"))


def with_tier_freshness(defs: dg.Definitions, sources: Sequence[SourceSpec]) -> dg.Definitions:
    """`defs` with Silver and Gold freshness derived from the configured sources' tiers (and Gold grain)."""
    tiers = [s.tier for s in sources]

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        grain = str(spec.metadata.get("grain", "day"))
        policy = freshness_policy(spec.group_name or "", tiers, grain=grain)
        return spec.replace_attributes(freshness_policy=policy)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # map_resolved_asset_specs is marked preview
        return defs.map_resolved_asset_specs(func=apply, selection=dg.AssetSelection.groups("silver", "gold"))


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
        days = pending_partition_keys()
        with dg.partition_loading_context(effective_dt=context.evaluation_time):
            valid = {d for d in days if partitions.has_partition_key(d)}
        subset = context.candidate_subset.compute_intersection_with_partition_keys(valid)
        return dg.AutomationResult(context=context, true_subset=subset)


def pending_partition_keys() -> set[str]:
    """Event days in the pending-work ledger, as partition keys (empty when storage is busy or absent)."""
    from pymongo.errors import PyMongoError

    from devmetrics_assets.config import Settings
    from devmetrics_assets.storage.selection import open_storage
    from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

    try:
        pending = open_storage(Settings.from_env()).pending_event_days()
    except (WarehouseLockedError, NothingMaterializedError, PyMongoError):
        return set()
    return {d.date().isoformat() for d in pending["event_day"]}


def _affected_days(
    instance: dg.DagsterInstance, key: dg.AssetKey, after: int, upto: int | None
) -> set[str]:
    """Union of affected_event_days over `key`'s materialisations with after < storage id <= upto."""
    days: set[str] = set()
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after,
                                  before_storage_id=None if upto is None else upto + 1),
            limit=500, cursor=cursor, ascending=True,
        )
        for record in result.records:
            materialization = record.asset_materialization
            value = materialization.metadata.get(AFFECTED_KEY) if materialization else None
            if value is not None:
                days.update(str(d) for d in (value.value or []))
        if not result.has_more:
            return days
        cursor = result.cursor


def _guards(condition: dg.AutomationCondition) -> dg.AutomationCondition:
    # eager()'s guards: nothing missing or running upstream, not already running; plus the trust gate.
    return (
        condition.since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    )


def silver_condition() -> dg.AutomationCondition:
    newly_missing = (AC.in_latest_time_window() & AC.newly_missing()).with_label("newly_missing_latest")
    touched = newly_missing | BronzeLoadsTouched() | PendingEventDays()
    return _guards(touched).with_label("touched_event_days_after_checks")


def gold_condition() -> dg.AutomationCondition:
    newly_missing = (AC.in_latest_time_window() & AC.newly_missing()).with_label("newly_missing_latest")
    return _guards(newly_missing | AC.any_deps_updated()).with_label("eager_any_window_after_checks")


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
