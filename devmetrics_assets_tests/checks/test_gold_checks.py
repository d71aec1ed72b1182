"""Gold checks on Gold built by the real transforms from a small sample organisation's Silver tables."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.checks.gold_checks import gold_check_results, gold_check_specs
from devmetrics_assets.checks.validations_gold import silver_data_through
from devmetrics_assets.transforms.gold_metrics import build_gold
from devmetrics_assets_tests.checks.test_silver_checks import SampleSilver, build_sample_silver

WINDOWS = {
    "day": ("gold_dora_daily", pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-26")),
    "week": ("gold_dora_weekly", pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-27")),
    "month": ("gold_dora_monthly", pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")),
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> SampleSilver:
    return build_sample_silver(tmp_path_factory.mktemp("gold"))


def silver_of(sample: SampleSilver) -> dict[str, pd.DataFrame]:
    return {"deployments": sample.tables["silver_deployments"], "changes": sample.tables["silver_changes"],
            "incidents": sample.tables["silver_incidents"]}


def gold_of(sample: SampleSilver, period: str) -> pd.DataFrame:
    _, start, end = WINDOWS[period]
    silver = silver_of(sample)
    return build_gold(silver["deployments"], silver["changes"], silver["incidents"], sample.rules, period,
                      start, end)


def daily_of(sample: SampleSilver, period: str) -> pd.DataFrame | None:
    """The daily Gold of the period's window (what the weekly and monthly assets read from storage)."""
    if period == "day":
        return None
    _, start, end = WINDOWS[period]
    silver = silver_of(sample)
    return build_gold(silver["deployments"], silver["changes"], silver["incidents"], sample.rules, "day",
                      start, end)


def check(
    sample: SampleSilver, period: str, gold: pd.DataFrame, silver=None, daily=None
) -> dict[str, dg.AssetCheckResult]:
    name, start, end = WINDOWS[period]
    daily = daily_of(sample, period) if daily is None else daily
    silver = silver or silver_of(sample)
    now = silver_data_through(silver) + pd.Timedelta(hours=12)  # the data is recent at this now
    results = gold_check_results(name, gold, silver, start, end, daily, sample.rules, now=now)
    return {r.check_name: r for r in results}


def test_gold_checks_block_except_root_cause_timing_and_weeks_months_check_their_days():
    specs = gold_check_specs("gold_dora_daily")
    assert {s.name: s.blocking for s in specs} == {"schema": True, "unique_key": True, "reconciliation": True,
                                                   "root_cause_timing": False, "data_recency": False}
    for name in ("gold_dora_weekly", "gold_dora_monthly"):
        blocking = {s.name: s.blocking for s in gold_check_specs(name)}
        assert blocking["cross_grain_reconciliation"] is True and blocking["root_cause_timing"] is False


@pytest.mark.parametrize("period", list(WINDOWS))
def test_clean_gold_passes_every_check(sample, period):
    gold = gold_of(sample, period)
    results = check(sample, period, gold)
    expected = {"schema": True, "unique_key": True, "reconciliation": True, "root_cause_timing": True,
                "data_recency": True}
    if period != "day":
        expected["cross_grain_reconciliation"] = True
    assert {n: r.passed for n, r in results.items()} == expected
    assert results["reconciliation"].metadata["org_deployments"].value > 0


@pytest.mark.parametrize("period", ["week", "month"])
def test_cross_grain_check_fails_when_a_stored_day_is_stale_or_missing(sample, period):
    gold, daily = gold_of(sample, period), daily_of(sample, period)
    failing_day = daily[(daily["scope_type"] == "repo") & (daily["deployments"] > 0)].index[0]
    stale = daily.copy()
    stale.loc[failing_day, "change_failures"] += 1  # the day counted one more failure than the week knows
    result = check(sample, period, gold, daily=stale)["cross_grain_reconciliation"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    row = stale.loc[failing_day]
    mismatch = result.metadata["sample"].value[0]
    assert (mismatch["scope_type"], mismatch["scope"], mismatch["column"]) == ("repo", row["scope"],
                                                                           "change_failures")
    assert mismatch["sum_of_days"] == mismatch[period] + 1
    missing = daily.drop(index=failing_day)
    assert not check(sample, period, gold, daily=missing)["cross_grain_reconciliation"].passed
    nothing = daily.iloc[:0]
    result = check(sample, period, gold, daily=nothing)["cross_grain_reconciliation"]
    assert not result.passed and result.metadata["day_rows"].value == 0


def test_reconciliation_fails_when_a_repo_row_is_lost(sample):
    gold = gold_of(sample, "week")
    busy = gold[(gold["scope_type"] == "repo") & (gold["deployments"] > 0)].index[0]
    result = check(sample, "week", gold.drop(index=busy))["reconciliation"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    lost = gold.loc[busy]
    org = gold[(gold["scope_type"] == "org") & (gold["period_start"] == lost["period_start"])].iloc[0]
    expected = {"period_start": lost["period_start"].date().isoformat(), "column": "deployments",
                "org": int(org["deployments"]), "sum_repo": int(org["deployments"] - lost["deployments"])}
    assert expected in result.metadata["sample"].value


def test_reconciliation_fails_when_gold_disagrees_with_silver(sample):
    silver = silver_of(sample)
    deployments = silver["deployments"]
    counted = deployments["release_id"] == deployments["deployment_id"]
    fewer = dict(silver, deployments=deployments.drop(index=deployments.index[counted][0]))
    result = check(sample, "month", gold_of(sample, "month"), fewer)["reconciliation"]
    assert not result.passed
    assert result.metadata["silver_successful_production_deployments"].value == \
        result.metadata["org_deployments"].value - 1


def test_schema_and_unique_key_fail_on_broken_gold(sample):
    gold = gold_of(sample, "day")
    bad_rate = gold.assign(change_failure_rate=gold["change_failure_rate"].where(gold.index != 0, 2.0))
    assert not check(sample, "day", bad_rate)["schema"].passed
    busy = gold[(gold["scope_type"] == "repo") & (gold["deployments"] > 0)].head(1)
    doubled = pd.concat([gold, busy], ignore_index=True)  # a double-counted repo
    results = check(sample, "day", doubled)
    assert not results["unique_key"].passed and not results["reconciliation"].passed


def test_data_recency_warns_on_old_data_with_the_configured_days(sample, monkeypatch):
    from devmetrics_assets.checks.gold_checks import MAX_AGE_ENV, max_data_age_days

    gold, silver = gold_of(sample, "day"), silver_of(sample)
    name, start, end = WINDOWS["day"]
    through = silver_data_through(silver)
    later = through + pd.Timedelta(days=5, hours=1)

    def recency(now) -> dg.AssetCheckResult:
        results = gold_check_results(name, gold, silver, start, end, None, sample.rules, now=now)
        return next(r for r in results if r.check_name == "data_recency")

    monkeypatch.delenv(MAX_AGE_ENV, raising=False)
    assert max_data_age_days() == 2
    old = recency(later)
    assert not old.passed and old.severity == dg.AssetCheckSeverity.WARN
    assert old.metadata["data_age_days"].value == 5
    assert old.metadata["data_through"].value == through.date().isoformat()
    assert "although this run is recent" in old.description
    monkeypatch.setenv(MAX_AGE_ENV, "7")
    assert recency(later).passed
    monkeypatch.setenv(MAX_AGE_ENV, "a week")
    broken = recency(later)
    assert not broken.passed and MAX_AGE_ENV in broken.description
