"""Gold for the sample organisation equals the truth the generator planted (not Gold compared with itself)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage.loaders import load_gold, load_silver

pytestmark = pytest.mark.slow

COUNTS = [
    "deployments", "failed_deploy_attempts", "change_failures", "change_failures_inferred", "rollbacks",
    "rework_deployments", "incidents_opened", "unrecovered_failures",
]


def _truth(materialised, name: str) -> pd.DataFrame:
    return pd.read_csv(materialised.org.truth_dir / name)


def _edge(materialised) -> dict:
    return json.loads((materialised.org.truth_dir / "truth_edge_cases.json").read_text())


def _gold_repo_days(materialised) -> pd.DataFrame:
    gold = load_gold("day", scope_type="repo", warehouse=materialised.settings.warehouse_path)
    gold = gold.rename(columns={"scope": "repo"})
    gold["day"] = gold["period_start"].dt.strftime("%Y-%m-%d")
    return gold


def test_daily_counts_per_repo_equal_planted_truth(materialised) -> None:
    truth = _truth(materialised, "truth_daily.csv").set_index(["repo", "day"])[COUNTS]
    gold = _gold_repo_days(materialised).set_index(["repo", "day"])[COUNTS]
    gold = gold[(gold != 0).any(axis=1)]
    assert truth["deployments"].sum() > 20, "the sample must plant enough deployments to mean something"
    joined = truth.join(gold.add_suffix("_gold"), how="outer").fillna(0)
    for column in COUNTS:
        diff = joined[joined[column] != joined[f"{column}_gold"]]
        assert diff.empty, f"{column} differs from truth:\n{diff[[column, f'{column}_gold']]}"


def test_lead_time_coverage_says_which_shipped_changes_have_no_lead_time(materialised) -> None:
    """Baseline shipments and skewed clocks have no lead time: coverage shows them, nothing is clamped."""
    edge = _edge(materialised)
    gold = load_gold("month", scope_type="org", warehouse=materialised.settings.warehouse_path)
    shipped, measured = int(gold["shipped_changes"].sum()), int(gold["lead_time_changes"].sum())
    truth = _truth(materialised, "truth_lead_times.csv")
    assert measured == len(truth) and shipped > measured
    assert int(gold["lead_time_negative_excluded"].sum()) == len(edge["skewed_clock_change_ids"])
    assert shipped - measured >= len(edge["baseline_change_ids"]) + len(edge["skewed_clock_change_ids"])


def test_lead_times_equal_truth_per_repo_and_day(materialised) -> None:
    truth = _truth(materialised, "truth_lead_times.csv")
    gold = _gold_repo_days(materialised).set_index(["repo", "day"])
    expected = truth.groupby(["repo", "day"])["lead_time_h"].agg(
        n="count", median="median", p90=lambda s: float(np.percentile(s, 90))
    )
    assert len(expected) > 10
    got = gold.loc[expected.index]
    assert (got["lead_time_changes"].to_numpy() == expected["n"].to_numpy()).all()
    np.testing.assert_allclose(got["lead_time_median_h"], expected["median"], atol=1e-6)
    np.testing.assert_allclose(got["lead_time_p90_h"], expected["p90"], atol=1e-6)


def test_recovery_times_equal_truth(materialised) -> None:
    truth = _truth(materialised, "truth_recoveries.csv").dropna(subset=["recovery_h"])
    gold = _gold_repo_days(materialised).set_index(["repo", "day"])
    expected = truth.groupby(["repo", "day"])["recovery_h"].agg(n="count", median="median")
    assert len(expected) > 0
    got = gold.loc[expected.index]
    assert (got["recoveries"].to_numpy() == expected["n"].to_numpy()).all()
    np.testing.assert_allclose(got["recovery_median_h"], expected["median"], atol=1e-6)


def test_change_failure_rate_of_the_organisation_equals_truth(materialised) -> None:
    truth = _truth(materialised, "truth_daily.csv")
    truth["month"] = pd.to_datetime(truth["day"]).dt.to_period("M").dt.start_time
    per_month = truth.groupby("month")[["change_failures", "deployments"]].sum()
    gold = load_gold("month", scope_type="org", warehouse=materialised.settings.warehouse_path)
    gold = gold.set_index("period_start").loc[per_month.index]
    expected = per_month["change_failures"] / per_month["deployments"]
    np.testing.assert_allclose(gold["change_failure_rate"], expected, atol=1e-9)
    assert (gold["change_failures"] > 0).any()


def test_org_week_pools_rows_instead_of_averaging_medians(materialised) -> None:
    truth = _truth(materialised, "truth_lead_times.csv")
    truth["week"] = pd.to_datetime(truth["day"]).dt.to_period("W-SUN").dt.start_time
    gold = load_gold("week", scope_type="org", warehouse=materialised.settings.warehouse_path)
    gold = gold.set_index("period_start")
    pooled = truth.groupby("week")["lead_time_h"].median()
    np.testing.assert_allclose(gold.loc[pooled.index, "lead_time_median_h"], pooled, atol=1e-6)


def test_incident_counts_are_repo_qualified(materialised) -> None:
    edge = _edge(materialised)
    incidents = load_silver("incidents", warehouse=materialised.settings.warehouse_path)
    assert incidents["incident_id"].is_unique
    colliding = edge["colliding_issue_numbers"]
    assert colliding, "the generator must plant colliding issue numbers"
    numbers = {int(str(c).split("#")[-1]) if isinstance(c, str) else int(c) for c in _flatten(colliding)}
    for number in numbers:
        assert incidents.loc[incidents["number"] == number, "repo"].nunique() >= 2


def _flatten(value) -> list:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flatten(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]
