"""Asset checks of the Gold assets, computed for the run's window.

All three are blocking: Gold is what people read, so a failure fails the run and shows red in the UI.
`schema` and `unique_key` as in Silver; `reconciliation` verifies that the numbers add up (org = sum of
repos = sum of teams = sum of services for every count, and the window's org deployments equal Silver's
successful production deployments), which catches a wrong join, a lost scope or a double count that a
per-row schema cannot see.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from devmetrics_assets.checks import validations as V
from devmetrics_assets.checks.bronze_checks import as_check_result
from devmetrics_assets.checks.gold_schemas import GoldDoraSchema
from devmetrics_assets.checks.results import (
    schema_check_result,
    schema_check_spec,
    unique_check_result,
    unique_check_spec,
)

GOLD_KEY = ["period", "period_start", "scope_type", "scope"]
ERROR = dg.AssetCheckSeverity.ERROR


def gold_check_specs(name: str) -> list[dg.AssetCheckSpec]:
    return [
        schema_check_spec(name),
        unique_check_spec(name, GOLD_KEY),
        dg.AssetCheckSpec(
            "reconciliation", asset=name, blocking=True,
            description=("Per period, org = sum over repos = sum over teams = sum over services for every "
                         "count; the window's org deployments = Silver's successful production deployments."),
        ),
    ]


def gold_validations(
    gold: pd.DataFrame, silver: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> list[V.Validation]:
    """Gold's non-pandera validations (usable without Dagster)."""
    return [V.reconcile_gold(gold, silver["deployments"], start, end)]


def gold_check_results(
    name: str, gold: pd.DataFrame, silver: dict[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> list[dg.AssetCheckResult]:
    return [
        schema_check_result(GoldDoraSchema, gold),
        unique_check_result(gold, GOLD_KEY),
        *(as_check_result(v, ERROR) for v in gold_validations(gold, silver, start, end)),
    ]
