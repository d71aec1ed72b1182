"""Lead-time stages in the Gold facts and per period and scope, with hours worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from devmetrics_assets.checks.gold_schemas import GoldDoraSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_facts import LEAD_TIME_FACT_COLUMNS, lead_time_facts
from devmetrics_assets.transforms.gold_metrics import GOLD_COLUMNS, STAGE_GOLD_COLUMNS, build_gold
from devmetrics_assets_tests.transforms.test_gold_facts import (
    API,
    WEB,
    at,
    change,
    changes_frame,
    deploy,
    deployments_frame,
    incidents_frame,
)


def day(n: int) -> pd.Timestamp:
    return at(n).tz_localize(None)


RULES = DoraRules(repo_owners={API: {"team": "core"}, WEB: {"team": "core"}})


def pr(
    cid: str, first: float, opened: float | None, review: float | None, merged: float, repo: str = API
) -> dict:
    """A PR change; times are hours on day 1 (Tuesday 4 March 2025)."""
    row = change(cid, at(1, first), repo=repo)
    row |= {
        "landed_at": at(1, merged),
        "opened_at": None if opened is None else at(1, opened),
        "first_review_at": None if review is None else at(1, review),
        "event_day": at(1).tz_localize(None).normalize(),
    }
    return row


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    deps = deployments_frame(
        [
            deploy(0, 0, hour=6, minutes=0, changes=("c0",), baseline=True),
            deploy(1, 1, hour=16, minutes=0, changes=("a", "b", "c", "d")),  # live 16:00 on day 1
            deploy(2, 1, hour=18, minutes=30, repo=WEB, changes=("w",)),  # live 18:30
        ]
    )
    rows = [
        pr("c0", 0, 1, 2, 3),  # baseline: no stages
        pr("a", 8, 9, 10.5, 12),  # coding 1, pickup 1.5, review 1.5, deploy 4
        pr("b", 9, 8.5, None, 13),  # opened before its first commit: coding null; no review; deploy 3
        pr("c", 6, 7, 11, 10),  # a review after the merge never reaches Silver; here it gives review < 0
        pr("w", 7, 10, 11, 14, repo=WEB),  # coding 3, pickup 1, review 3, deploy 4.5
    ]
    chs = changes_frame(rows)
    for col in ("opened_at", "first_review_at"):
        chs[col] = pd.to_datetime(pd.Series([r[col] for r in rows]), utc=True).dt.as_unit("us")
    direct = changes_frame([change("d", at(1, 15))])
    direct["kind"], direct["pr_number"], direct["merge_method"] = "commit", pd.NA, "direct"
    return deps, pd.concat([chs, direct], ignore_index=True)


def test_stage_facts_per_shipped_change() -> None:
    deps, chs = frames()
    facts = lead_time_facts(deps, chs)
    assert list(facts.columns) == LEAD_TIME_FACT_COLUMNS
    out = facts.set_index("change_id")
    stages = ["coding_h", "pickup_h", "review_h", "deploy_h"]
    got = out[stages].astype(object).where(out[stages].notna(), None).to_dict("index")
    assert got == {
        "c0": dict.fromkeys(stages),
        "a": {"coding_h": 1.0, "pickup_h": 1.5, "review_h": 1.5, "deploy_h": 4.0},
        "b": {"coding_h": None, "pickup_h": None, "review_h": None, "deploy_h": 3.0},
        "c": {"coding_h": 1.0, "pickup_h": 4.0, "review_h": None, "deploy_h": 6.0},
        "d": dict.fromkeys(stages),  # a direct commit has no stages
        "w": {"coding_h": 3.0, "pickup_h": 1.0, "review_h": 3.0, "deploy_h": 4.5},
    }
    assert out.loc["a", "merged_at"] == at(1, 12) and pd.isna(out.loc["d", "merged_at"])
    assert out.loc["a", "opened_at"] == at(1, 9) and out.loc["a", "first_review_at"] == at(1, 10.5)
    # lead time is untouched: a = 16 - 8 = 8 h = 1 + 1.5 + 1.5 + 4
    assert out.loc["a", "lead_time_h"] == pytest.approx(8.0)


def test_gold_stage_medians_and_p90_pool_the_rows_of_a_scope() -> None:
    deps, chs = frames()
    gold = build_gold(deps, chs, incidents_frame([]), RULES, "day", day(1), day(2))
    GoldDoraSchema.validate(gold)
    assert list(gold.columns) == GOLD_COLUMNS
    assert GOLD_COLUMNS[-len(STAGE_GOLD_COLUMNS) :] == STAGE_GOLD_COLUMNS  # appended after the bands
    rows = gold.set_index(["scope_type", "scope"])
    api, team = rows.loc[("repo", API)], rows.loc[("team", "core")]
    # api: coding [1, 1] pickup [1.5, 4] review [1.5] deploy [4, 3, 6]
    assert (api["coding_median_h"], api["coding_p90_h"]) == pytest.approx((1.0, 1.0))
    assert (api["pickup_median_h"], api["pickup_p90_h"]) == pytest.approx((2.75, 3.75))
    assert (api["review_median_h"], api["review_p90_h"]) == pytest.approx((1.5, 1.5))
    assert (api["deploy_median_h"], api["deploy_p90_h"]) == pytest.approx((4.0, 5.6))
    # team core pools api and web: coding [1, 1, 3] review [1.5, 3] deploy [4, 3, 6, 4.5]
    assert (team["coding_median_h"], team["coding_p90_h"]) == pytest.approx((1.0, 2.6))
    assert (team["review_median_h"], team["review_p90_h"]) == pytest.approx((2.25, 2.85))
    assert (team["deploy_median_h"], team["deploy_p90_h"]) == pytest.approx((4.25, 5.55))
    org = rows.loc[("org", "all"), STAGE_GOLD_COLUMNS].tolist()
    assert org == pytest.approx(team[STAGE_GOLD_COLUMNS].tolist())
    # the lead-time figures are those of before: a 8 h, b 7 h, c 10 h, d 1 h (direct commit); w 11.5 h
    assert api["lead_time_changes"] == 4 and api["lead_time_median_h"] == pytest.approx(7.5)


def test_periods_without_shipped_changes_have_null_stages() -> None:
    deps, chs = frames()
    gold = build_gold(deps, chs, incidents_frame([]), RULES, "day", day(2), day(3))
    assert gold[STAGE_GOLD_COLUMNS].isna().all().all()


def test_old_silver_without_stage_columns_gives_null_stages() -> None:
    deps, chs = frames()
    facts = lead_time_facts(deps, chs.drop(columns=["opened_at", "first_review_at"]))
    assert facts[["coding_h", "pickup_h", "review_h"]].isna().all().all()
    assert facts.set_index("change_id").loc["a", "deploy_h"] == pytest.approx(4.0)
