"""Run the graph over date ranges, one run per partitioning (used by the CLI, tests and benchmark).

A range of day partitions runs as ONE run (single-run backfill policy), not one run per day: the
per-run cost (process, planning, run storage) is paid once and the data work is vectorised over
the window. Dagster still records one materialisation event per partition of each asset.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.openlineage import emit_after_run
from devmetrics_assets.instance_setup import HOST_TAG, PID_TAG
from devmetrics_assets.run_progress import Progress, RunPhase, phase_label
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.transforms.gold_facts import reach_back_days
from devmetrics_assets.transforms.silver_entities import review_kinds, review_landing_days

DAILY_JOB = "dora_daily_job"
WEEKLY_JOB = "dora_weekly_job"
MONTHLY_JOB = "dora_monthly_job"
QUARANTINE_JOB = "quarantine_job"
SILVER = ("silver_changes", "silver_deployments", "silver_incidents")
GOLD_DAILY = "gold_dora_daily"
GOLD_DAILY_AND_FACTS = [GOLD_DAILY, "gold_fact_deployments", "gold_fact_changes", "gold_fact_incidents"]
SILVER_AND_GOLD_DAILY = (*SILVER, GOLD_DAILY)

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
# The command line reports what went wrong in one line; the run's full log stays in the instance (the UI).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def contiguous_ranges(starts: Sequence[date], step: timedelta = timedelta(days=1)) -> list[tuple[date, date]]:
    """[(first, last), ...] blocks of consecutive partition starts, so a refresh runs exactly those."""
    blocks: list[tuple[date, date]] = []
    for start in sorted(set(starts)):
        if blocks and start == blocks[-1][1] + step:
            blocks[-1] = (blocks[-1][0], start)
        else:
            blocks.append((start, start))
    return blocks


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def run_range(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    first: date,
    last: date,
    asset_names: Sequence[str] | None = None,
    quiet: bool = True,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = True,
    progress: Progress | None = None,
) -> dg.ExecuteInProcessResult:
    """Run `job_name` over partitions first..last (inclusive keys) as one run.

    The run is tagged with this process's id and host: a run whose process was killed stays STARTED in
    the instance, and `devmetrics` marks such runs failed when it finds their process gone
    (instance_setup.fail_orphaned_runs). With `progress`, the run's materialisation events drive
    `[phase] done/total partitions · elapsed` lines (run_progress.py).
    """
    from dagster._core.utils import make_new_run_id

    job = defs.resolve_job_def(job_name)
    run_id = make_new_run_id()
    phase = _start_phase(progress, job, first, last, asset_names) if progress is not None else None
    if phase is not None:
        instance.add_event_listener(run_id, phase.on_event)
    try:
        return job.execute_in_process(
            instance=instance,
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat(), **process_tags(),
                  **(tags or {})},
            run_config=QUIET if quiet else None,
            asset_selection=[dg.AssetKey(n) for n in asset_names] if asset_names else None,
            raise_on_error=raise_on_error,
            run_id=run_id,
        )
    finally:
        if phase is not None:
            phase.finish()
            getattr(instance, "_subscribers", {}).pop(run_id, None)  # the listener lives as long as the run
        # In-process runs never reach the daemon's lineage sensors: send this run's lineage here.
        emit_after_run(defs, instance, run_id)


PARTITIONING = {DAILY_JOB: "daily", WEEKLY_JOB: "weekly", MONTHLY_JOB: "monthly"}


def _start_phase(progress: Progress, job: dg.JobDefinition, first: date, last: date,
                 asset_names: Sequence[str] | None) -> RunPhase:
    """The run's phase: its layers and partitioning, and partitions x assets to materialise."""
    layer = job.asset_layer
    keys = [dg.AssetKey(n) for n in asset_names] if asset_names else sorted(layer.executable_asset_keys)
    groups = [layer.get(k).group_name or "" for k in keys if layer.has(k)]
    partitions = job.partitions_def
    count = 1 if partitions is None else len(partitions.get_partition_keys_in_range(
        dg.PartitionKeyRange(first.isoformat(), last.isoformat())))
    return progress.phase(phase_label(groups, PARTITIONING.get(job.name, "")), count * len(keys))


