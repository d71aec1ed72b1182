"""Gold reconciliation: the published metrics add up across scopes and agree with Silver (pure).

Every repo belongs to exactly one team and one service, so per period the organisation's additive
counts must equal the sum over repos, over teams and over services, and the window's deployments must
equal Silver's successful production deployments. Any difference is a join or fill bug, and Gold that
does not add up must not be published: the Gold check built on this blocks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation, as_day

GOLD_ADDITIVE = [
    "deployments", "failed_deploy_attempts", "change_failures", "lead_time_changes", "recoveries",
    "unrecovered_failures", "rework_deployments", "incidents_opened",
]


def reconcile_gold(gold: pd.DataFrame, silver_deployments: pd.DataFrame, start: Any, end: Any) -> Validation:
    """Gold adds up: per period, org == sum over repos == sum over teams == sum over services for every
    additive count, and the window's org deployments == Silver's successful production deployments.

    Every repo belongs to exactly one team and one service, so any difference is a join or fill bug.
    """
    start, end = as_day(start), as_day(end)
    mismatches: list[dict[str, Any]] = []
    if len(gold):
        sums = gold.groupby(["scope_type", "period_start"])[GOLD_ADDITIVE].sum()
        empty = pd.DataFrame(columns=GOLD_ADDITIVE, dtype="int64")
        present = set(sums.index.get_level_values(0))

        def of(scope_type: str) -> pd.DataFrame:
            return sums.xs(scope_type, level="scope_type") if scope_type in present else empty

        for scope_type in ("repo", "team", "service"):
            periods = of("org").index.union(of(scope_type).index)
            org = of("org").reindex(periods, fill_value=0)
            part = of(scope_type).reindex(periods, fill_value=0)
            bad = (org - part).stack()
            for period_start, col in bad[bad != 0].index:
                mismatches.append({"period_start": pd.Timestamp(period_start).date().isoformat(),
                                   "column": col, "org": int(org.at[period_start, col]),
                                   f"sum_{scope_type}": int(part.at[period_start, col])})
    org_deployments = int(gold.loc[gold["scope_type"] == "org", "deployments"].sum()) if len(gold) else 0
    if len(silver_deployments):
        day = pd.to_datetime(silver_deployments["event_day"])
        ok = (
            silver_deployments["is_production"].astype(bool)
            & (silver_deployments["final_status"] == "success")
            & (day >= start) & (day < end)
        )
        silver_count = int(ok.sum())
    else:
        silver_count = 0
    if org_deployments != silver_count:
        mismatches.append({"window": f"{start.date()}..{end.date()}", "column": "deployments",
                           "org": org_deployments, "silver_successful_production": silver_count})
    passed = not mismatches
    summary = (f"org = sum of repos/teams/services for {len(GOLD_ADDITIVE)} counts; {org_deployments} "
               "deployments match Silver" if passed else
               f"{len(mismatches)} reconciliation mismatch(es), e.g. {mismatches[0]}: Gold is inconsistent, "
               "do not publish; re-materialise the window and inspect the scope mapping")
    return Validation("reconciliation", passed, summary,
                      {"mismatches": len(mismatches), "org_deployments": org_deployments,
                       "silver_successful_production_deployments": silver_count},
                      {"tolerance": 0}, mismatches[:SAMPLE])
