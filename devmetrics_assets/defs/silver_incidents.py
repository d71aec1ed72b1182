"""silver_incidents: one row per repo-qualified incident issue with its life cycle and root cause."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.silver_common import bronze_rows, build_silver_asset
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.transforms import silver_entities

ISSUE_EVENTS = silver_entities.open_ended_incident_kinds(False)
# PagerDuty notes carry no incident time and anchor on their received day: read those days onwards.
OPEN_ENDED_EVENTS = silver_entities.open_ended_incident_kinds(True)
OPEN_ENDED = pd.Timestamp("2200-01-01")


def compute_incidents(
    warehouse: Storage, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # An incident's whole life is anchored on its opening day, so only the window's issues are
    # read (PagerDuty: from the window start on); the main line turns a short root-cause sha into a full one.
    with reading(warehouse):  # the reads share one connection (storage/reading.py)
        rows = bronze_rows(warehouse, ISSUE_EVENTS, end, start)
        paged = bronze_rows(warehouse, OPEN_ENDED_EVENTS, OPEN_ENDED, start)
        rows = pd.concat([rows, paged], ignore_index=True) if len(paged) else rows
        # No incident row in the window (most days, most shards): nothing to resolve, so the main
        # line's history is not read (build_incidents never looks at it without incident rows).
        mainline = bronze_rows(warehouse, silver_entities.kinds("mainline"), end) if len(rows) else rows
    return silver_entities.build_incidents(rows, mainline, rules, start, end)


def build_silver_incidents_asset(
    bronze_keys: Sequence[dg.AssetKey], partitions_def: dg.DailyPartitionsDefinition,
    storage_kind: str = DUCKDB,
) -> dg.AssetsDefinition:
    return build_silver_asset(
        name="silver_incidents",
        description=(
            "Incidents (GitHub/GitLab issues labelled as incidents by configuration, GitLab incident issues, "
            "PagerDuty incidents, generic incidents), repo-qualified: opened, "
            "resolved and reopened times and the root-cause commit. Partitioned by opening day."
        ),
        compute=compute_incidents,
        schema=SilverIncidentsSchema,
        key=["incident_id"],
        bronze_keys=bronze_keys,
        partitions_def=partitions_def,
        storage_kind=storage_kind,
    )
