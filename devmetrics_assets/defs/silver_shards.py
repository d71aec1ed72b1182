"""A Silver model computed shard by shard (storage/bronze_shards.py) and put back together.

Each shard runs the model's own compute function on a view of the warehouse whose Bronze reads see
only that shard's repos, over the SAME window: a repo's whole history (main line, earlier deployments,
feature-branch pushes, incident issues) is in its shard, so no state has to cross a boundary and each
shard's rows are exactly the rows one pass gives for those repos. The union is then put in the order
and dtypes one pass gives. No Dagster here: the benchmark and tests call it directly.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.bronze_shards import SHARD_DELIVERIES, ShardView, shard_plan
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.transforms import memos
from devmetrics_assets.transforms.payloads import conform
from devmetrics_assets.transforms.silver_contract import CHANGES_DTYPES, DEPLOYMENTS_DTYPES, INCIDENTS_DTYPES

Compute = Callable[[Storage, DoraRules, pd.Timestamp, pd.Timestamp], tuple[pd.DataFrame, pd.DataFrame]]

# The order silver_entities.build_* sorts each model's rows in (the last column is the unique key).
ORDER = {
    "silver_changes": (["event_day", "landed_at", "change_id"], CHANGES_DTYPES),
    "silver_deployments": (["event_day", "created_at", "deployment_id"], DEPLOYMENTS_DTYPES),
    "silver_incidents": (["event_day", "opened_at", "incident_id"], INCIDENTS_DTYPES),
}


def merge_shards(
    name: str, parts: list[tuple[pd.DataFrame, pd.DataFrame]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows, rejects) of every shard as one pass gives them: rows in the model's order and dtypes."""
    order, dtypes = ORDER[name]
    frames = [rows for rows, _ in parts if len(rows)]
    rows = pd.concat(frames, ignore_index=True) if frames else parts[0][0]
    rows = conform(rows.sort_values(order, kind="stable"), dtypes)
    rejected = [r for _, r in parts if len(r)]
    rejects = pd.concat(rejected, ignore_index=True) if rejected else parts[0][1]
    return rows, rejects


def sharded(name: str, compute: Compute, max_deliveries: int = SHARD_DELIVERIES) -> Compute:
    """`compute` run per repo shard when the warehouse is large enough to need it, else in one pass."""

    def run(
        warehouse: Storage, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        with reading(warehouse):  # its three queries share one connection (storage/reading.py)
            plan = shard_plan(warehouse, max_deliveries)
        if plan is None:
            return compute(warehouse, rules, start, end)
        parts, reusable = [], memos.reusable(len(plan))
        for seqs in plan:
            view = ShardView(warehouse, seqs)  # type: ignore[arg-type]  # plan is only made for a Warehouse
            parts.append(compute(view, rules, start, end))  # type: ignore[arg-type]
            if not reusable:  # the next model asks for this shard only after the memo has evicted it
                memos.drop_all()
        return merge_shards(name, parts)

    return run
