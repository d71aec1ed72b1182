"""Explain one Gold number: its value, its formula with the counts, and the fact rows behind it (pure).

Facts in (the stored gold_fact_* rows of the period), Explanation out. The value is computed with
`gold_metrics.aggregate`, the function Gold itself uses, over the facts of the period, so it equals the
stored Gold number; the numerator and denominator rows are the fact rows that make up Gold's counts
(docs/explain.md lists them per metric). Parsing of the metric, scope and period names lives here too, and
every mistake is an `ExplainError` (a ValueError) whose one line lists the valid values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_metrics import ORG_SCOPE, aggregate, days_in_period, period_end

SCOPE_TYPES = ("repo", "team", "service")


class ExplainError(ValueError):
    """A metric, scope or period that does not exist; the message lists the valid ones."""


@dataclass(frozen=True)
class Metric:
    name: str
    gold_column: str
    numerator: str  # Gold count column
    denominator: str | None  # Gold count column; None: calendar days
    entity: str  # which facts the rows are: deployments | changes
    kind: str  # rate | median | per_day


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("deployment_frequency", "deployment_frequency_per_day", "deployments", None, "deployments",
               "per_day"),
        Metric("lead_time", "lead_time_median_h", "lead_time_changes", "shipped_changes", "changes",
               "median"),
        Metric("change_failure_rate", "change_failure_rate", "change_failures", "deployments", "deployments",
               "rate"),
        Metric("recovery_time", "recovery_median_h", "recoveries", "change_failures", "deployments",
               "median"),
        Metric("rework_rate", "rework_rate", "rework_deployments", "deployments", "deployments", "rate"),
    )
}
ALIASES = {m.gold_column: name for name, m in METRICS.items()}
STATISTIC = {"lead_time": "lead_time_h", "recovery_time": "recovery_h"}


@dataclass(frozen=True)
class Period:
    label: str
    grain: str  # day | week | month
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive


@dataclass
class Explanation:
    metric: str
    scope: str
    period: str
    grain: str
    value: float | None
    formula: str
    numerator: pd.DataFrame
    denominator: pd.DataFrame
    gold_column: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def resolve_metric(metric: str) -> Metric:
    name = ALIASES.get(metric, metric)
    if name not in METRICS:
        valid = ", ".join(dict.fromkeys([*METRICS, *ALIASES]))
        raise ExplainError(f"unknown metric {metric!r}; valid: {valid}")
    return METRICS[name]


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
PERIOD_FORMS = "YYYY-MM-DD (day), YYYY-Www (ISO week, e.g. 2025-W10) or YYYY-MM (month)"


def parse_period(text: str) -> Period:
    """A day, ISO week or month, as the Gold grain and its [start, end) days."""
    value = str(text).strip()
    try:
        if _DAY.match(value):
            start = pd.Timestamp(date.fromisoformat(value))
            grain = "day"
        elif m := _WEEK.match(value.upper()):
            start = pd.Timestamp(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
            grain, value = "week", value.upper()
        elif m := _MONTH.match(value):
            start = pd.Timestamp(date(int(m.group(1)), int(m.group(2)), 1))
            grain = "month"
        else:
            raise ValueError(value)
    except ValueError:
        raise ExplainError(f"unknown period {text!r}; valid: {PERIOD_FORMS}") from None
    start = start.as_unit("us")
    end = period_end(pd.Series([start]), grain).iloc[0]
    return Period(value, grain, start, pd.Timestamp(end).as_unit("us"))


def parse_scope(text: str) -> tuple[str, str]:
    """`org` (or `org:all`) -> ("org", "all"); `TYPE:NAME` -> (TYPE, NAME) for TYPE repo|team|service."""
    value = str(text).strip()
    if value in ("org", "all", "org:all", "org:org"):
        return "org", ORG_SCOPE
    scope_type, sep, name = value.partition(":")
    if not sep or scope_type not in SCOPE_TYPES or not name.strip():
        raise ExplainError(f"unknown scope {text!r}; valid: org, repo:OWNER/NAME, team:NAME, service:NAME")
    return scope_type, name.strip()


def scope_label(scope_type: str, scope: str) -> str:
    return "org" if scope_type == "org" else f"{scope_type}:{scope}"


def _in_scope(facts: pd.DataFrame, scope_type: str, scope: str, rules: DoraRules) -> pd.DataFrame:
    if scope_type == "org" or facts.empty:
        return facts
    name_of = {"repo": lambda r: r, "team": rules.team_of, "service": rules.service_of}[scope_type]
    return facts[[name_of(str(r)) == scope for r in facts["repo"]]]


def _in_period(facts: pd.DataFrame, period: Period) -> pd.DataFrame:
    day = pd.to_datetime(facts["event_day"]).dt.normalize()
    return facts[(day >= period.start) & (day < period.end)]


def _with_deliveries(rows: pd.DataFrame, id_column: str, deliveries: Mapping[str, str]) -> pd.DataFrame:
    ids = rows[id_column].astype(str)
    return rows.assign(delivery_ids=pd.Series([deliveries.get(i, "") for i in ids], index=rows.index,
                                              dtype="str")).reset_index(drop=True)


def _linked_incidents(
    rows: pd.DataFrame, incidents: pd.DataFrame, deliveries: Mapping[str, str]
) -> pd.DataFrame:
    """Deployment rows plus the incidents linked to them (incident_ids, links, incident_delivery_ids)."""
    if incidents.empty or rows.empty:
        return rows.assign(incident_ids="", incident_links="", incident_delivery_ids="")
    linked = incidents.dropna(subset=["deployment_id"])
    linked = linked[linked["deployment_id"].isin(set(rows["deployment_id"]))].sort_values("incident_id")
    groups = {d: g for d, g in linked.groupby("deployment_id")}
    empty = linked.iloc[:0]

    def joined(dep: str, column: str) -> str:
        return ",".join(str(v) for v in groups.get(dep, empty)[column])

    ids = [joined(d, "incident_id") for d in rows["deployment_id"]]
    traced = [[deliveries.get(i, "") for i in s.split(",") if i] for s in ids]
    return rows.assign(
        incident_ids=ids,
        incident_links=[joined(d, "link") for d in rows["deployment_id"]],
        incident_delivery_ids=[",".join(x for x in found if x) for found in traced],
    )


def _number(value: float, metric: Metric) -> str:
    if metric.kind == "rate":
        return f"{100 * value:.1f} %"
    if metric.kind == "median":
        return f"{value:.2f} h"
    return f"{value:.3g} per day"


def _formula(metric: Metric, value: float | None, counts: dict[str, int], days: float) -> str:
    col, num = metric.gold_column, counts[metric.numerator]
    shown = "n/a" if value is None else _number(value, metric)
    if metric.kind == "per_day":
        return f"{col} = deployments / days = {num} / {days:g} = {shown}"
    if metric.kind == "rate":
        den = counts[metric.denominator or ""]
        return f"{col} = {metric.numerator} / {metric.denominator} = {num} / {den} = {shown}"
    stat, den = STATISTIC[metric.name], counts[metric.denominator or ""]
    return (f"{col} = median({stat}) over the {metric.numerator} = median of {num} of {den} "
            f"{metric.denominator} = {shown}")


def explain_facts(
    metric: str,
    scope: str,
    period: str,
    facts: Mapping[str, pd.DataFrame],
    rules: DoraRules,
    deliveries: Mapping[str, str] | None = None,
) -> Explanation:
    """Explain a Gold number from the fact rows {deployments, changes, incidents}.

    `facts` must hold at least every row of the period (others are ignored); the incidents may hold
    every incident (a change failure's incident can open after its period). `deliveries`: Silver id ->
    comma list of Bronze delivery ids (transforms/lineage.py).
    """
    spec, when = resolve_metric(metric), parse_period(period)
    scope_type, name = parse_scope(scope)
    deliveries = deliveries or {}
    dep = _in_scope(_in_period(facts["deployments"], when), scope_type, name, rules)
    lead = _in_scope(_in_period(facts["changes"], when), scope_type, name, rules)
    inc = _in_scope(_in_period(facts["incidents"], when), scope_type, name, rules)
    gold = aggregate(dep, lead, inc, rules, when.grain, when.start, when.end)
    row = gold[(gold["scope_type"] == scope_type) & (gold["scope"] == name)]
    count_columns = ["deployments", "change_failures", "recoveries", "rework_deployments", "shipped_changes",
                     "lead_time_changes"]
    counts = {c: int(row[c].iloc[0]) if len(row) else 0 for c in count_columns}
    value = float(row[spec.gold_column].iloc[0]) if len(row) else None
    value = None if value is None or pd.isna(value) or counts["deployments"] == 0 else value
    days = float(days_in_period(pd.Series([when.start]), when.grain).iloc[0])
    numerator, denominator = _rows(spec, dep, lead, facts["incidents"], deliveries)
    label = scope_label(scope_type, name)
    if counts["deployments"] == 0:
        formula = f"no deployments in {when.label} for {label}: {spec.gold_column} is undefined"
    else:
        formula = _formula(spec, value, counts, days)
    return Explanation(spec.name, label, when.label, when.grain, value, formula, numerator, denominator,
                       spec.gold_column, counts)


def _rows(
    spec: Metric,
    dep: pd.DataFrame,
    lead: pd.DataFrame,
    incidents: pd.DataFrame,
    deliveries: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if spec.entity == "changes":
        shipped = _with_deliveries(lead, "change_id", deliveries)
        return shipped[shipped["lead_time_status"] == "measured"].reset_index(drop=True), shipped
    releases = dep[dep["is_success"].astype(bool)]
    failures = releases[releases["is_change_failure"].astype(bool)]
    if spec.name == "deployment_frequency":
        numerator, denominator = releases, releases.iloc[:0]
    elif spec.name == "change_failure_rate":
        numerator, denominator = failures, releases
    elif spec.name == "rework_rate":
        numerator, denominator = releases[releases["is_rework"].astype(bool)], releases
    else:  # recovery_time
        numerator, denominator = failures[failures["recovery_h"].notna()], failures
    numerator = _with_deliveries(numerator, "deployment_id", deliveries)
    denominator = _with_deliveries(denominator, "deployment_id", deliveries)
    if spec.name in ("change_failure_rate", "recovery_time"):
        numerator = _linked_incidents(numerator, incidents, deliveries)
    return numerator, denominator
