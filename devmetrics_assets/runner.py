"""Run the graph over date ranges, one run per partitioning (used by the CLI, tests and benchmark).

A range of day partitions runs as ONE run (single-run backfill policy), not one run per day: the
per-run cost (process, planning, run storage) is paid once and the data work is vectorised over
the window. Dagster still records one materialisation event per partition of each asset.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.transforms.gold_facts import reach_back_days

DAILY_JOB = "dora_daily_job"
WEEKLY_JOB = "dora_weekly_job"
MONTHLY_JOB = "dora_monthly_job"
QUARANTINE_JOB = "quarantine_job"
SILVER_AND_GOLD_DAILY = ("silver_changes", "silver_deployments", "silver_incidents", "gold_dora_daily")

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


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
) -> dg.ExecuteInProcessResult:
    """Run `job_name` over partitions first..last (inclusive keys) as one run."""
    job = defs.resolve_job_def(job_name)
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        run_config=QUIET if quiet else None,
        asset_selection=[dg.AssetKey(n) for n in asset_names] if asset_names else None,
    )


def materialise_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    days: Sequence[date],
    *,
    include_bronze: bool = True,
    storage: Storage | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Materialise exactly these day partitions (bronze optional) and the weeks and months holding them.

    With `storage`, also the earlier deployment days whose Gold these days change (a late incident or
    rollback marks an earlier deployment as a change failure): their daily Gold, weeks and months.
    """
    results = []
    daily_assets = None if include_bronze else SILVER_AND_GOLD_DAILY
    for first, last in contiguous_ranges(days):
        results.append(run_range(defs, instance, DAILY_JOB, first, last, daily_assets))
    if storage is not None and not include_bronze:
        earlier = sorted(reach_back(storage, days))
        for first, last in contiguous_ranges(earlier):
            results.append(run_range(defs, instance, DAILY_JOB, first, last, ["gold_dora_daily"]))
        days = [*days, *earlier]
    for first, last in contiguous_ranges([week_start(d) for d in days], timedelta(days=7)):
        results.append(run_range(defs, instance, WEEKLY_JOB, first, last))
    for first, last in contiguous_ranges_of_months(days):
        results.append(run_range(defs, instance, MONTHLY_JOB, first, last))
    # The quarantine view summarises what these runs put aside (unpartitioned, one cheap run).
    quarantine_job = defs.resolve_job_def(QUARANTINE_JOB)
    results.append(quarantine_job.execute_in_process(instance=instance, run_config=QUIET))
    return results


def reach_back(storage: Storage, days: Sequence[date]) -> set[date]:
    """Deployment days outside `days` whose Gold depends on what changed in `days` (gold_facts)."""
    if not (storage.table_exists("silver_deployments") and storage.table_exists("silver_incidents")):
        return set()
    return reach_back_days(storage.read_table("silver_deployments"), storage.read_table("silver_incidents"),
                           set(days))


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
