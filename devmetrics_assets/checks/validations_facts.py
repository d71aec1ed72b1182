"""Fact-table reconciliation: stored daily Gold equals the aggregate of the stored facts (pure, no Dagster).

The fact tables (gold_fact_deployments / _changes / _incidents) are what `devmetrics explain` and the
notebooks show as "the rows behind a number", so they must be exactly the rows daily Gold was computed
from. For every day and scope of the run's window, the expected Gold is `gold_metrics.aggregate` over the
window's facts (the very function Gold uses, not a re-implementation), and every count and statistic a
fact table feeds must equal the stored daily Gold row: a missing row counts as zeros (counts) and null
(statistics), so a scope or day on one side only is a mismatch too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation, as_day
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_metrics import KEYS, aggregate

CHECK_NAME = "reconciles_with_gold"
# What each fact table feeds in Gold: (counts, statistics).
FED_BY: dict[str, tuple[list[str], list[str]]] = {
    "deployments": (
        ["deployments", "deploy_days", "failed_deploy_attempts", "rollbacks", "change_failures",
         "change_failures_inferred", "recoveries", "unrecovered_failures", "rework_deployments"],
        ["recovery_median_h", "recovery_p90_h"],
    ),
    "changes": (
        ["shipped_changes", "lead_time_changes", "lead_time_negative_excluded"],
        ["lead_time_median_h", "lead_time_p90_h"],
    ),
    "incidents": (["incidents_opened"], []),
}
RTOL = 1e-9
STATISTIC_SUFFIXES = ("_median_h", "_p90_h")


def fed_columns(kind: str, stored: pd.DataFrame, expected: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(counts, statistics) `kind` feeds; for changes also every other statistic both frames carry (the
    lead-time stages: their medians and p90s come from the change facts too)."""
    counts, stats = FED_BY[kind]
    if kind == "changes":
        known = {c for _, (_, s) in FED_BY.items() for c in s} | {"unrecovered_oldest_age_h"}
        extra = [c for c in expected.columns if c.endswith(STATISTIC_SUFFIXES) and c not in known
                 and c in stored.columns]
        stats = [*stats, *extra]
    return list(counts), list(stats)


def expected_daily_gold(
    facts: dict[str, pd.DataFrame], rules: DoraRules, start: Any, end: Any
) -> pd.DataFrame:
    """Daily Gold rows of [start, end) aggregated from the facts {deployments, changes, incidents}."""
    return aggregate(facts["deployments"], facts["changes"], facts["incidents"], rules, "day",
                     as_day(start), as_day(end))


def _keyed(gold: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    have = [c for c in columns if c in gold.columns]
    if not len(gold):
        return pd.DataFrame(columns=columns)
    frame = gold.assign(period_start=pd.to_datetime(gold["period_start"]).dt.normalize())
    return frame.drop_duplicates(KEYS).set_index(KEYS)[have].reindex(columns=columns)


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
    both_nan = np.isnan(x) & np.isnan(y)
    close = np.isclose(x, y, rtol=RTOL, atol=RTOL, equal_nan=False)
    return both_nan | close


def reconcile_facts(
    kind: str, stored_gold: pd.DataFrame, expected: pd.DataFrame, start: Any, end: Any
) -> Validation:
    """Stored daily Gold of [start, end) equals `expected` (expected_daily_gold) for the columns `kind` feeds.

    `stored_gold`: the daily Gold rows stored for the window (gold_dora_daily).
    """
    start, end = as_day(start), as_day(end)
    counts, stats = fed_columns(kind, stored_gold, expected)
    columns = counts + stats
    stored = stored_gold
    if len(stored_gold):
        day = pd.to_datetime(stored_gold["period_start"])
        stored = stored_gold[(day >= start) & (day < end)]
    have, want = _keyed(stored, columns), _keyed(expected, columns)
    index = have.index.union(want.index)
    have, want = have.reindex(index), want.reindex(index)
    have[counts] = have[counts].fillna(0)
    want[counts] = want[counts].fillna(0)
    mismatches: list[dict[str, Any]] = []
    for col in columns:
        ok = _same(have[col], want[col])
        for key in index[~ok]:
            period_start, scope_type, scope = key
            mismatches.append({
                "period_start": pd.Timestamp(period_start).date().isoformat(), "scope_type": scope_type,
                "scope": scope, "column": col, "stored_gold": _plain(have.at[key, col]),
                "from_facts": _plain(want.at[key, col]),
            })
    passed = not mismatches
    table = f"gold_fact_{kind}"
    summary = (
        f"daily Gold equals the aggregate of {table} for {len(index)} (day, scope) rows and {len(columns)} "
        "columns" if passed else
        f"{len(mismatches)} mismatch(es) between gold_dora_daily and {table}, e.g. {mismatches[0]}: the "
        "facts and Gold were computed from different Silver; re-materialise gold_dora_daily and the facts"
    )
    failed = tuple(sorted({m["period_start"] for m in mismatches}))
    return Validation(CHECK_NAME, passed, summary,
                      {"mismatches": len(mismatches), "rows": len(index), "columns": len(columns)},
                      {"relative_tolerance": RTOL}, mismatches[:SAMPLE], failed_days=failed or None)


def _plain(value: Any) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return int(number) if number.is_integer() else number
