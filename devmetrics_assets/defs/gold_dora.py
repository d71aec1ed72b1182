"""Gold: the five DORA metrics per day, ISO week and month, per repo, team, service and organisation.

The three grains are the same model at different partitionings, so one factory builds them. Each
computes from Silver rows (not finer Gold), so rollups pool the underlying rows instead of averaging
medians. History outside the window is read where a metric needs it: earlier deployments decide a
change's first shipping, later incidents can mark a deployment of the window as a change failure.
Weeks and months then read the stored daily Gold of their window for the blocking cross-grain check
(every count of every scope = the sum of its days), which is why the daily asset is upstream of them.

Each partition's materialisation carries its own period's numbers (defs/partition_metadata.py), plus
what is true of the whole run: `run_window`, and `data_through` / `data_age_days` (the newest Silver event
day read and its age at the product clock's now: how old the DATA is, whatever the run's time).
"""


import dagster as dg
import pandas as pd

from devmetrics_assets import clock
from devmetrics_assets.checks.gold_checks import gold_check_results, gold_check_specs
from devmetrics_assets.checks.validations_gold import data_age_days, silver_data_through
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.defs import partition_metadata as PM
from devmetrics_assets.defs.automation import automation_condition
from devmetrics_assets.defs.freshness import freshness_policy
from devmetrics_assets.partitions import PartitionSet, window_of
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms.gold_metrics import build_gold

SILVER = ("silver_changes", "silver_deployments", "silver_incidents")
DAILY = "gold_dora_daily"

GRAINS = {"day": "gold_dora_daily", "week": "gold_dora_weekly", "month": "gold_dora_monthly"}


def read_silver(warehouse: Storage, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Silver rows a Gold window needs.

    Changes up to the window's end (a change lands before it ships). All deployments and incidents:
    a later rollback or incident can mark a deployment of the window as a change failure.
    """
    with reading(warehouse):  # the reads share one connection (storage/reading.py)
        missing = [t for t in SILVER if not warehouse.table_exists(t)]
        if missing:
            raise dg.Failure(f"Silver tables not materialised yet: {missing}")
        return {
            "deployments": warehouse.read_table("silver_deployments"),
            "changes": warehouse.read_window("silver_changes", "event_day", None, end),
            "incidents": warehouse.read_table("silver_incidents"),
        }


def read_daily_gold(warehouse: Storage, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The stored daily Gold rows of [start, end) (none yet: an empty frame, so any count mismatches)."""
    if not warehouse.table_exists(DAILY):
        return pd.DataFrame(columns=["period_start", "scope_type", "scope"])
    return warehouse.read_window(DAILY, "period_start", start, end)


def build_gold_asset(
    period: str, partition_set: PartitionSet, storage_kind: str = DUCKDB
) -> dg.AssetsDefinition:
    name, partitions = GRAINS[period], partition_set.for_grain(period)

    @dg.asset(
        name=name,
        group_name="gold",
        description=(
            f"DORA metrics per {period}: deployment frequency, lead time for changes (median, p90), "
            "change failure rate, failed-deployment recovery time (median, p90) and rework rate, per "
            "repo, team, service and organisation, with DORA performance bands."
        ),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Weeks and months are checked against the stored days (cross_grain_reconciliation): the days
        # are upstream, so automation materialises them first.
        deps=[*SILVER, *([DAILY] if period != "day" else [])],
        kinds={storage_kind, "pandas"},
        owners=["team:engineering-insights"],
        metadata={"partition_column": "period_start", "grain": period},
        required_resource_keys={"warehouse", "rules"},
        check_specs=gold_check_specs(name),
        freshness_policy=freshness_policy("gold"),
        automation_condition=automation_condition("gold"),
    )
    def _gold(context: dg.AssetExecutionContext):
        start, end = window_of(context)
        warehouse = context.resources.warehouse.warehouse()
        rules = context.resources.rules.rules()
        silver = read_silver(warehouse, end)
        gold = build_gold(
            silver["deployments"], silver["changes"], silver["incidents"], rules, period, start, end,
        )
        scope = PartitionScope.of(context.partition_keys, end)
        through, now = silver_data_through(silver), clock.utc_now()
        # About the data, not the run: the newest Silver event day this Gold was computed from, and its
        # age at the product clock's now (DEVMETRICS_NOW pins it). True of every partition the run wrote.
        freshness = {"data_through": through.date().isoformat() if through is not None else "none",
                     "data_age_days": data_age_days(through, now)}
        PM.record(context, PM.gold_partitions(scope, gold))
        yield dg.Output(gold, metadata={**PM.run_metadata(scope),
                                        **{k: v for k, v in freshness.items() if v is not None}})
        daily = read_daily_gold(warehouse, start, end) if period != "day" else None
        yield from gold_check_results(name, gold, silver, start, end, daily, rules, scope, now)

    return _gold
