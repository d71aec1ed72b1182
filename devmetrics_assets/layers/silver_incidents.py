"""silver_incidents: one row per repo-qualified incident issue with its life cycle and root cause."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.layers.silver_common import MAINLINE_EVENTS, bronze_rows, build_silver_asset
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.silver_incidents import build_silver_incidents

ISSUE_EVENTS = ("issues", "issue_comment")


def compute_incidents(
    warehouse: Warehouse, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    # An incident's whole life is anchored on its opening day, so only the window's issues are
    # read; the main line turns a short root-cause sha into a full one.
    return build_silver_incidents(
        bronze_rows(warehouse, ISSUE_EVENTS, end, start),
        bronze_rows(warehouse, MAINLINE_EVENTS, end),
        rules,
        start,
        end,
    )


def build_silver_incidents_asset(bronze_keys: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    return build_silver_asset(
        name="silver_incidents",
        description=(
            "Incidents (issues labelled as incidents by configuration), repo-qualified: opened, "
            "resolved and reopened times and the root-cause commit. Partitioned by opening day."
        ),
        compute=compute_incidents,
        schema=SilverIncidentsSchema,
        key=["incident_id"],
        bronze_keys=bronze_keys,
    )
