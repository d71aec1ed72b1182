"""The stored Gold fact tables: the per-deployment, per-change and per-incident rows Gold aggregates (pure).

`fact_tables` computes the three tables from Silver exactly as `gold_metrics.build_gold` does (over the
whole history it is given: a later incident can make an earlier deployment a change failure), and
`in_window` keeps the rows attributed to days in [start, end), so an asset writes only its run's window.

- deployments: `gold_facts.deployment_facts` (failure, rework, recovery; `failure_kinds` says how a change
  failure was evidenced: root_cause / inferred / rollback).
- changes: whatever columns `gold_facts.lead_time_facts` returns (lead time and, when present, its stages).
- incidents: `gold_facts.incident_facts` plus the incident's times and its link (gold_links): the release
  it was linked to (`deployment_id`, `deployment_repo`, `deployment_day`) and how (`link`: root_cause |
  inferred); all three null when it is linked to no release.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.facts_memo import deployment_facts, lead_time_facts  # memoised
from devmetrics_assets.transforms.gold_facts import incident_facts
from devmetrics_assets.transforms.gold_links import incident_links
from devmetrics_assets.transforms.gold_releases import release_rows

FACT_TABLES = {
    "deployments": "gold_fact_deployments",
    "changes": "gold_fact_changes",
    "incidents": "gold_fact_incidents",
}
INCIDENT_EXTRA = ["provider", "opened_at", "resolved_at", "is_open"]
INCIDENT_LINK_COLUMNS = ["deployment_id", "deployment_repo", "deployment_day", "link"]
DAY = "event_day"


def incident_link_facts(
    deployments: pd.DataFrame, incidents: pd.DataFrame, rules: DoraRules | None = None
) -> pd.DataFrame:
    """One row per distinct incident: incident_facts, its times, and the release it was linked to."""
    rules = rules or DoraRules()
    facts = incident_facts(incidents)
    extra = [c for c in INCIDENT_EXTRA if c in incidents.columns]
    known = incidents.drop_duplicates("incident_id").set_index("incident_id")[extra]
    facts = facts.join(known, on="incident_id")
    releases = release_rows(deployments, rules) if len(deployments) else deployments.iloc[:0]
    links = pd.DataFrame(columns=["incident_id", "deployment_id", "link", "deployment_repo"])
    days: dict[str, pd.Timestamp] = {}
    if len(releases) and len(incidents):
        links, _ = incident_links(releases, incidents, rules)
        release_days = pd.to_datetime(releases["event_day"])
        days = dict(zip(releases["deployment_id"].astype(str), release_days, strict=True))
    linked = links.drop_duplicates("incident_id").set_index("incident_id")
    ids = facts["incident_id"]
    facts["deployment_id"] = pd.Series(linked["deployment_id"].reindex(ids).to_numpy(), dtype="str")
    facts["deployment_repo"] = pd.Series(linked["deployment_repo"].reindex(ids).to_numpy(), dtype="str")
    facts["deployment_day"] = pd.to_datetime(
        pd.Series([days.get(d) if isinstance(d, str) else None for d in facts["deployment_id"]], dtype=object)
    ).astype("datetime64[us]")
    facts["link"] = pd.Series(linked["link"].reindex(ids).to_numpy(), dtype="str")
    return facts.reset_index(drop=True)


def fact_tables(silver: dict[str, pd.DataFrame], rules: DoraRules | None = None) -> dict[str, pd.DataFrame]:
    """{deployments, changes, incidents} fact rows over the whole history in `silver` (as build_gold)."""
    rules = rules or DoraRules()
    deployments, changes, incidents = silver["deployments"], silver["changes"], silver["incidents"]
    return {
        "deployments": typed(deployment_facts(deployments, changes, incidents, rules)),
        "changes": typed(lead_time_facts(deployments, changes, rules)),
        "incidents": typed(incident_link_facts(deployments, incidents, rules)),
    }


def in_window(facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows whose event_day lies in [start, end)."""
    day = pd.to_datetime(facts[DAY])
    return facts[(day >= start) & (day < end)].reset_index(drop=True)


def typed(facts: pd.DataFrame) -> pd.DataFrame:
    """Give every column a definite dtype by its name, so even an empty frame creates the right table.

    event_day / *_day: naive days; *_at: UTC times; *_h: float hours; is_* / ships: booleans; the rest
    text (a first write decides the warehouse column types, and an all-`object` empty frame would make
    every column text).
    """
    out = facts.copy()
    for col in out.columns:
        series = out[col]
        if col == DAY or col.endswith("_day"):
            out[col] = pd.to_datetime(series).astype("datetime64[us]")
        elif col.endswith("_at"):
            out[col] = pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")
        elif col.endswith("_h"):
            out[col] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif col.startswith("is_") or col == "ships":
            out[col] = series.astype("boolean").fillna(False).astype(bool)
        elif series.dtype == object or len(series) == 0:
            out[col] = series.astype("str")
    return out


def daily_counts(facts: pd.DataFrame, flags: list[str]) -> dict[pd.Timestamp, dict[str, int]]:
    """Per event_day: the row count and the number of true values of each flag (per-partition metadata)."""
    if facts.empty:
        return {}
    day = pd.to_datetime(facts[DAY]).dt.normalize()
    present = [f for f in flags if f in facts.columns]
    counts = facts[present].astype(bool).groupby(day).sum().astype("int64")
    counts.insert(0, "rows", day.groupby(day).size())
    return {pd.Timestamp(d): {k: int(v) for k, v in row.items()} for d, row in counts.iterrows()}
