"""explain_facts on hand-written fact rows, with every expected number worked out by hand.

March 2025 (rules: org/api -> team payments, service api; org/web -> team web, service web):
- deployments: api:1 (03-03, change failure by root cause, recovered in 2 h), api:2 (03-04, a rollback:
  rework), api:3 (03-05, a failed attempt: not a deployment), web:10 (03-04, change failure by an inferred
  link, unrecovered), web:11 (02-28: another month).
- changes: c1 (api, 10 h), c2 (api, 20 h), c3 (web, 40 h), c4 (web, baseline: no lead time).
Org: 3 deployments, 2 change failures (66.7 %), 1 rework (33.3 %), 1 recovery (2 h) of 2 failures,
4 shipped changes of which 3 measured (median 20 h); team payments: 2 deployments, 1 failure (50 %),
lead times 10 and 20 h (median 15 h).
"""

from __future__ import annotations

import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_explain import (
    ExplainError,
    explain_facts,
    parse_period,
    parse_scope,
    resolve_metric,
)

RULES = DoraRules(repo_owners={"org/api": {"team": "payments", "service": "api"},
                               "org/web": {"team": "web", "service": "web"}})
UTC = "datetime64[us, UTC]"


def dep(dep_id: str, day: str, *, success: bool = True, kinds: str = "", recovery: float | None = None,
        rework: bool = False, rollback: bool = False) -> dict:
    failed = kinds != ""
    return {
        "deployment_id": dep_id, "repo": dep_id.split(":")[0], "event_day": pd.Timestamp(day),
        "is_success": success, "is_failed_attempt": not success, "is_rollback": rollback,
        "is_change_failure": failed and success, "is_change_failure_inferred_only": kinds == "inferred",
        "failure_kinds": kinds, "recovery_h": recovery, "is_unrecovered": failed and recovery is None,
        "failure_start_at": pd.Timestamp(day, tz="UTC") if failed else None, "is_rework": rework,
    }


def lead(change_id: str, dep_id: str, day: str, hours: float | None) -> dict:
    return {"change_id": change_id, "repo": dep_id.split(":")[0], "deployment_id": dep_id,
            "event_day": pd.Timestamp(day), "lead_time_h": hours,
            "lead_time_status": "measured" if hours is not None else "baseline"}


def facts() -> dict[str, pd.DataFrame]:
    deployments = pd.DataFrame([
        dep("org/api:1", "2025-03-03", kinds="root_cause", recovery=2.0),
        dep("org/api:2", "2025-03-04", rework=True, rollback=True),
        dep("org/api:3", "2025-03-05", success=False),
        dep("org/web:10", "2025-03-04", kinds="inferred"),
        dep("org/web:11", "2025-02-28"),
    ])
    deployments["failure_start_at"] = pd.to_datetime(deployments["failure_start_at"], utc=True).astype(UTC)
    deployments["recovery_h"] = deployments["recovery_h"].astype("float64")
    changes = pd.DataFrame([
        lead("org/api#1", "org/api:1", "2025-03-03", 10.0),
        lead("org/api#2", "org/api:2", "2025-03-04", 20.0),
        lead("org/web#3", "org/web:10", "2025-03-04", 40.0),
        lead("org/web@abc", "org/web:10", "2025-03-04", None),
    ])
    changes["lead_time_h"] = changes["lead_time_h"].astype("float64")
    incidents = pd.DataFrame({
        "incident_id": ["org/api#1", "org/web#pagerduty-7", "org/api#2"],
        "repo": ["org/api", "org/web", "org/api"],
        "event_day": pd.to_datetime(["2025-03-03", "2025-03-05", "2025-04-02"]),
        "deployment_id": ["org/api:1", "org/web:10", None],
        "link": ["root_cause", "inferred", None],
    })
    return {"deployments": deployments, "changes": changes, "incidents": incidents}


DELIVERIES = {"org/api:1": "d1,d2", "org/web:10": "d3", "org/api#1": "d9", "org/web#pagerduty-7": "p1,p2",
              "org/api#2": "d5"}


