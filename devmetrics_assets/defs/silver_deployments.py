"""silver_deployments: one row per deployment with its final status and the changes it shipped."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverDeploymentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.silver_common import bronze_rows, build_silver_asset
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.payloads import as_day

DEPLOYMENT_EVENTS = silver_entities.kinds("deployments")


def compute_deployments(
    warehouse: Storage, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Earlier deployments decide what was live before (rollbacks, shipped ranges); the main line
    # decides which commits a sha brings. One day past the window: a GitLab status anchors on its own
    # time, so a deployment crossing midnight has its final status there (GitHub rows stop at `end`).
    # Deployment rows that carry main-line facts (a generic deployment's `changes`) are already read.
    also = silver_entities.deployment_mainline_providers()
    pushes = tuple(k for k in silver_entities.kinds("mainline") if k[0] not in also)
    with reading(warehouse):  # the reads share one connection (storage/reading.py)
        rows = bronze_rows(warehouse, DEPLOYMENT_EVENTS, end + pd.Timedelta(days=1))
        mainline = bronze_rows(warehouse, pushes, end)
    listed = rows[rows["provider"].isin(also).to_numpy() & (as_day(rows["event_day"]) < end).to_numpy()]
    mainline = pd.concat([mainline, listed], ignore_index=True) if len(listed) else mainline
    return silver_entities.build_deployments(rows, mainline, rules, start, end)


def build_silver_deployments_asset(
    bronze_keys: Sequence[dg.AssetKey], partitions_def: dg.DailyPartitionsDefinition,
    storage_kind: str = DUCKDB,
) -> dg.AssetsDefinition:
    return build_silver_asset(
        name="silver_deployments",
        description=(
            "Deployments per repo and environment (GitHub, GitLab and generic webhooks): final status, "
            "deployed sha, whether production, "
            "whether a rollback, and the main-line changes it shipped. Partitioned by creation day."
        ),
        compute=compute_deployments,
        schema=SilverDeploymentsSchema,
        key=["deployment_id"],
        bronze_keys=bronze_keys,
        partitions_def=partitions_def,
        storage_kind=storage_kind,
    )
