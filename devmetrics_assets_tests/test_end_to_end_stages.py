"""Lead-time stages of the sample organisation equal the stage truth its generator planted (reviews)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage.loaders import load_gold, load_silver

pytestmark = pytest.mark.slow

STAGES = ("coding", "pickup", "review", "deploy")


def assert_stages_equal_truth(gold_repo_days: pd.DataFrame, truth: pd.DataFrame) -> int:
    """Per (repo, day) and stage: Gold's median and p90 equal the truth's pooled rows; null exactly where the
    truth has no value. Returns how many (repo, day, stage) statistics were compared."""
    gold = gold_repo_days.set_index(["repo", "day"])
    compared = 0
    for stage in STAGES:
        column = f"{stage}_h"
        values = truth.dropna(subset=[column])
        expected = values.groupby(["repo", "day"])[column].agg(
            median="median", p90=lambda s: float(np.percentile(s, 90))
        )
        got = gold.loc[expected.index]
        np.testing.assert_allclose(got[f"{stage}_median_h"], expected["median"], atol=1e-6, err_msg=stage)
        np.testing.assert_allclose(got[f"{stage}_p90_h"], expected["p90"], atol=1e-6, err_msg=stage)
        others = gold.drop(index=expected.index)
        assert others[f"{stage}_median_h"].isna().all(), f"{stage}: Gold has a median the truth has not"
        compared += len(expected)
    return compared


def _gold_repo_days(materialised) -> pd.DataFrame:
    gold = load_gold("day", scope_type="repo", warehouse=materialised.settings.warehouse_path)
    gold = gold.rename(columns={"scope": "repo"})
    gold["day"] = gold["period_start"].dt.strftime("%Y-%m-%d")
    return gold


def _stage_truth(materialised) -> pd.DataFrame:
    return pd.read_csv(materialised.org.truth_dir / "truth_lead_time_stages.csv")


def test_stage_statistics_equal_truth_per_repo_and_day(materialised) -> None:
    truth = _stage_truth(materialised)
    assert truth["pickup_h"].notna().sum() > 20 and truth["pickup_h"].isna().any()  # some PRs unreviewed
    assert assert_stages_equal_truth(_gold_repo_days(materialised), truth) > 40


def test_org_month_pools_stage_rows(materialised) -> None:
    truth = _stage_truth(materialised)
    truth["month"] = pd.to_datetime(truth["day"]).dt.to_period("M").dt.start_time
    gold = load_gold("month", scope_type="org", warehouse=materialised.settings.warehouse_path)
    gold = gold.set_index("period_start")
    for stage in STAGES:
        pooled = truth.dropna(subset=[f"{stage}_h"]).groupby("month")[f"{stage}_h"].median()
        np.testing.assert_allclose(gold.loc[pooled.index, f"{stage}_median_h"], pooled, atol=1e-6)


def test_silver_pull_requests_carry_opened_and_first_review(materialised) -> None:
    changes = load_silver("changes", warehouse=materialised.settings.warehouse_path)
    prs = changes[changes["kind"] == "pull_request"]
    assert prs["opened_at"].notna().all()
    reviewed = prs.dropna(subset=["first_review_at"])
    assert len(reviewed) > 0.8 * len(prs)
    assert (reviewed["first_review_at"] >= reviewed["opened_at"]).all()
    assert (reviewed["first_review_at"] <= reviewed["landed_at"]).all()
    direct = changes[changes["kind"] == "commit"]
    assert direct["opened_at"].isna().all() and direct["first_review_at"].isna().all()