def process_tags() -> dict[str, str]:
    """Who runs an in-process run: the host and process id (checked when the run is found STARTED)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def materialise_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    days: Sequence[date],
    *,
    include_bronze: bool = True,
    storage: Storage | None = None,
    progress: Progress | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Materialise exactly these day partitions (bronze optional) and the weeks and months holding them.

    Without Bronze, Silver runs over the whole span from the first to the last changed day, as one run,
    before any Gold: a Silver day reads the main line and the deployments of the days before it, so a
    day between two changed days can change too; and Gold of one day reads incidents and rollbacks of
    later days (a change failure belongs to its deployment's day), so a daily Gold computed before a
    later day's Silver would disagree with its week and month (the blocking cross-grain check says so).
    Daily Gold then runs over the same span, plus, with `storage`, the earlier deployment days whose Gold
    these days change (a late incident or rollback); then the weeks and months of all of them. With
    Bronze (one contiguous history, as `devmetrics demo` loads it) each range runs Bronze, Silver and
    daily Gold in one run.
    """
    results = []
    if include_bronze:
        for first, last in contiguous_ranges(days):
            results.append(run_range(defs, instance, DAILY_JOB, first, last, progress=progress))
    elif days:
        if storage is not None:  # a late review changes its pull request's (later) landing day too
            days = sorted({*days, *late_review_days(storage, days)})
        first, last = min(days), max(days)
        results.append(run_range(defs, instance, DAILY_JOB, first, last, SILVER, progress=progress))
        span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        earlier = sorted(reach_back(storage, span, rules_of(defs))) if storage is not None else []
        days = sorted({*span, *earlier})
        for block_first, block_last in contiguous_ranges(days):
            results.append(run_range(defs, instance, DAILY_JOB, block_first, block_last, GOLD_DAILY_AND_FACTS,
                                     progress=progress))
    for first, last in contiguous_ranges([week_start(d) for d in days], timedelta(days=7)):
        results.append(run_range(defs, instance, WEEKLY_JOB, first, last, progress=progress))
    for first, last in contiguous_ranges_of_months(days):
        results.append(run_range(defs, instance, MONTHLY_JOB, first, last, progress=progress))
    # The quarantine view summarises what these runs put aside (unpartitioned, one cheap run).
    quarantine = defs.resolve_job_def(QUARANTINE_JOB)
    quarantined = quarantine.execute_in_process(instance=instance, run_config=QUIET, tags=process_tags())
    emit_after_run(defs, instance, quarantined.run_id)
    results.append(quarantined)
    return results


def rules_of(defs: dg.Definitions) -> DoraRules | None:
    """The business rules the definitions' assets use (their `rules` resource), if they have one."""
    resource = (defs.resources or {}).get("rules")
    return resource.rules() if hasattr(resource, "rules") else None


def reach_back(storage: Storage, days: Sequence[date], rules: DoraRules | None = None) -> set[date]:
    """Deployment days outside `days` whose Gold depends on what changed in `days` (gold_facts)."""
    if not (storage.table_exists("silver_deployments") and storage.table_exists("silver_incidents")):
        return set()
    return reach_back_days(storage.read_table("silver_deployments"), storage.read_table("silver_incidents"),
                           set(days), rules)


def late_review_days(storage: Storage, days: Sequence[date]) -> set[date]:
    """Landing days of the merged changes that reviews on `days` name (transforms/reviews.py).

    A review anchors on its own day, at or before its change's landing day; the change's stage columns
    live in the landing day's Silver row, so that day re-runs too.
    """
    if not (days and storage.table_exists("silver_changes")):
        return set()
    kinds = review_kinds()
    first, last = min(days), max(days)
    rows = storage.read_bronze(kinds, last + timedelta(days=1), first)
    wanted = {pd.Timestamp(d) for d in days}
    rows = rows[pd.to_datetime(rows["event_day"]).isin(wanted)] if not rows.empty else rows
    changes = storage.read_window("silver_changes", "event_day", first, None)
    return {d.date() for d in review_landing_days(rows, changes)} - set(days)


def contiguous_ranges_of_months(days: Sequence[date]) -> list[tuple[date, date]]:
    months = sorted({d.replace(day=1) for d in days})
    blocks: list[tuple[date, date]] = []
    for month in months:
        previous_next = (blocks[-1][1] + timedelta(days=32)).replace(day=1) if blocks else None
        if previous_next == month:
            blocks[-1] = (blocks[-1][0], month)
        else:
            blocks.append((month, month))
    return blocks
