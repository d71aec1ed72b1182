"""Gold DORA metrics per period (day|week|month) and scope (repo|team|service|org) from Silver frames.

`build_gold` is the one entry point the Dagster wiring calls. It derives row-level facts over the whole
history it is given (gold_facts), keeps the rows attributed to periods in [start, end), and aggregates them
per scope. Team, service and org statistics pool the underlying rows (a team median is the median of all
its repos' lead times, never a mean of repo medians). Output columns are contracts §4, bands included.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.dora_bands import add_bands
from devmetrics_assets.transforms.facts_memo import deployment_facts, lead_time_facts  # memoised
from devmetrics_assets.transforms.gold_facts import STAGE_COLUMNS, incident_facts
from devmetrics_assets.transforms.gold_frequency import (
    Observed,
    covered_days,
    observed_window,
    weekly_medians,
)

PERIODS = ("day", "week", "month")
SCOPE_TYPES = ("org", "team", "service", "repo")  # also the row order within a period
ORG_SCOPE = "all"
KEYS = ["period_start", "scope_type", "scope"]

# Counts: every one is additive over time (a week's is the sum of its days'), which the cross-grain
# reconciliation check verifies; all but deploy_days are also additive over scopes (org = sum of repos).
COUNT_COLUMNS = [
    "deployments",
    "deploy_days",
    "failed_deploy_attempts",
    "rollbacks",
    "change_failures",
    "change_failures_inferred",
    "shipped_changes",
    "lead_time_changes",
    "lead_time_negative_excluded",
    "recoveries",
    "unrecovered_failures",
    "rework_deployments",
    "incidents_opened",
]
SCOPE_ADDITIVE = [c for c in COUNT_COLUMNS if c != "deploy_days"]
BAND_COLUMNS = ["deployment_frequency_band", "lead_time_band", "change_failure_rate_band", "recovery_band"]
# Lead-time stages (docs/metrics.md "Lead-time stages"): pooled median and p90 of the shipped changes' stage
# hours, attributed like lead time (the first shipping release's period). After the bands: added later.
STAGE_PREFIXES = [c.removesuffix("_h") for c in STAGE_COLUMNS]
STAGE_GOLD_COLUMNS = [f"{p}_{q}_h" for p in STAGE_PREFIXES for q in ("median", "p90")]
GOLD_COLUMNS = [
    "period",
    "period_start",
    "scope_type",
    "scope",
    "days_covered",
    "is_partial",
    "deployments",
    "deploy_days",
    "deployment_frequency_per_day",
    "deploy_days_per_week_median",
    "failed_deploy_attempts",
    "rollbacks",
    "change_failures",
    "change_failures_inferred",
    "change_failure_rate",
    "change_failure_rate_root_cause_only",
    "shipped_changes",
    "lead_time_changes",
    "lead_time_negative_excluded",
    "lead_time_coverage",
    "lead_time_median_h",
    "lead_time_p90_h",
    "recoveries",
    "recovery_median_h",
    "recovery_p90_h",
    "unrecovered_failures",
    "unrecovered_oldest_age_h",
    "rework_deployments",
    "rework_rate",
    "incidents_opened",
    *BAND_COLUMNS,
    *STAGE_GOLD_COLUMNS,
]
_FREQ = {"day": "D", "week": "W-MON", "month": "MS"}


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}")


def period_floor(days: pd.Series, period: str) -> pd.Series:
    """Start of the period containing each naive day: the day, its ISO week's Monday, or the 1st."""
    _check_period(period)
    days = pd.to_datetime(days).dt.as_unit("us").dt.normalize()
    if period == "week":
        return days - pd.to_timedelta(days.dt.day_of_week, unit="D")
    if period == "month":
        return days - pd.to_timedelta(days.dt.day - 1, unit="D")
    return days


