"""Data shaping for the charts and the report, on hand-built Gold frames with hand-computed answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from devmetrics_assets.report.data import (
    METRICS,
    band_zones,
    build_sections,
    last_full_period,
    lead_time_stages,
    metrics_for,
    period_changes,
    period_label,
    previous_start,
    stage_columns,
    worst_repos,
)
from devmetrics_assets.transforms.dora_bands import BAND_THRESHOLDS, FREQUENCY
from devmetrics_assets_tests.report.frames import TEAMS, gold, row, sample


def org(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["scope_type"] == "org"].reset_index(drop=True)


def test_five_metrics_in_dora_order_and_daily_frequency_is_a_volume() -> None:
    assert [m.key for m in METRICS] == ["deployment_frequency", "lead_time", "change_failure_rate",
                                        "recovery", "rework_rate"]
    daily = metrics_for("day")
    assert daily[0].column == "deployment_frequency_per_day" and daily[0].band_column is None
    assert metrics_for("week") == METRICS
    with pytest.raises(ValueError, match="grain"):
        metrics_for("year")


def test_band_zones_come_from_dora_bands() -> None:
    by_key = {m.key: m for m in METRICS}
    for key, column in [("lead_time", "lead_time_median_h"), ("change_failure_rate", "change_failure_rate"),
                        ("recovery", "recovery_median_h")]:
        zones = band_zones(by_key[key])
        limits = [c.limit for c in BAND_THRESHOLDS[column].cuts]
        assert [z.band for z in zones] == ["elite", "high", "medium", "low"]
        assert [z.high for z in zones[:-1]] == limits and [z.low for z in zones[1:]] == limits
        assert zones[0].low == 0 and zones[-1].high == math.inf
    frequency = band_zones(by_key["deployment_frequency"])
    assert [(z.band, z.low, z.high) for z in frequency] == [
        ("elite", FREQUENCY.elite_days_per_week, math.inf),
        ("high", FREQUENCY.high_days_per_week, FREQUENCY.elite_days_per_week),
        ("medium / low", 0.0, FREQUENCY.high_days_per_week),
    ]
    assert band_zones(by_key["rework_rate"]) == []


def test_period_labels_and_previous_periods() -> None:
    assert period_label(pd.Timestamp("2025-03-01"), "month") == "2025-03"
    assert period_label(pd.Timestamp("2024-12-30"), "week") == "2025-W01"  # ISO year
    assert period_label(pd.Timestamp("2025-03-04"), "day") == "2025-03-04"
    assert previous_start(pd.Timestamp("2025-03-01"), "month") == pd.Timestamp("2025-02-01")
    assert previous_start(pd.Timestamp("2025-03-10"), "week") == pd.Timestamp("2025-03-03")
    assert previous_start(pd.Timestamp("2025-03-01"), "day") == pd.Timestamp("2025-02-28")


def test_last_full_period_skips_partial_ones() -> None:
    assert last_full_period(org(sample())) == pd.Timestamp("2025-03-01")
    only_partial = gold([row("2025-01-01", is_partial=True), row("2025-02-01", is_partial=True)])
    assert last_full_period(only_partial) == pd.Timestamp("2025-02-01")
    assert last_full_period(only_partial.iloc[0:0]) is None


def test_changes_against_the_previous_period_hand_computed() -> None:
    changes = period_changes(org(sample()), "month").set_index("metric")
    assert set(changes["period"]) == {"2025-03"} and set(changes["previous_period"]) == {"2025-02"}
    frequency = changes.loc["deployment_frequency"]  # 3 -> 4 days per week: higher is better
    assert (frequency["value"], frequency["previous"], frequency["change"]) == (4.0, 3.0, 1.0)
    assert frequency["change_pct"] == pytest.approx(1 / 3) and frequency["direction"] == "better"
    assert frequency["band"] == "high"  # 1 <= 4 < 7 deploy days per week
    cfr = changes.loc["change_failure_rate"]  # 10 % -> 5 %: lower is better
    assert cfr["change"] == pytest.approx(-0.05) and cfr["change_pct"] == pytest.approx(-0.5)
    assert cfr["direction"] == "better" and cfr["band"] == "elite"
    lead = changes.loc["lead_time"]  # 40 h -> 50 h
    assert lead["change"] == 10.0 and lead["change_pct"] == pytest.approx(0.25)
    assert lead["direction"] == "worse" and lead["band"] == "high"
    recovery = changes.loc["recovery"]  # nothing recovered in February: no change
    assert recovery["value"] == 3.0 and pd.isna(recovery["previous"]) and pd.isna(recovery["change"])
    assert recovery["direction"] is None or pd.isna(recovery["direction"])
    rework = changes.loc["rework_rate"]  # 0 -> 10 %: no relative change from 0, no band
    assert rework["change"] == pytest.approx(0.1) and pd.isna(rework["change_pct"])
    assert rework["direction"] == "worse" and (rework["band"] is None or pd.isna(rework["band"]))


def test_a_missing_previous_period_is_not_the_previous_row() -> None:
    frame = sample()
    team_y = frame[(frame["scope_type"] == "team") & (frame["scope"] == "y")]
    changes = period_changes(team_y, "month").set_index("metric")  # rows: Jan (partial), Mar
    assert changes.loc["change_failure_rate", "previous_period"] == "2025-02"
    assert changes["previous"].isna().all() and changes["change"].isna().all()


def test_same_value_is_same() -> None:
    frame = gold([row("2025-02-01"), row("2025-03-01")])
    assert set(period_changes(frame, "month")["direction"]) == {"same"}


def test_worst_repos_by_cfr_and_lead_time() -> None:
    frame = sample()
    march = pd.Timestamp("2025-03-01")
    cfr = worst_repos(frame, march, "change_failure_rate")
    # c 50 %; a and b 20 % each, b first with more failures; d has no deployment; February not read
    assert cfr["repo"].tolist() == ["acme/c", "acme/b", "acme/a"]
    assert worst_repos(frame, march, "change_failure_rate", n=2)["repo"].tolist() == ["acme/c", "acme/b"]
    team_x = worst_repos(frame, march, "change_failure_rate", repos=["acme/a", "acme/b"])
    assert team_x["repo"].tolist() == ["acme/b", "acme/a"]
    lead = worst_repos(frame, march, "lead_time_median_h")
    assert lead["repo"].tolist() == ["acme/b", "acme/a"]  # c and d have no lead time
    assert lead["lead_time_median_h"].tolist() == [70.0, 10.0]
    with pytest.raises(ValueError, match="ranking"):
        worst_repos(frame, march, "rework_rate")


def test_lead_time_stages_only_when_gold_has_them() -> None:
    frame = org(sample())
    assert stage_columns(frame.columns) == {} and lead_time_stages(frame, "month") is None
    columns = ["review_time_median_h", "lead_time_coding_median_h", "pickup_median_h", "deploy_p90_h"]
    assert stage_columns(columns) == {"coding": "lead_time_coding_median_h", "pickup": "pickup_median_h",
                                      "review": "review_time_median_h"}
    frame = frame.assign(coding_median_h=[1.0, 2.0, 3.0, 4.0], pickup_median_h=[0.5, None, 1.0, 1.0])
    stages = lead_time_stages(frame, "month", last=3)
    assert stages is not None
    assert stages["period"].tolist() == ["2025-02", "2025-03", "2025-04"]
    assert stages.columns.tolist() == ["period", "is_partial", "coding", "pickup"]
    assert stages["coding"].tolist() == [2.0, 3.0, 4.0]
    assert stages["is_partial"].tolist() == [False, False, True]


def test_sections_org_then_teams_with_their_own_repos() -> None:
    sections = build_sections(sample(), "month", TEAMS)
    assert [(s.kind, s.name) for s in sections] == [("org", "all"), ("team", "x"), ("team", "y")]
    org_section, x, y = sections
    assert org_section.title == "Organisation" and x.title == "Team x"
    assert org_section.explain_scope == "org" and y.explain_scope == "team:y"
    assert org_section.at == pd.Timestamp("2025-03-01") and org_section.latest_partial == "2025-04"
    assert len(org_section.trend) == 4 and set(org_section.trend["scope_type"]) == {"org"}
    assert org_section.worst_cfr["repo"].tolist() == ["acme/c", "acme/b", "acme/a"]
    assert x.worst_cfr["repo"].tolist() == ["acme/b", "acme/a"] and x.latest_partial is None
    assert y.worst_cfr["repo"].tolist() == ["acme/c"] and y.worst_lead_time.empty
    assert sections[1].changes["period"].iloc[0] == "2025-03"
    by_function = build_sections(sample(), "month", lambda repo: TEAMS.get(repo, "unassigned"))
    assert [s.worst_cfr["repo"].tolist() for s in by_function] == [s.worst_cfr["repo"].tolist()
                                                                   for s in sections]
