"""Data shaping for the DORA charts and the HTML report: Gold frames in, small frames out.

Pure pandas (no plotting, no warehouse, no Dagster, no clock): everything here takes Gold rows as
`load_gold` returns them (transforms/gold_metrics.GOLD_COLUMNS) and returns what a chart or a table shows,
so it is tested with hand-built frames.

- `metrics_for(grain)`: the five charted metrics and the Gold column each reads;
- `band_zones(metric)`: the DORA band ranges of a metric, read from transforms/dora_bands.py;
- `period_changes`: each metric in the last full period against the period just before it;
- `worst_repos`: the repos with the highest change failure rate / longest lead time in a period;
- `lead_time_stages`: the lead-time stage medians (coding, pickup, review, deploy), when Gold has them;
- `build_sections`: one `Section` for the org and one per team, everything above already computed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from devmetrics_assets.transforms.dora_bands import (
    BAND_THRESHOLDS,
    BANDS,
    FREQUENCY,
    FREQUENCY_BAND_COLUMN,
)

GRAINS = ("day", "week", "month")
STAGES = ("coding", "pickup", "review", "deploy")
_STAGE_COLUMN = re.compile(r"^(?:lead_time_)?(coding|pickup|review|deploy)(?:_time)?_median_h$")


@dataclass(frozen=True)
class Metric:
    """One charted metric: the Gold column it reads and how to read it."""

    key: str  # stable id (chart ids, tests)
    column: str  # the Gold column charted
    title: str
    unit: str
    higher_is_better: bool
    band_column: str | None  # Gold's band of this metric; None when DORA publishes no band for it
    percent: bool = False
    explain_name: str = ""  # the metric's name for `devmetrics_assets.explain.explain` (default: key)

    @property
    def explain_metric(self) -> str:
        return self.explain_name or self.key


@dataclass(frozen=True)
class Zone:
    """A DORA band as a value range [low, high) of a metric (high may be infinite)."""

    band: str
    low: float
    high: float


_LEAD = BAND_THRESHOLDS["lead_time_median_h"]
_CFR = BAND_THRESHOLDS["change_failure_rate"]
_RECOVERY = BAND_THRESHOLDS["recovery_median_h"]

FREQUENCY_METRIC = Metric(
    "deployment_frequency", "deploy_days_per_week_median", "Deployment frequency",
    "deploy days per week (median)", True, FREQUENCY_BAND_COLUMN,
)
# Day rows have no weekly median (dora_bands: a day cannot be banded), so a daily chart shows the volume.
FREQUENCY_METRIC_DAILY = Metric(
    "deployment_frequency", "deployment_frequency_per_day", "Deployment frequency",
    "deployments per day", True, None,
)
METRICS: tuple[Metric, ...] = (
    FREQUENCY_METRIC,
    Metric("lead_time", _LEAD.metric, "Lead time for changes (median)", "hours", False, _LEAD.band_column),
    Metric("change_failure_rate", _CFR.metric, "Change failure rate", "share of deployments", False,
           _CFR.band_column, percent=True),
    Metric("recovery", _RECOVERY.metric, "Failed-deployment recovery time (median)", "hours", False,
           _RECOVERY.band_column, explain_name="recovery_time"),
    Metric("rework_rate", "rework_rate", "Deployment rework rate", "share of deployments", False, None,
           percent=True),
)


def metrics_for(grain: str) -> tuple[Metric, ...]:
    """The five metrics as charted at `grain` (day rows chart deployments per day, unbanded)."""
    check_grain(grain)
    if grain == "day":
        return (FREQUENCY_METRIC_DAILY, *METRICS[1:])
    return METRICS


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; valid: {', '.join(GRAINS)}")
    return grain


def band_zones(metric: Metric) -> list[Zone]:
    """The metric's DORA bands as value ranges, from dora_bands (empty when the metric has no band).

    Deployment frequency: elite and high come from the median deploy days per week; medium and low are
    decided per whole month (deploy days in it), so below the high cut-off they share one zone.
    """
    if metric.band_column is None:
        return []
    if metric.band_column == FREQUENCY_BAND_COLUMN:
        return [
            Zone("elite", FREQUENCY.elite_days_per_week, math.inf),
            Zone("high", FREQUENCY.high_days_per_week, FREQUENCY.elite_days_per_week),
            Zone("medium / low", 0.0, FREQUENCY.high_days_per_week),
        ]
    rule = BAND_THRESHOLDS[metric.column]
    zones, low = [], 0.0
    for cut in rule.cuts:  # lower is better for every thresholded metric: best band nearest 0
        zones.append(Zone(cut.band, low, cut.limit))
        low = cut.limit
    zones.append(Zone(BANDS[-1], low, math.inf))
    return zones


def period_label(start: pd.Timestamp, grain: str) -> str:
    """A period as people (and `devmetrics explain`) name it: YYYY-MM-DD, YYYY-Www or YYYY-MM."""
    ts = pd.Timestamp(start)
    if grain == "month":
        return ts.strftime("%Y-%m")
    if grain == "week":
        year, week, _ = ts.isocalendar()
        return f"{year}-W{week:02d}"
    return ts.strftime("%Y-%m-%d")


def previous_start(start: pd.Timestamp, grain: str) -> pd.Timestamp:
    ts = pd.Timestamp(start)
    if grain == "month":
        return ts - pd.DateOffset(months=1)
    return ts - pd.Timedelta(days=7 if grain == "week" else 1)


def last_full_period(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The latest period_start not flagged partial (the latest of all when every one is partial)."""
    if frame.empty:
        return None
    full = frame.loc[~frame["is_partial"].astype(bool), "period_start"]
    return pd.Timestamp((full if not full.empty else frame["period_start"]).max())


