"""Gold reconciliation: the published metrics add up across scopes, grains and Silver (pure).

- Scopes: every repo belongs to exactly one team and one service, so per period the organisation's
  scope-additive counts must equal the sum over repos, over teams and over services, and the window's
  deployments must equal Silver's releases (successful production deployments counted once per release).
- Grains: every count is additive over time, so for every scope a week's (a month's) count must equal
  the sum of its days' counts in daily Gold. A day computed before a later day's incident reached Silver
  (or never re-computed after a late rollback) shows up here.
- Root-cause timing: a root cause whose deployment started after the incident was resolved is no link;
  the incident is named so someone can correct the `root cause:` line.
Any difference in the first two is a bug or a stale partition, and Gold that does not add up must not be
published: the Gold checks built on them block. The third warns.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation, as_day, utc_now
from devmetrics_assets.transforms.gold_metrics import COUNT_COLUMNS, SCOPE_ADDITIVE

# Counts for which org == sum of repos == sum of teams == sum of services.
GOLD_ADDITIVE = list(SCOPE_ADDITIVE)
# Counts for which a week / month == the sum of its days (all of them).
GRAIN_ADDITIVE = list(COUNT_COLUMNS)


def reconcile_gold(gold: pd.DataFrame, silver_deployments: pd.DataFrame, start: Any, end: Any) -> Validation:
    """Gold adds up: per period, org == sum over repos == sum over teams == sum over services for every
    additive count, and the window's org deployments == Silver's successful production deployments.

    Every repo belongs to exactly one team and one service, so any difference is a join or fill bug.
    """
    start, end = as_day(start), as_day(end)
    mismatches: list[dict[str, Any]] = []
    if len(gold):
        additive = [c for c in GOLD_ADDITIVE if c in gold.columns]
        sums = gold.groupby(["scope_type", "period_start"])[additive].sum()
        empty = pd.DataFrame(columns=additive, dtype="int64")
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
        if "release_id" in silver_deployments:  # a release counts once, on its first deployment's row
            deps = silver_deployments
            ok &= deps["release_id"].astype(str) == deps["deployment_id"].astype(str)
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
                      {"tolerance": 0}, mismatches[:SAMPLE], failed_days=_failed_periods(mismatches))


def _failed_periods(mismatches: list[dict[str, Any]]) -> tuple[str, ...] | None:
    """The periods the mismatches name; None (the whole window) when one is about the window."""
    if not mismatches or any("period_start" not in m for m in mismatches):
        return None
    return tuple(sorted({m["period_start"] for m in mismatches}))


def _sum_of_days(daily: pd.DataFrame, period: str, columns: list[str], keys: list[str]) -> pd.DataFrame:
    """Daily rows summed per (week or month start, scope_type, scope)."""
    if daily.empty:
        return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_arrays([[], [], []], names=keys))
    starts = pd.to_datetime(daily["period_start"]).dt.normalize()
    if period == "week":
        owner = starts - pd.to_timedelta(starts.dt.day_of_week, unit="D")
    else:
        owner = starts - pd.to_timedelta(starts.dt.day - 1, unit="D")
    # Days written before a count column existed hold null there: counted as 0, so they show as a mismatch.
    absent = dict.fromkeys((c for c in columns if c not in daily.columns), 0)
    days = daily.assign(period_start=owner.to_numpy(), **absent)
    days[columns] = days[columns].fillna(0)
    return days.groupby(keys)[columns].sum()


def reconcile_grains(
    coarse: pd.DataFrame, daily: pd.DataFrame, period: str, start: Any, end: Any
) -> Validation:
    """Every count of every (scope, week or month) of `coarse` equals the sum of its days in `daily`.

    `daily`: the daily Gold rows stored for the window's days. A scope with daily counts but no coarse
    row (or the reverse) is a mismatch too; a missing day counts as zero, so an unmaterialised day with
    activity shows up as a difference.
    """
    start, end = as_day(start), as_day(end)
    columns = [c for c in GRAIN_ADDITIVE if c in coarse.columns]
    keys = ["period_start", "scope_type", "scope"]
    day = pd.to_datetime(daily["period_start"]) if len(daily) else pd.Series(dtype="datetime64[us]")
    days = daily[(day >= start) & (day < end)] if len(daily) else daily
    summed = _sum_of_days(days, period, columns, keys)
    have = coarse.assign(period_start=pd.to_datetime(coarse["period_start"]).dt.normalize())
    have = have.groupby(keys)[columns].sum()
    index = have.index.union(summed.index)
    have = have.reindex(index, fill_value=0).astype("int64")
    diff = have - summed.reindex(index, fill_value=0).astype("int64")
    mismatches: list[dict[str, Any]] = []
    bad = diff.stack()
    for (period_start, scope_type, scope, column), delta in bad[bad != 0].items():
        got = int(have.at[(period_start, scope_type, scope), column])
        mismatches.append({
            "period_start": pd.Timestamp(period_start).date().isoformat(), "scope_type": scope_type,
            "scope": scope, "column": column, period: got, "sum_of_days": got - int(delta),
        })
    passed = not mismatches
    summary = (
        f"{len(have)} {period} rows equal the sum of their days for {len(columns)} counts" if passed else
        f"{len(mismatches)} {period}-vs-days mismatch(es), e.g. {mismatches[0]}: a day was computed before "
        f"its inputs arrived or was never re-computed; re-materialise the days, then the {period}"
    )
    return Validation("cross_grain_reconciliation", passed, summary,
                      {"mismatches": len(mismatches), f"{period}_rows": len(have), "day_rows": len(days)},
                      {"tolerance": 0}, mismatches[:SAMPLE], failed_days=_failed_periods(mismatches))


def root_cause_timing(invalid: pd.DataFrame) -> Validation:
    """Root causes shipped by a deployment that started after the incident was resolved (not links)."""
    sample = [
        f"{i} -> {d} (started {s}, incident resolved {r})"
        for i, d, s, r in zip(invalid["incident_id"], invalid["deployment_id"],
                              invalid["deployment_started_at"], invalid["incident_resolved_at"], strict=True)
    ][:SAMPLE]
    passed = invalid.empty
    summary = (
        "every named root cause was deployed before its incident was resolved" if passed else
        f"{len(invalid)} incident(s) name a root cause first deployed after they were resolved, e.g. "
        f"{sample[0]}: not counted as their cause; correct the incident's `root cause:` line"
    )
    days = tuple(invalid["event_day"]) if "event_day" in invalid and len(invalid) else None
    return Validation("root_cause_timing", passed, summary, {"invalid_root_causes": len(invalid)},
                      {"tolerance": 0}, sample, failed_days=days)


def silver_data_through(silver: dict[str, pd.DataFrame]) -> pd.Timestamp | None:
    """The newest event day in the Silver rows Gold read (None when Silver holds no rows)."""
    days = [pd.to_datetime(frame["event_day"]).max() for frame in silver.values()
            if len(frame) and "event_day" in frame]
    days = [d for d in days if not pd.isna(d)]
    return as_day(max(days)) if days else None


def data_age_days(data_through: Any | None, now: Any | None = None) -> int | None:
    """Whole days between the newest data day and now's UTC day (None without data)."""
    if data_through is None or pd.isna(data_through):
        return None
    return int((as_day(utc_now(now)) - as_day(data_through)).days)


def data_recency(data_through: Any | None, now: Any | None, max_age_days: int) -> Validation:
    """Is the DATA recent, whatever the run? Fails when the newest event day Gold was computed from is
    more than `max_age_days` days before now's day (a run that just finished over old data fails)."""
    age = data_age_days(data_through, now)
    now_ts = utc_now(now)
    through = None if age is None else as_day(data_through).date().isoformat()
    if age is None:
        passed, summary = False, "Silver holds no event yet: Gold has no data to be recent"
    elif age <= max_age_days:
        passed, summary = True, f"data through {through}: {age} day(s) old (allowed {max_age_days})"
    else:
        passed, summary = False, (
            f"data through {through} is {age} day(s) old (allowed {max_age_days}), although this run is "
            "recent: no newer events reached Silver; check the sources' freshness and pending loads")
    return Validation("data_recency", passed, summary, {"data_age_days": -1 if age is None else age},
                      {"max_age_days": max_age_days}, [], {"data_through": through, "now": now_ts},
                      judges="now")
