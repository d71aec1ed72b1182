"""Asset checks of the Gold assets, computed for the run's window.

Blocking (Gold is what people read: a failure fails the run and shows red in the UI): `schema` and
`unique_key` as in Silver; `reconciliation` verifies that the numbers add up across scopes (org = sum of
repos = sum of teams = sum of services for every scope-additive count, and the window's org deployments
equal Silver's releases), which catches a wrong join, a lost scope or a double count that a per-row
schema cannot see; on the weekly and monthly assets `cross_grain_reconciliation` verifies that every count
of every scope equals the sum of its days in daily Gold (a stale or missing day shows). Warnings:
`root_cause_timing` names the incidents whose root cause was first deployed after they were resolved
(no link is made from them); `data_recency` is about the DATA, not the run: it warns when the newest
Silver event day Gold was computed from is more than DEVMETRICS_DATA_MAX_AGE_DAYS (default 2) days old
at the product clock's now, however recent the run.

Every result names the partitions it judged and, on failure, the failed ones (checks/validations_scope.py).
"""

from __future__ import annotations

import os
from typing import Any

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
from devmetrics_assets.checks.validations_gold import (
    data_recency,
    reconcile_grains,
    root_cause_timing,
    silver_data_through,
)
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_links import incident_links
from devmetrics_assets.transforms.gold_releases import release_rows

GOLD_KEY = ["period", "period_start", "scope_type", "scope"]
ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
DAILY = "gold_dora_daily"
MAX_AGE_ENV = "DEVMETRICS_DATA_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 2


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
    specs.append(dg.AssetCheckSpec(
        "data_recency", asset=name, blocking=False,
        description=(f"About the DATA, not the run: warns when the newest event day in Silver that this Gold "
                     f"was computed from (`data_through`) is more than {_allowed()} before now "
                     f"({MAX_AGE_ENV}); a run that finished a minute ago over old data still warns."),
    ))
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
    if len(invalid) and "incident_id" in invalid and "incident_id" in window:
        opened = window.drop_duplicates("incident_id").set_index("incident_id")["event_day"]
        invalid = invalid.assign(event_day=invalid["incident_id"].map(opened))
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
    scope: PartitionScope | None = None,
    now: Any | None = None,
) -> list[dg.AssetCheckResult]:
    """Check results for the window; `scope` (the run's partitions) is named in each with the failed
    partitions; `now` (default: the product clock) judges `data_recency`."""
    if name != DAILY and daily is None:
        daily = gold.iloc[:0]
    timing = root_cause_timing(invalid_root_causes(silver, rules or DoraRules(), start, end))
    try:
        recency = data_recency(silver_data_through(silver), now, max_data_age_days())
    except ValueError as exc:  # a malformed setting: said by the (non-blocking) check, Gold is still written
        recency = V.Validation("data_recency", False, str(exc), judges="now")
    return [
        schema_check_result(GoldDoraSchema, gold, scope, "period_start"),
        unique_check_result(gold, GOLD_KEY, scope, "period_start"),
        *(as_check_result(v, ERROR, scope) for v in gold_validations(gold, silver, start, end, daily)),
        as_check_result(timing, WARN, scope),
        as_check_result(recency, WARN, scope),
    ]


def _allowed() -> str:
    try:
        return f"{max_data_age_days()} day(s)"
    except ValueError:
        return f"the days set in {MAX_AGE_ENV} (malformed now)"


def max_data_age_days() -> int:
    """How many days old Gold's data may be before `data_recency` warns (DEVMETRICS_DATA_MAX_AGE_DAYS)."""
    raw = os.environ.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"{MAX_AGE_ENV}={raw!r}: expected a whole number of days >= 0")
    return days