def period_changes(frame: pd.DataFrame, grain: str, at: pd.Timestamp | None = None,
                   metrics: Iterable[Metric] | None = None) -> pd.DataFrame:
    """Each metric of ONE scope at period `at` (default: the last full period) against the period just
    before it (the calendar's previous period, not the previous row: a team without a row then has none).

    Columns: metric, title, period, value, previous_period, previous, change (value - previous),
    change_pct (relative to previous; null when previous is 0 or missing), direction (better | worse |
    same | None, from the metric's better side), band (Gold's band of the period, when the metric has one).
    """
    metrics = tuple(metrics_for(grain) if metrics is None else metrics)
    at = last_full_period(frame) if at is None else pd.Timestamp(at)
    rows = []
    if at is None:
        return pd.DataFrame(columns=["metric", "title", "period", "value", "previous_period", "previous",
                                     "change", "change_pct", "direction", "band"])
    before = previous_start(at, grain)
    current = frame[frame["period_start"] == at]
    previous = frame[frame["period_start"] == before]
    for metric in metrics:
        value = _value(current, metric.column)
        prev = _value(previous, metric.column)
        change = value - prev if value is not None and prev is not None else None
        change_pct = change / prev if change is not None and prev else None
        if change is None:
            direction = None
        elif math.isclose(change, 0.0, abs_tol=1e-12):
            direction = "same"
        else:
            direction = "better" if (change > 0) == metric.higher_is_better else "worse"
        band = None
        if metric.band_column and metric.band_column in current.columns and not current.empty:
            raw = current[metric.band_column].iloc[0]
            band = None if pd.isna(raw) else str(raw)
        rows.append({
            "metric": metric.key, "title": metric.title, "period": period_label(at, grain), "value": value,
            "previous_period": period_label(before, grain), "previous": prev, "change": change,
            "change_pct": change_pct, "direction": direction, "band": band,
        })
    return pd.DataFrame(rows)


def _value(rows: pd.DataFrame, column: str) -> float | None:
    if rows.empty or column not in rows.columns:
        return None
    raw = rows[column].iloc[0]
    return None if pd.isna(raw) else float(raw)


WORST_BY = {
    "change_failure_rate": ["change_failure_rate", "change_failures"],
    "lead_time_median_h": ["lead_time_median_h", "lead_time_changes"],
}
WORST_COLUMNS = ["repo", "deployments", "change_failures", "change_failure_rate", "lead_time_changes",
                 "lead_time_median_h", "lead_time_p90_h", "change_failure_rate_band", "lead_time_band"]


