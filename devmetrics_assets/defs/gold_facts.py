"""Gold fact tables: the per-deployment, per-change and per-incident rows daily Gold is computed from.

One multi-asset writes the three tables (`gold_fact_deployments`, `gold_fact_changes`,
`gold_fact_incidents`), daily-partitioned by the day each row is attributed to (`event_day`: the release's
day, the first shipping release's day, the incident's opening day), because the facts are derived
together from the same Silver history (transforms/fact_tables.py, as `build_gold` does) and only the
run's window is written. `devmetrics explain`, the notebooks (`load_facts`) and reports read them.

Why the facts depend on gold_dora_daily: each table carries a blocking `reconciles_with_gold` check that
compares the STORED daily Gold of the run's window with the aggregate of the facts
(`gold_metrics.aggregate`). For that comparison to be meaningful, daily Gold of the same days must be
written first, from the same Silver; the dependency makes Dagster order it so in a run (and automation
materialise the facts after daily Gold passed its own blocking checks).
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.results import with_scope
from devmetrics_assets.checks.validations_core import Validation
from devmetrics_assets.checks.validations_facts import CHECK_NAME, expected_daily_gold, reconcile_facts
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.defs.automation import automation_condition
from devmetrics_assets.defs.freshness import freshness_policy
from devmetrics_assets.defs.gold_dora import DAILY, SILVER, read_daily_gold, read_silver
from devmetrics_assets.partitions import PartitionSet, window_of
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms.fact_tables import FACT_TABLES, daily_counts, fact_tables, in_window

DESCRIPTIONS = {
    "deployments": ("One row per release and per failed production deployment attempt, with its change "
                    "failure (failure_kinds: root_cause / inferred / rollback), recovery and rework facts."),
    "changes": ("One row per change shipped to production, at the release that first shipped it, with its "
                "lead time (and lead-time stages when Gold computes them) and why it has none."),
    "incidents": ("One row per incident by opening day, with the release it was linked to (deployment_id) "
                  "and how (link: root_cause | inferred)."),
}
# Per-partition metadata: how many rows of the day carry each flag.
FLAGS = {
    "deployments": ["is_success", "is_change_failure", "is_rework", "is_rollback", "is_failed_attempt"],
    "changes": [],
    "incidents": [],
}


def _outs(storage_kind: str) -> dict[str, dg.AssetOut]:
    return {
        table: dg.AssetOut(
            key=table,
            description=DESCRIPTIONS[kind],
            group_name="gold",
            kinds={storage_kind, "pandas"},
            owners=["team:engineering-insights"],
            metadata={"partition_column": "event_day", "grain": "day", "fact": kind},
            freshness_policy=freshness_policy("gold"),
            automation_condition=automation_condition("gold"),
        )
        for kind, table in FACT_TABLES.items()
    }


def _check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CHECK_NAME, asset=table, blocking=True,
            description=(f"For every day and scope of the run's window, stored gold_dora_daily equals the "
                         f"aggregate of {table} (gold_metrics.aggregate) for every count and statistic it "
                         "feeds."),
        )
        for table in FACT_TABLES.values()
    ]


def _check_result(table: str, validation: Validation, scope: PartitionScope) -> dg.AssetCheckResult:
    """The result with the partitions it judged (and the failed ones), like every other check's."""
    return dg.AssetCheckResult(
        asset_key=table, check_name=validation.name, passed=validation.passed,
        severity=dg.AssetCheckSeverity.ERROR, description=validation.summary,
        metadata=with_scope(validation.metadata(), scope, validation.passed, validation.failed_days,
                            validation.judges),
    )


def _partition_metadata(context: dg.AssetExecutionContext, kind: str, window: pd.DataFrame) -> None:
    """Each day's own counts on its own partition (never the window's totals on every day)."""
    counts = daily_counts(window, FLAGS[kind])
    zero = {"rows": 0, **dict.fromkeys(FLAGS[kind], 0)}
    for key in context.partition_keys:
        day = pd.Timestamp(key).normalize()
        context.add_asset_metadata(counts.get(day, zero), asset_key=FACT_TABLES[kind], partition_key=key)


def build_gold_facts_asset(partition_set: PartitionSet, storage_kind: str = DUCKDB) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="gold_facts",
        outs=_outs(storage_kind),
        # Daily Gold first: the reconciliation check reads the stored daily Gold of the window.
        deps=[*SILVER, DAILY],
        check_specs=_check_specs(),
        partitions_def=partition_set.daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={"warehouse", "rules"},
    )
    def _facts(context: dg.AssetExecutionContext) -> Iterator[dg.Output | dg.AssetCheckResult]:
        start, end = window_of(context)
        warehouse = context.resources.warehouse.warehouse()
        rules = context.resources.rules.rules()
        facts = fact_tables(read_silver(warehouse, end), rules)
        window = {kind: in_window(frame, start, end) for kind, frame in facts.items()}
        for kind, table in FACT_TABLES.items():
            _partition_metadata(context, kind, window[kind])
            yield dg.Output(window[kind], output_name=table)
        expected = expected_daily_gold(window, rules, start, end)
        stored = read_daily_gold(warehouse, start, end)
        scope = PartitionScope.of(context.partition_keys, end)
        for kind, table in FACT_TABLES.items():
            yield _check_result(table, reconcile_facts(kind, stored, expected, start, end), scope)

    return _facts
