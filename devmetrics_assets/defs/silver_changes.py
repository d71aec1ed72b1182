"""silver_changes: one row per change that landed on a default branch (a merged PR or a direct commit)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverChangesSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.silver_common import bronze_rows, build_silver_asset
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms import silver_entities

# Issue trackers' incidents (GitHub, GitLab issues): what a `Closes #N` can name (PagerDuty's never).
ISSUE_TRACKER_INCIDENTS = silver_entities.issue_tracker_kinds()


def compute_changes(
    warehouse: Storage, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # History before the window is read too: feature-branch pushes give a PR's first commit time.
    # One day past the window too: a PR merged just before midnight has its merge push after it.
    # Every provider's main-line events (GitHub push/pull_request, GitLab Push/Merge Request Hook, generic
    # deployments listing their changes) are read; silver_entities.py runs each provider's parser.
    with reading(warehouse):  # the reads share one connection (storage/reading.py)
        deliveries = bronze_rows(warehouse, silver_entities.kinds("changes"), end + pd.Timedelta(days=1))
        # The incident issues opened so far decide is_hotfix (an issue a change closes must exist before it).
        incidents = bronze_rows(warehouse, ISSUE_TRACKER_INCIDENTS, end + pd.Timedelta(days=1))
    return silver_entities.build_changes(deliveries, rules, start, end, incidents)


def build_silver_changes_asset(
    bronze_keys: Sequence[dg.AssetKey], partitions_def: dg.DailyPartitionsDefinition,
    storage_kind: str = DUCKDB,
) -> dg.AssetsDefinition:
    return build_silver_asset(
        name="silver_changes",
        description=(
            "Changes that landed on a default branch: merged GitHub PRs and GitLab merge requests (merge "
            "method, first commit time, `fixes #N` links) and direct commits. Partitioned by landing day."
        ),
        compute=compute_changes,
        schema=SilverChangesSchema,
        key=["change_id"],
        bronze_keys=bronze_keys,
        partitions_def=partitions_def,
        storage_kind=storage_kind,
    )