def test_change_failure_rate_of_the_org_month() -> None:
    e = explain_facts("change_failure_rate", "org", "2025-03", facts(), RULES, DELIVERIES)
    assert (e.metric, e.scope, e.period, e.grain) == ("change_failure_rate", "org", "2025-03", "month")
    assert e.value == pytest.approx(2 / 3)
    assert e.formula == "change_failure_rate = change_failures / deployments = 2 / 3 = 66.7 %"
    assert e.numerator["deployment_id"].tolist() == ["org/api:1", "org/web:10"]
    assert e.denominator["deployment_id"].tolist() == ["org/api:1", "org/api:2", "org/web:10"]
    assert e.numerator["delivery_ids"].tolist() == ["d1,d2", "d3"]
    assert e.numerator["incident_ids"].tolist() == ["org/api#1", "org/web#pagerduty-7"]
    assert e.numerator["incident_links"].tolist() == ["root_cause", "inferred"]
    assert e.numerator["incident_delivery_ids"].tolist() == ["d9", "p1,p2"]
    assert e.counts["deployments"] == 3 and e.counts["change_failures"] == 2


def test_team_scope_week_and_day() -> None:
    team = explain_facts("change_failure_rate", "team:payments", "2025-W10", facts(), RULES)
    assert (team.grain, team.value, team.scope) == ("week", 0.5, "team:payments")
    assert team.formula.endswith("= 1 / 2 = 50.0 %")
    day = explain_facts("change_failure_rate", "org", "2025-03-04", facts(), RULES)
    assert (day.grain, day.value) == ("day", 0.5)
    assert day.numerator["deployment_id"].tolist() == ["org/web:10"]
    assert day.numerator["delivery_ids"].tolist() == [""]  # no lineage given


def test_lead_time_rework_recovery_and_frequency() -> None:
    lt = explain_facts("lead_time_median_h", "org", "2025-03", facts(), RULES)
    assert lt.metric == "lead_time" and lt.value == 20.0
    assert len(lt.numerator) == 3 and len(lt.denominator) == 4
    assert lt.formula == ("lead_time_median_h = median(lead_time_h) over the lead_time_changes = median of 3 "
                          "of 4 shipped_changes = 20.00 h")
    assert explain_facts("lead_time", "team:payments", "2025-03", facts(), RULES).value == 15.0
    rework = explain_facts("rework_rate", "org", "2025-03", facts(), RULES)
    assert rework.value == pytest.approx(1 / 3)
    assert rework.numerator["deployment_id"].tolist() == ["org/api:2"]
    rec = explain_facts("recovery_time", "org", "2025-03", facts(), RULES)
    assert rec.value == 2.0 and len(rec.numerator) == 1 and len(rec.denominator) == 2
    freq = explain_facts("deployment_frequency", "service:web", "2025-03", facts(), RULES)
    assert freq.value == pytest.approx(1 / 31) and freq.denominator.empty
    assert freq.formula == "deployment_frequency_per_day = deployments / days = 1 / 31 = 0.0323 per day"


def test_a_period_without_deployments_says_so() -> None:
    e = explain_facts("change_failure_rate", "org", "2025-04", facts(), RULES)
    assert e.value is None and e.numerator.empty and e.denominator.empty
    assert e.formula == "no deployments in 2025-04 for org: change_failure_rate is undefined"
    lt = explain_facts("lead_time", "repo:org/web", "2025-03-05", facts(), RULES)
    assert lt.value is None


def test_a_median_without_rows_is_none() -> None:
    e = explain_facts("recovery_time", "team:web", "2025-03", facts(), RULES)
    assert e.value is None and "median of 0 of 1 change_failures = n/a" in e.formula


def test_periods_scopes_and_metrics_are_parsed_or_refused() -> None:
    week = parse_period("2025-w01")
    assert (week.label, week.grain, str(week.start.date()), str(week.end.date())) == (
        "2025-W01", "week", "2024-12-30", "2025-01-06")
    month = parse_period("2024-02")
    assert (month.grain, str(month.end.date())) == ("month", "2024-03-01")
    assert parse_period("2025-03-09").grain == "day"
    assert parse_scope("org") == ("org", "all") and parse_scope("repo:acme/a") == ("repo", "acme/a")
    assert resolve_metric("recovery_median_h").name == "recovery_time"
    for bad in ("2025-13", "2025-W54", "March", "2025-02-30"):
        with pytest.raises(ExplainError, match="YYYY-MM-DD"):
            parse_period(bad)
    with pytest.raises(ExplainError, match="team:NAME"):
        parse_scope("payments")
    with pytest.raises(ExplainError, match="deployment_frequency, lead_time, change_failure_rate"):
        resolve_metric("mttr")
