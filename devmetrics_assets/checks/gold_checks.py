"""Asset checks of the Gold assets, computed for the run's window."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.gold_schemas import GoldDoraSchema
from devmetrics_assets.checks.results import (
    schema_check_result,
    schema_check_spec,
    unique_check_result,
    unique_check_spec,
)

GOLD_KEY = ["period", "period_start", "scope_type", "scope"]


def gold_check_specs(name: str) -> list[dg.AssetCheckSpec]:
    return [schema_check_spec(name), unique_check_spec(name, GOLD_KEY)]


def gold_check_results(
    name: str, gold: pd.DataFrame, silver: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    return [schema_check_result(GoldDoraSchema, gold), unique_check_result(gold, GOLD_KEY)]
