"""DORA performance bands (elite|high|medium|low) for the four key metrics.

The thresholds are data, not code: `BAND_THRESHOLDS` maps each gold metric column to its cut-offs, so a
newer edition of the report is a change of numbers only. They come from the software delivery performance
clusters of the 2023 Accelerate State of DevOps Report (`BANDS_SOURCE`). That table is published as
ranges per cluster and is not monotonic (its low cluster repeats the medium ranges for deployment frequency
and lead time, and leaves gaps between ranges); docs/metrics.md explains how the ranges became cut-offs.
A null metric gives a null band.

Deployment frequency follows DORA's reading as Four Keys and Apache DevLake compute it: how many DAYS
per week have a deployment, as a median over weeks, not a per-day volume (`FREQUENCY`, DevLake's mapping
of the 2023 clusters). It needs whole weeks (or, for the medium/low split, a whole month) of observed data,
so day rows and partial periods get no frequency band unless their complete weeks already decide it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BANDS_SOURCE = (
    "DORA, Accelerate State of DevOps Report 2023 (Google Cloud), "
    "'Software delivery performance' cluster table"
)
BANDS = ("elite", "high", "medium", "low")

HOURS_PER_DAY = 24.0
HOURS_PER_WEEK = 7 * HOURS_PER_DAY
# A "month" is the longest calendar month, so "once per month" holds for every calendar month.
DAYS_PER_MONTH = 31.0
HOURS_PER_MONTH = DAYS_PER_MONTH * HOURS_PER_DAY


@dataclass(frozen=True)
class Cut:
    """One boundary: a value on the good side of `limit` (or equal, when `inclusive`) earns `band`."""

    band: str
    limit: float
    inclusive: bool = True


@dataclass(frozen=True)
class BandRule:
    """Cut-offs for one metric, best band first; whatever passes none of them is `low`."""

    metric: str
    band_column: str
    higher_is_better: bool
    cuts: tuple[Cut, ...]
    source_ranges: tuple[str, ...]  # the report's wording, elite..low, for the docs and reviewers


BAND_THRESHOLDS: dict[str, BandRule] = {
    rule.metric: rule
    for rule in (
        BandRule(
            metric="lead_time_median_h",
            band_column="lead_time_band",
            higher_is_better=False,
            cuts=(
                Cut("elite", HOURS_PER_DAY, inclusive=False),  # less than one day
                Cut("high", HOURS_PER_WEEK),  # up to one week
                Cut("medium", HOURS_PER_MONTH),  # up to one month
            ),
            source_ranges=(
                "Less than one day",
                "Between one day and one week",
                "Between one week and one month",
                "Between one week and one month",
            ),
        ),
        BandRule(
            metric="change_failure_rate",
            band_column="change_failure_rate_band",
            higher_is_better=False,
            cuts=(Cut("elite", 0.05), Cut("high", 0.10), Cut("medium", 0.15)),
            source_ranges=("5%", "10%", "15%", "64%"),
        ),
        BandRule(
            metric="recovery_median_h",
            band_column="recovery_band",
            higher_is_better=False,
            cuts=(
                Cut("elite", 1.0, inclusive=False),  # less than one hour
                Cut("high", HOURS_PER_DAY, inclusive=False),  # less than one day
                Cut("medium", HOURS_PER_WEEK),  # up to one week
            ),
            source_ranges=(
                "Less than one hour",
                "Less than one day",
                "Between one day and one week",
                "Between one month and six months",
            ),
        ),
    )
}


def _check_monotonic(rule: BandRule) -> None:
    limits = [c.limit for c in rule.cuts]
    ordered = sorted(limits, reverse=rule.higher_is_better)
    if limits != ordered or len(set(limits)) != len(limits):
        raise ValueError(f"band cut-offs for {rule.metric} are not strictly monotonic: {limits}")
    if tuple(c.band for c in rule.cuts) + ("low",) != BANDS:
        raise ValueError(f"band cut-offs for {rule.metric} must name {BANDS[:-1]} in order")


for _rule in BAND_THRESHOLDS.values():
    _check_monotonic(_rule)


def classify(values: pd.Series, rule: BandRule) -> pd.Series:
    """Band of each value under `rule`; null stays null (no data is not a low performer)."""
    x = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    conditions = []
    for cut in rule.cuts:
        if rule.higher_is_better:
            conditions.append(x >= cut.limit if cut.inclusive else x > cut.limit)
        else:
            conditions.append(x <= cut.limit if cut.inclusive else x < cut.limit)
    out = np.select(conditions, [c.band for c in rule.cuts], default="low").astype(object)
    out[np.isnan(x)] = None
    return pd.Series(out, index=values.index, dtype="str", name=rule.band_column)


@dataclass(frozen=True)
class FrequencyRule:
    """DevLake's criteria for the 2023 clusters (median deployment days per week / per month)."""

    elite_days_per_week: float = 7.0  # "on demand": a deployment every day of the median week
    high_days_per_week: float = 1.0  # "between once per day and once per week"
    medium_days_per_month: float = 1.0  # "between once per week and once per month"; below that: low
    source: str = (
        "Apache DevLake, DORA Deployment Frequency (2023 report benchmarks): median number of deployment "
        "days per week >= 7 elite, >= 1 high; median deployment days per month >= 1 medium, else low"
    )


FREQUENCY = FrequencyRule()
FREQUENCY_BAND_COLUMN = "deployment_frequency_band"


def frequency_band(
    days_per_week_median: pd.Series,
    deploy_days: pd.Series,
    whole_month: pd.Series,
    rule: FrequencyRule = FREQUENCY,
) -> pd.Series:
    """elite / high from the median deploy-days per week; medium / low only where a whole observed month
    (`whole_month`) says how many days of it had a deployment; null when the data cannot tell."""
    median = pd.to_numeric(days_per_week_median, errors="coerce").astype("float64").to_numpy()
    days = pd.to_numeric(deploy_days, errors="coerce").astype("float64").to_numpy()
    month = whole_month.astype(bool).to_numpy()
    conditions = [
        median >= rule.elite_days_per_week,
        median >= rule.high_days_per_week,
        month & (days >= rule.medium_days_per_month),
        month,
    ]
    out = np.select(conditions, ["elite", "high", "medium", "low"], default="").astype(object)
    out[out == ""] = None
    return pd.Series(out, index=days_per_week_median.index, dtype="str", name=FREQUENCY_BAND_COLUMN)


def add_bands(gold: pd.DataFrame, thresholds: dict[str, BandRule] | None = None) -> pd.DataFrame:
    """Return `gold` with one band column per rule, computed from that rule's metric column, and the
    deployment frequency band when the row has `deploy_days_per_week_median`, `deploy_days`, `period` and
    `is_partial` (a month row decides medium/low only when it is whole)."""
    thresholds = BAND_THRESHOLDS if thresholds is None else thresholds
    out = gold.copy()
    for rule in thresholds.values():
        out[rule.band_column] = classify(out[rule.metric], rule)
    if {"deploy_days_per_week_median", "deploy_days", "period", "is_partial"} <= set(out.columns):
        whole_month = (out["period"] == "month") & ~out["is_partial"].astype(bool)
        out[FREQUENCY_BAND_COLUMN] = frequency_band(
            out["deploy_days_per_week_median"], out["deploy_days"], whole_month
        )
    return out
