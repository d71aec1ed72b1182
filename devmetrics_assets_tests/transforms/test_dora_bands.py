"""Band cut-offs of the 2023 DORA clusters, checked at and around every boundary."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from devmetrics_assets.transforms.dora_bands import (
    BAND_THRESHOLDS,
    BANDS,
    BANDS_SOURCE,
    FREQUENCY,
    BandRule,
    Cut,
    _check_monotonic,
    add_bands,
    classify,
    frequency_band,
)


def bands_of(metric: str, values: list[float]) -> list[str | None]:
    out = classify(pd.Series(values, dtype="float64"), BAND_THRESHOLDS[metric])
    return [None if pd.isna(v) else v for v in out]


def test_source_names_the_edition() -> None:
    assert "2023" in BANDS_SOURCE and "State of DevOps" in BANDS_SOURCE
    assert BANDS == ("elite", "high", "medium", "low")


def test_deployment_frequency_is_deploy_days_per_week_as_devlake_reads_the_2023_clusters() -> None:
    median = pd.Series([7.0, 6.5, 1.0, 0.5, 0.0, 0.0, 0.0, math.nan, math.nan])
    days = pd.Series([30, 28, 4, 2, 1, 0, 0, 0, 3])
    whole_month = pd.Series([True, True, True, True, True, True, False, False, True])
    out = frequency_band(median, days, whole_month)
    assert [None if pd.isna(v) else v for v in out] == [
        "elite",
        "high",
        "high",
        "medium",  # below one deploy-day a week, but deployed in the whole month
        "medium",
        "low",  # a whole observed month without a deployment
        None,  # a week (or a partial month) without a deployment cannot tell medium from low
        None,
        "medium",
    ]
    assert FREQUENCY.elite_days_per_week == 7 and "DevLake" in FREQUENCY.source


def test_lead_time_median_hours() -> None:
    values = [0.0, 23.99, 24.0, 168.0, 168.01, 31 * 24.0, 31 * 24.0 + 0.01, 5000.0, math.nan]
    assert bands_of("lead_time_median_h", values) == [
        "elite",
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
        None,
    ]


def test_change_failure_rate() -> None:
    values = [0.0, 0.05, 0.0501, 0.10, 0.1001, 0.15, 0.1501, 0.64, 1.0, math.nan]
    assert bands_of("change_failure_rate", values) == [
        "elite",
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
        "low",
        None,
    ]


def test_recovery_median_hours() -> None:
    values = [0.0, 0.99, 1.0, 23.99, 24.0, 168.0, 168.01, 24 * 30.0, math.nan]
    assert bands_of("recovery_median_h", values) == [
        "elite",
        "elite",
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
        None,
    ]


def test_every_rule_is_monotonic_and_names_the_bands_in_order() -> None:
    for rule in BAND_THRESHOLDS.values():
        limits = [c.limit for c in rule.cuts]
        assert limits == sorted(limits, reverse=rule.higher_is_better)
        assert [c.band for c in rule.cuts] == ["elite", "high", "medium"]
        assert len(rule.source_ranges) == 4


def test_non_monotonic_thresholds_are_rejected() -> None:
    # The 2024 table's change failure rates (5%, 20%, 10%, 40%) taken literally would not be monotonic.
    rule = BandRule(
        "change_failure_rate",
        "change_failure_rate_band",
        False,
        (Cut("elite", 0.05), Cut("high", 0.20), Cut("medium", 0.10)),
        ("", "", "", ""),
    )
    with pytest.raises(ValueError, match="not strictly monotonic"):
        _check_monotonic(rule)


def test_add_bands_fills_the_four_band_columns_from_their_metrics() -> None:
    gold = pd.DataFrame(
        {
            "period": ["week", "month"],
            "is_partial": [False, False],
            "deploy_days": [7, 0],
            "deploy_days_per_week_median": [7.0, 0.0],
            "lead_time_median_h": [100.0, math.nan],
            "change_failure_rate": [0.12, math.nan],
            "recovery_median_h": [0.5, math.nan],
        },
        index=[10, 11],
    )
    out = add_bands(gold)
    assert out.loc[10, "deployment_frequency_band"] == "elite"
    assert out.loc[10, "lead_time_band"] == "high"
    assert out.loc[10, "change_failure_rate_band"] == "medium"
    assert out.loc[10, "recovery_band"] == "elite"
    assert out.loc[11, "deployment_frequency_band"] == "low"  # a whole month without deployments
    assert out.loc[11, ["lead_time_band", "change_failure_rate_band", "recovery_band"]].isna().all()
    assert "lead_time_band" not in gold.columns  # input left untouched
