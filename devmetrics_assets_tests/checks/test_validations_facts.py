"""reconcile_facts: stored daily Gold against the aggregate of the fact rows (pure, hand-written facts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.checks.validations_facts import CHECK_NAME, expected_daily_gold, reconcile_facts
from devmetrics_assets_tests.transforms.test_gold_explain import RULES, facts

START, END = pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-01")


def expected() -> pd.DataFrame:
    return expected_daily_gold(facts(), RULES, START, END)


def test_stored_gold_equal_to_the_facts_passes() -> None:
    gold = expected()
    for kind in ("deployments", "changes", "incidents"):
        found = reconcile_facts(kind, gold.copy(), gold, START, END)
        assert found.passed and found.name == CHECK_NAME, found.summary
    # 31 org days, plus the repo/team/service rows of 3, 4 and 5 March (api and web)
    assert found.counts["rows"] == 31 + 2 * 3 + 1 * 3 + 2 * 3


def test_a_tampered_count_or_median_fails_and_names_the_day() -> None:
    want = expected()
    stored = want.copy()
    day4 = (stored["period_start"] == pd.Timestamp("2025-03-04")) & (stored["scope"] == "payments")
    stored.loc[day4, "rework_deployments"] = 0
    found = reconcile_facts("deployments", stored, want, START, END)
    assert not found.passed and found.failed_days == ("2025-03-04",)
    assert found.sample == [{"period_start": "2025-03-04", "scope_type": "team", "scope": "payments",
                             "column": "rework_deployments", "stored_gold": 0, "from_facts": 1}]
    assert reconcile_facts("changes", stored, want, START, END).passed  # not a column the changes feed
    stored = want.copy()
    org3 = (stored["period_start"] == pd.Timestamp("2025-03-03")) & (stored["scope_type"] == "org")
    stored.loc[org3, "lead_time_median_h"] = 10.5
    assert not reconcile_facts("changes", stored, want, START, END).passed


def test_a_missing_or_extra_row_fails() -> None:
    want = expected()
    missing = want[~((want["scope_type"] == "repo") & (want["scope"] == "org/web"))]
    found = reconcile_facts("deployments", missing, want, START, END)
    assert not found.passed and {m["scope"] for m in found.sample} == {"org/web"}
    extra = pd.concat([want, want.iloc[[0]].assign(scope_type="repo", scope="org/ghost", deployments=1)])
    assert not reconcile_facts("deployments", extra, want, START, END).passed
    assert not reconcile_facts("incidents", want.iloc[:0], want, START, END).passed


def test_rows_outside_the_window_and_null_statistics_are_ignored() -> None:
    want = expected()
    outside = want.iloc[[0]].assign(period_start=pd.Timestamp("2025-05-01"), deployments=99)
    stored = pd.concat([want, outside], ignore_index=True)
    assert np.isnan(want["recovery_median_h"]).any()
    assert reconcile_facts("deployments", stored, want, START, END).passed


def test_other_statistics_of_the_changes_are_compared_too() -> None:
    """Lead-time stage medians (or any further *_median_h / *_p90_h Gold gains) come from the change facts."""
    want = expected().assign(stage_x_median_h=1.0)
    stored = want.copy()
    stored.loc[stored.index[0], "stage_x_median_h"] = 2.0
    found = reconcile_facts("changes", stored, want, START, END)
    assert not found.passed and found.sample[0]["column"] == "stage_x_median_h"
    assert reconcile_facts("deployments", stored, want, START, END).passed
    assert reconcile_facts("changes", stored.drop(columns="stage_x_median_h"), want, START, END).passed