def worst_repos(gold: pd.DataFrame, at: pd.Timestamp, by: str, *, repos: Iterable[str] | None = None,
                n: int = 5) -> pd.DataFrame:
    """The `n` repos worst on `by` (change_failure_rate or lead_time_median_h) in period `at`.

    Reads repo rows (scope_type == "repo") with at least one deployment and a value for `by`; `repos`
    limits them (a team's repos). Ties: more failures / more changes first, then the repo name.
    """
    if by not in WORST_BY:
        raise ValueError(f"unknown ranking {by!r}; valid: {', '.join(WORST_BY)}")
    rows = gold[(gold["scope_type"] == "repo") & (gold["period_start"] == pd.Timestamp(at))]
    if repos is not None:
        rows = rows[rows["scope"].isin(set(repos))]
    rows = rows[(rows["deployments"] > 0) & rows[by].notna()]
    rows = rows.rename(columns={"scope": "repo"})
    keys = [*WORST_BY[by], "repo"]
    rows = rows.sort_values(keys, ascending=[False, False, True], kind="stable").head(n)
    return rows[[c for c in WORST_COLUMNS if c in rows.columns]].reset_index(drop=True)


def stage_columns(columns: Iterable[str]) -> dict[str, str]:
    """stage -> Gold column, for the lead-time stage medians present (e.g. `pickup_median_h`)."""
    found: dict[str, str] = {}
    for column in columns:
        match = _STAGE_COLUMN.match(str(column))
        if match and match.group(1) not in found:
            found[match.group(1)] = str(column)
    return {stage: found[stage] for stage in STAGES if stage in found}


def lead_time_stages(frame: pd.DataFrame, grain: str, last: int = 6) -> pd.DataFrame | None:
    """The last `last` periods of ONE scope with each stage's median hours (None without stage columns).

    Columns: period, is_partial, then one per stage found (coding, pickup, review, deploy order).
    """
    stages = stage_columns(frame.columns)
    if not stages or frame.empty:
        return None
    rows = frame.sort_values("period_start").tail(last)
    out = pd.DataFrame({
        "period": [period_label(ts, grain) for ts in rows["period_start"]],
        "is_partial": rows["is_partial"].astype(bool).to_numpy(),
    })
    for stage, column in stages.items():
        out[stage] = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype="float64")
    return out


@dataclass
class Section:
    """One part of the report: the org, or one team, with everything it shows."""

    kind: str  # "org" | "team"
    name: str  # "all" for the org, else the team
    trend: pd.DataFrame  # this scope's Gold rows, oldest first
    at: pd.Timestamp | None  # the last full period
    changes: pd.DataFrame  # period_changes at `at`
    worst_cfr: pd.DataFrame
    worst_lead_time: pd.DataFrame
    stages: pd.DataFrame | None
    latest_partial: str | None  # label of a newer, partial period shown in the charts only

    @property
    def explain_scope(self) -> str:
        return "org" if self.kind == "org" else f"team:{self.name}"

    @property
    def title(self) -> str:
        return "Organisation" if self.kind == "org" else f"Team {self.name}"


def build_sections(gold: pd.DataFrame, grain: str, team_of: Callable[[str], str] | Mapping[str, str],
                   *, worst_n: int = 5) -> list[Section]:
    """The org section, then one per team (sorted by name), from Gold rows of every scope type.

    `team_of` maps a repo to its team (rules.yaml: `DoraRules.team_of`), used to pick a team's repos.
    """
    check_grain(grain)
    lookup = team_of.get if isinstance(team_of, Mapping) else team_of
    gold = gold.sort_values(["period_start", "scope_type", "scope"], kind="stable")
    repos = sorted(gold.loc[gold["scope_type"] == "repo", "scope"].astype(str).unique())
    scopes = [("org", "all")] + [("team", t) for t in
                                 sorted(gold.loc[gold["scope_type"] == "team", "scope"].astype(str).unique())]
    sections = []
    for kind, name in scopes:
        trend = gold[(gold["scope_type"] == kind) & (gold["scope"] == name)].reset_index(drop=True)
        members = None if kind == "org" else [r for r in repos if lookup(r) == name]
        at = last_full_period(trend)
        latest = trend["period_start"].max() if not trend.empty else None
        partial = period_label(latest, grain) if latest is not None and at is not None and latest > at \
            else None
        if at is None:
            worst_cfr = worst_lead = pd.DataFrame(columns=WORST_COLUMNS)
        else:
            worst_cfr = worst_repos(gold, at, "change_failure_rate", repos=members, n=worst_n)
            worst_lead = worst_repos(gold, at, "lead_time_median_h", repos=members, n=worst_n)
        sections.append(Section(
            kind=kind, name=name, trend=trend, at=at, changes=period_changes(trend, grain, at),
            worst_cfr=worst_cfr, worst_lead_time=worst_lead, stages=lead_time_stages(trend, grain),
            latest_partial=partial,
        ))
    return sections
