"""silver_deployments: one row per deployment with its final status and the changes it shipped."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverDeploymentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.layers.silver_common import MAINLINE_EVENTS, bronze_rows, build_silver_asset
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.silver_deployments import build_silver_deployments

DEPLOYMENT_EVENTS = ("deployment", "deployment_status")


def compute_deployments(
    warehouse: Warehouse, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Earlier deployments decide what was live before (rollbacks, shipped ranges); the main line
    # decides which commits a sha brings.
    return build_silver_deployments(
        bronze_rows(warehouse, DEPLOYMENT_EVENTS, end),
        bronze_rows(warehouse, MAINLINE_EVENTS, end),
        rules,
        start,
        end,
    )


def build_silver_deployments_asset(bronze_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    return build_silver_asset(
        name="silver_deployments",
        description=(
            "Deployments per repo and environment: final status, deployed sha, whether production, "
            "whether a rollback, and the main-line changes it shipped. Partitioned by creation day."
        ),
        compute=compute_deployments,
        schema=SilverDeploymentsSchema,
        key=["deployment_id"],
        bronze_keys=bronze_keys,
    )
