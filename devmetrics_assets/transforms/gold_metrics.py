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
from devmetrics_assets.transforms.gold_facts import deployment_facts, incident_facts, lead_time_facts

PERIODS = ("day", "week", "month")
SCOPE_TYPES = ("org", "team", "service", "repo")  # also the row order within a period
ORG_SCOPE = "all"
KEYS = ["period_start", "scope_type", "scope"]

COUNT_COLUMNS = [
    "deployments",
    "failed_deploy_attempts",
    "change_failures",
    "lead_time_changes",
    "recoveries",
    "unrecovered_failures",
    "rework_deployments",
    "incidents_opened",
]
BAND_COLUMNS = ["deployment_frequency_band", "lead_time_band", "change_failure_rate_band", "recovery_band"]
GOLD_COLUMNS = [
    "period",
    "period_start",
    "scope_type",
    "scope",
    "deployments",
    "failed_deploy_attempts",
    "change_failures",
    "change_failure_rate",
    "lead_time_changes",
    "lead_time_median_h",
    "lead_time_p90_h",
    "recoveries",
    "recovery_median_h",
    "recovery_p90_h",
    "unrecovered_failures",
    "rework_deployments",
    "rework_rate",
    "incidents_opened",
    "deployment_frequency_per_day",
    *BAND_COLUMNS,
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


def _quantiles(rows: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    """Median and p90 per key with linear interpolation (numpy's default) over the pooled rows."""
    values = rows.dropna(subset=[column])
    cols = [f"{prefix}_median_h", f"{prefix}_p90_h"]
    if values.empty:
        return pd.DataFrame(columns=cols, index=pd.MultiIndex.from_arrays([[], [], []], names=KEYS))
    q = values.groupby(KEYS)[column].quantile([0.5, 0.9], interpolation="linear").unstack()
    q.columns = cols
    return q


def aggregate(
    dep_facts: pd.DataFrame,
    lead_facts: pd.DataFrame,
    inc_facts: pd.DataFrame,
    rules: DoraRules,
    period: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Gold rows from fact tables: repo/team/service rows where there is activity, org for every period."""
    periods = period_range(period, start, end)
    start, end = _naive_boundary(start, period, "start"), _naive_boundary(end, period, "end")
    smap = scope_map(pd.concat([dep_facts["repo"], inc_facts["repo"]], ignore_index=True), rules)
    dep_columns = [
        "is_success",
        "is_failed_attempt",
        "is_change_failure",
        "recovery_h",
        "is_unrecovered",
        "is_rework",
    ]
    dep = _scoped(dep_facts, dep_columns, smap, period, start, end)
    lead = _scoped(lead_facts, ["lead_time_h"], smap, period, start, end)
    inc = _scoped(inc_facts, ["incident_id"], smap, period, start, end)

    dep_counts = dep.groupby(KEYS).agg(
        deployments=("is_success", "sum"),
        failed_deploy_attempts=("is_failed_attempt", "sum"),
        change_failures=("is_change_failure", "sum"),
        recoveries=("recovery_h", "count"),
        unrecovered_failures=("is_unrecovered", "sum"),
        rework_deployments=("is_rework", "sum"),
    )
    lead_counts = lead.groupby(KEYS).agg(lead_time_changes=("lead_time_h", "count"))
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
        ]
    )
    gold[COUNT_COLUMNS] = gold[COUNT_COLUMNS].fillna(0).astype("int64")
    gold = gold.reset_index()
    gold["period_start"] = pd.to_datetime(gold["period_start"]).dt.as_unit("us")
    for col in KEYS[1:]:
        gold[col] = gold[col].astype("str")
    gold.insert(0, "period", pd.Series(period, index=gold.index, dtype="str"))

    deployments = gold["deployments"].astype("float64")
    has_deployments = gold["deployments"] > 0
    gold["change_failure_rate"] = (gold["change_failures"] / deployments).where(has_deployments)
    gold["rework_rate"] = (gold["rework_deployments"] / deployments).where(has_deployments)
    gold["deployment_frequency_per_day"] = deployments / days_in_period(gold["period_start"], period)
    for col in ("lead_time_median_h", "lead_time_p90_h", "recovery_median_h", "recovery_p90_h"):
        gold[col] = gold[col].astype("float64")

    gold = add_bands(gold)
    order = gold["scope_type"].map({s: i for i, s in enumerate(SCOPE_TYPES)})
    gold = gold.assign(_o=order).sort_values(["period_start", "_o", "scope"], kind="stable")
    return gold[GOLD_COLUMNS].reset_index(drop=True)


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
    dep_facts = deployment_facts(deployments, changes, incidents)
    lead_facts = lead_time_facts(deployments, changes)
    inc_facts = incident_facts(incidents)
    return aggregate(dep_facts, lead_facts, inc_facts, rules, period, start, end)
