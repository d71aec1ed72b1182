"""Asset checks of the Gold assets, computed for the run's window.

Blocking (Gold is what people read: a failure fails the run and shows red in the UI): `schema` and
`unique_key` as in Silver; `reconciliation` verifies that the numbers add up across scopes (org = sum of
repos = sum of teams = sum of services for every scope-additive count, and the window's org deployments
equal Silver's releases), which catches a wrong join, a lost scope or a double count that a per-row
schema cannot see; on the weekly and monthly assets `cross_grain_reconciliation` verifies that every count
of every scope equals the sum of its days in daily Gold (a stale or missing day shows). Warning:
`root_cause_timing` names the incidents whose root cause was first deployed after they were resolved
(no link is made from them).
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
from devmetrics_assets.checks.validations_gold import reconcile_grains, root_cause_timing
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_links import incident_links
from devmetrics_assets.transforms.gold_releases import release_rows

GOLD_KEY = ["period", "period_start", "scope_type", "scope"]
ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
DAILY = "gold_dora_daily"


def gold_check_specs(name: str) -> list[dg.AssetCheckSpec]:
    specs = [
        schema_check_spec(name),
        unique_check_spec(name, GOLD_KEY),
        dg.AssetCheckSpec(
            "reconciliation", asset=name, blocking=True,
            description=("Per period, org = sum over repos = sum over teams = sum over services for every "
                         "count; the window's org deployments = Silver's releases."),
        ),
        dg.AssetCheckSpec(
            "root_cause_timing", asset=name, blocking=False,
            description=("Warns when an incident of the window names a root cause first deployed after the "
                         "incident was resolved (such a root cause is not counted as its cause)."),
        ),
    ]
    if name != DAILY:
        specs.append(dg.AssetCheckSpec(
            "cross_grain_reconciliation", asset=name, blocking=True, additional_deps=[DAILY],
            description=("Every count of every scope equals the sum of its days in gold_dora_daily "
                         "(a day computed before its inputs arrived, or never re-computed, shows here)."),
        ))
    return specs


def invalid_root_causes(
    silver: dict[str, pd.DataFrame], rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Root causes of incidents opened in [start, end) whose deployment started after resolution."""
    incidents = silver["incidents"]
    if incidents.empty:
        return pd.DataFrame(columns=["incident_id", "deployment_id", "deployment_started_at",
                                     "incident_resolved_at"])
    day = pd.to_datetime(incidents["event_day"])
    window = incidents[(day >= start) & (day < end)]
    _, invalid = incident_links(release_rows(silver["deployments"], rules), window, rules)
    return invalid


def gold_validations(
    gold: pd.DataFrame,
    silver: dict[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    daily: pd.DataFrame | None = None,
) -> list[V.Validation]:
    """Gold's blocking non-pandera validations (usable without Dagster); `daily`: the stored daily Gold
    rows of the window, for the weekly and monthly grains."""
    found = [V.reconcile_gold(gold, silver["deployments"], start, end)]
    if daily is not None:
        period = str(gold["period"].iloc[0]) if len(gold) else "week"
        found.append(reconcile_grains(gold, daily, period, start, end))
    return found


def gold_check_results(
    name: str,
    gold: pd.DataFrame,
    silver: dict[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    daily: pd.DataFrame | None = None,
    rules: DoraRules | None = None,
) -> list[dg.AssetCheckResult]:
    if name != DAILY and daily is None:
        daily = gold.iloc[:0]
    timing = root_cause_timing(invalid_root_causes(silver, rules or DoraRules(), start, end))
    return [
        schema_check_result(GoldDoraSchema, gold),
        unique_check_result(gold, GOLD_KEY),
        *(as_check_result(v, ERROR) for v in gold_validations(gold, silver, start, end, daily)),
        as_check_result(timing, WARN),
    ]
