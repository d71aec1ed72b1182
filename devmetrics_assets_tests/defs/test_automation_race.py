"""`UpdatedDuringTick`: a partition materialised while a tick is evaluated is not requested again.

The race it closes: the automation tick fixes its storage cursor when it starts, an arrival run then
materialises Silver of its day, and Dagster's live `in_progress` no longer sees the run. The side-effect
condition below plays that run: it reports the materialisation in the middle of the evaluation.
"""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.defs.automation import UpdatedDuringTick

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_offset=1)


class RunFinishesMidTick(dg.AutomationCondition):
    """True everywhere; materialises `partition` of the asset while the tick is evaluated."""

    def __init__(self, partition: str | None) -> None:
        super().__init__()
        self.partition = partition

    @property
    def name(self) -> str:
        return "run_finishes_mid_tick"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        if self.partition is not None:
            context.asset_graph_view.instance.report_runless_asset_event(
                dg.AssetMaterialization(context.key, partition=self.partition))
        return dg.AutomationResult(context=context, true_subset=context.candidate_subset)


def _requested(partition: str | None, marker: str) -> set[str | None]:
    @dg.asset(name=f"silver_{marker}", partitions_def=PARTITIONS,
              automation_condition=RunFinishesMidTick(partition) & UpdatedDuringTick())
    def _silver() -> None:
        return None

    with dg.instance_for_test() as instance:
        # Materialised before the tick starts: the cursor is past it, so it is not "during the tick".
        instance.report_runless_asset_event(dg.AssetMaterialization(_silver.key, partition="2025-03-01"))
        result = dg.evaluate_automation_conditions(defs=[_silver], instance=instance,
                                                   evaluation_time=PARTITIONS.start.replace(day=5))
        return result.get_requested_partitions(_silver.key)


def test_a_partition_materialised_during_the_tick_is_held_and_nothing_else_is():
    assert _requested("2025-03-03", "a") == {"2025-03-03"}  # (here: the condition `~` of it guards)
    assert _requested(None, "b") == set()