def _naive_boundary(value: pd.Timestamp, period: str, name: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    ts = ts.as_unit("us")
    if ts != period_floor(pd.Series([ts]), period).iloc[0]:
        raise ValueError(f"{name}={value} is not a midnight aligned to a {period} start")
    return ts


def period_range(period: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """Every period start in [start, end); both bounds must be aligned to the period."""
    start = _naive_boundary(start, period, "start")
    end = _naive_boundary(end, period, "end")
    return pd.date_range(start, end, freq=_FREQ[period], inclusive="left", unit="us")


def days_in_period(period_start: pd.Series, period: str) -> pd.Series:
    """Calendar days per period (1, 7, or the month's length): the denominator of deployment frequency."""
    _check_period(period)
    if period == "month":
        return pd.to_datetime(period_start).dt.days_in_month.astype("float64")
    return pd.Series(1.0 if period == "day" else 7.0, index=period_start.index)


def scope_map(repos: pd.Series, rules: DoraRules) -> pd.DataFrame:
    """(repo, scope_type, scope) for each repo: itself, its team, its service, and the org."""
    unique = sorted(set(repos.astype(str)))
    rows = {
        "repo": unique * 4,
        "scope_type": ["repo"] * len(unique)
        + ["team"] * len(unique)
        + ["service"] * len(unique)
        + ["org"] * len(unique),
        "scope": unique
        + [rules.team_of(r) for r in unique]
        + [rules.service_of(r) for r in unique]
        + [ORG_SCOPE] * len(unique),
    }
    return pd.DataFrame(rows, dtype="str")


def _scoped(
    facts: pd.DataFrame,
    columns: list[str],
    smap: pd.DataFrame,
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """`columns` of the facts of periods in [start, end), one copy per scope the row's repo belongs to."""
    facts = facts[["repo", *columns]].assign(period_start=period_floor(facts["event_day"], period))
    facts = facts[(facts["period_start"] >= start) & (facts["period_start"] < end)]
    return facts.merge(smap, on="repo", how="inner").drop(columns="repo")


def period_end(period_start: pd.Series, period: str) -> pd.Series:
    """Exclusive end of each period: the next day, Monday or 1st."""
    _check_period(period)
    if period == "month":
        return period_start + pd.offsets.MonthBegin(1)
    return period_start + pd.Timedelta(days=1 if period == "day" else 7)


def _quantiles(rows: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    """Median and p90 per key with linear interpolation (numpy's default) over the pooled rows."""
    values = rows.dropna(subset=[column])
    cols = [f"{prefix}_median_h", f"{prefix}_p90_h"]
    if values.empty:
        return pd.DataFrame(columns=cols, index=pd.MultiIndex.from_arrays([[], [], []], names=KEYS))
    q = values.groupby(KEYS)[column].quantile([0.5, 0.9], interpolation="linear").unstack()
    q.columns = cols
    return q


DEP_FACT_INPUTS = [
    "event_day",
    "is_success",
    "is_failed_attempt",
    "is_rollback",
    "is_change_failure",
    "is_change_failure_inferred_only",
    "recovery_h",
    "is_unrecovered",
    "failure_start_at",
    "is_rework",
]


def _deployment_counts(dep: pd.DataFrame) -> pd.DataFrame:
    dep = dep.assign(
        _rollback=dep["is_rollback"] & dep["is_success"],
        _inferred=dep["is_change_failure_inferred_only"] & dep["is_change_failure"],
        _deploy_day=dep["event_day"].where(dep["is_success"]),
    )
    return dep.groupby(KEYS).agg(
        deployments=("is_success", "sum"),
        deploy_days=("_deploy_day", "nunique"),
        failed_deploy_attempts=("is_failed_attempt", "sum"),
        rollbacks=("_rollback", "sum"),
        change_failures=("is_change_failure", "sum"),
        change_failures_inferred=("_inferred", "sum"),
        recoveries=("recovery_h", "count"),
        unrecovered_failures=("is_unrecovered", "sum"),
        rework_deployments=("is_rework", "sum"),
    )


def _unrecovered_age(dep: pd.DataFrame, period: str, as_of: pd.Timestamp | None) -> pd.Series:
    """Per key, hours since the oldest unrecovered failure started, at the period's end (or as_of)."""
    open_ = dep[dep["is_unrecovered"]]
    if open_.empty:
        return pd.Series(dtype="float64", name="unrecovered_oldest_age_h")
    end = period_end(open_["period_start"], period).dt.tz_localize("UTC")
    if as_of is not None:
        end = end.where(end < as_of, as_of)
    age = ((end - open_["failure_start_at"]).dt.total_seconds() / 3600.0).clip(lower=0.0)
    return open_.assign(_age=age).groupby(KEYS)["_age"].max().rename("unrecovered_oldest_age_h")


def aggregate(
    dep_facts: pd.DataFrame,
    lead_facts: pd.DataFrame,
    inc_facts: pd.DataFrame,
    rules: DoraRules,
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    observed: Observed | None = None,
) -> pd.DataFrame:
    """Gold rows from fact tables: repo/team/service rows where there is activity, org for every period."""
    periods = period_range(period, start, end)
    start, end = _naive_boundary(start, period, "start"), _naive_boundary(end, period, "end")
    observed = observed or Observed(None, None, None)
    smap = scope_map(pd.concat([dep_facts["repo"], inc_facts["repo"]], ignore_index=True), rules)
    dep = _scoped(dep_facts, DEP_FACT_INPUTS, smap, period, start, end)
    lead_facts = lead_facts.reindex(columns=[*lead_facts.columns.drop(STAGE_COLUMNS, errors="ignore"),
                                             *STAGE_COLUMNS])
    lead = _scoped(lead_facts, ["lead_time_h", "lead_time_status", *STAGE_COLUMNS], smap, period, start, end)
    inc = _scoped(inc_facts, ["incident_id"], smap, period, start, end)

    lead_counts = (
        lead.assign(
            _measured=lead["lead_time_status"] == "measured", _negative=lead["lead_time_status"] == "negative"
        )
        .groupby(KEYS)
        .agg(
            shipped_changes=("lead_time_status", "size"),
            lead_time_changes=("_measured", "sum"),
            lead_time_negative_excluded=("_negative", "sum"),
        )
    )
    dep_counts = _deployment_counts(dep)
    inc_counts = inc.groupby(KEYS).agg(incidents_opened=("incident_id", "nunique"))

    org = pd.MultiIndex.from_arrays([periods, ["org"] * len(periods), [ORG_SCOPE] * len(periods)], names=KEYS)
    index = org.union(dep_counts.index).union(inc_counts.index)
    gold = pd.DataFrame(index=index).join(
        [
            dep_counts,
            lead_counts,
            inc_counts,
            _quantiles(lead, "lead_time_h", "lead_time"),
            _quantiles(dep, "recovery_h", "recovery"),
            _unrecovered_age(dep, period, observed.as_of),
            *[_quantiles(lead, f"{p}_h", p) for p in STAGE_PREFIXES],
        ]
    )
    gold[COUNT_COLUMNS] = gold[COUNT_COLUMNS].fillna(0).astype("int64")
    gold = gold.reset_index()
    gold["period_start"] = pd.to_datetime(gold["period_start"]).dt.as_unit("us")
    for col in KEYS[1:]:
        gold[col] = gold[col].astype("str")
    gold.insert(0, "period", pd.Series(period, index=gold.index, dtype="str"))

    days = days_in_period(gold["period_start"], period)
    gold["period_end"] = period_end(gold["period_start"], period)
    gold["days_covered"] = covered_days(gold["period_start"], gold["period_end"], observed)
    gold["is_partial"] = gold["days_covered"] < days.astype("int64")
    deployments = gold["deployments"].astype("float64")
    has_deployments = gold["deployments"] > 0
    gold["change_failure_rate"] = (gold["change_failures"] / deployments).where(has_deployments)
    root_cause_only = gold["change_failures"] - gold["change_failures_inferred"]
    gold["change_failure_rate_root_cause_only"] = (root_cause_only / deployments).where(has_deployments)
    gold["rework_rate"] = (gold["rework_deployments"] / deployments).where(has_deployments)
    shipped = gold["shipped_changes"].astype("float64")
    gold["lead_time_coverage"] = (gold["lead_time_changes"] / shipped).where(gold["shipped_changes"] > 0)
    gold["deployment_frequency_per_day"] = deployments / days
    gold["deploy_days_per_week_median"] = weekly_medians(
        gold, period, _deploy_day_sets(dep_facts, smap), observed
    )
    for col in (
        "lead_time_median_h",
        "lead_time_p90_h",
        "recovery_median_h",
        "recovery_p90_h",
        "unrecovered_oldest_age_h",
        *STAGE_GOLD_COLUMNS,
    ):
        gold[col] = gold[col].astype("float64")

    gold = add_bands(gold)
    order = gold["scope_type"].map({s: i for i, s in enumerate(SCOPE_TYPES)})
    gold = gold.assign(_o=order).sort_values(["period_start", "_o", "scope"], kind="stable")
    return gold[GOLD_COLUMNS].reset_index(drop=True)


def _deploy_day_sets(dep_facts: pd.DataFrame, smap: pd.DataFrame) -> dict[tuple[str, str], set]:
    """Days with a release, per (scope_type, scope), over all the facts (weeks may start before start)."""
    ok = dep_facts[dep_facts["is_success"].astype(bool)][["repo", "event_day"]]
    scoped = ok.merge(smap, on="repo", how="inner")
    scoped = scoped.assign(day=pd.to_datetime(scoped["event_day"]).dt.as_unit("us").dt.normalize())
    return scoped.groupby(["scope_type", "scope"])["day"].agg(set).to_dict()


def build_gold(
    deployments: pd.DataFrame,
    changes: pd.DataFrame,
    incidents: pd.DataFrame,
    rules: DoraRules,
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Gold DORA rows (contracts §4) for every period starting in [start, end).

    `deployments` must hold the history before `end` (a change's first shipping and the deployment a
    rollback replaced may lie in earlier periods; later rows are harmless). `incidents` should be all
    incidents, since one opened later can make an earlier deployment a change failure.
    """
    _check_period(period)
    dep_facts = deployment_facts(deployments, changes, incidents, rules)
    lead_facts = lead_time_facts(deployments, changes, rules)
    inc_facts = incident_facts(incidents)
    observed = observed_window(deployments, incidents)
    return aggregate(dep_facts, lead_facts, inc_facts, rules, period, start, end, observed)
