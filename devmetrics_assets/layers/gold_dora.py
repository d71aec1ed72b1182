"""Gold: the five DORA metrics per day, ISO week and month, per repo, team, service and organisation.

The three grains are the same model at different partitionings, so one factory builds them. Each
reads Silver rows (not finer Gold), so rollups pool the underlying rows instead of averaging
medians. History outside the window is read where a metric needs it: earlier deployments decide a
change's first shipping, later incidents can mark a deployment of the window as a change failure.
"""


import dagster as dg
import pandas as pd

from devmetrics_assets.automation import automation_condition, freshness_policy
from devmetrics_assets.checks.gold_checks import gold_check_results, gold_check_specs
from devmetrics_assets.partitions import daily_partitions, monthly_partitions, weekly_partitions, window_of
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.gold_metrics import build_gold

SILVER = ("silver_changes", "silver_deployments", "silver_incidents")
SUMMARY_COLUMNS = [
    "period_start", "deployments", "change_failure_rate", "lead_time_median_h",
    "recovery_median_h", "rework_rate", "incidents_opened",
]
MAX_TABLE_ROWS = 40

GRAINS = {
    "day": ("gold_dora_daily", daily_partitions),
    "week": ("gold_dora_weekly", weekly_partitions),
    "month": ("gold_dora_monthly", monthly_partitions),
}


def read_silver(warehouse: Warehouse, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Silver rows a Gold window needs.

    Changes up to the window's end (a change lands before it ships). All deployments and incidents:
    a later rollback or incident can mark a deployment of the window as a change failure.
    """
    missing = [t for t in SILVER if not warehouse.table_exists(t)]
    if missing:
        raise dg.Failure(f"Silver tables not materialised yet: {missing}")
    return {
        "deployments": warehouse.read_table("silver_deployments"),
        "changes": warehouse.read_window("silver_changes", "event_day", None, end),
        "incidents": warehouse.read_table("silver_incidents"),
    }


def markdown_summary(gold: pd.DataFrame) -> str:
    """Organisation rows as a Markdown table (the latest periods when the window is long)."""
    org = gold[gold["scope_type"] == "org"].sort_values("period_start")[SUMMARY_COLUMNS]
    if len(org) > MAX_TABLE_ROWS:
        org = org.tail(MAX_TABLE_ROWS)
    shown = org.assign(period_start=org["period_start"].dt.strftime("%Y-%m-%d"))
    return shown.to_markdown(index=False, floatfmt=".3g")


def build_gold_asset(period: str) -> dg.AssetsDefinition:
    name, partitions = GRAINS[period]

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
        deps=list(SILVER),
        kinds={"duckdb", "pandas"},
        owners=["team:engineering-insights"],
        metadata={"partition_column": "period_start", "grain": period},
        required_resource_keys={"warehouse", "rules"},
        check_specs=gold_check_specs(name),
        freshness_policy=freshness_policy("gold"),
        automation_condition=automation_condition("gold"),
    )
    def _gold(context: dg.AssetExecutionContext):
        start, end = window_of(context)
        silver = read_silver(context.resources.warehouse.warehouse(), end)
        gold = build_gold(
            silver["deployments"], silver["changes"], silver["incidents"],
            context.resources.rules.rules(), period, start, end,
        )
        org = gold[gold["scope_type"] == "org"]
        yield dg.Output(
            gold,
            metadata={
                "rows": len(gold),
                "periods": int(gold["period_start"].nunique()) if len(gold) else 0,
                "repos": int(gold.loc[gold["scope_type"] == "repo", "scope"].nunique()),
                "deployments": int(org["deployments"].sum()),
                "incidents_opened": int(org["incidents_opened"].sum()),
                "org_metrics": dg.MetadataValue.md(markdown_summary(gold)),
            },
        )
        yield from gold_check_results(name, gold, silver, start, end)

    return _gold
