"""Gold aggregation per period and scope, against values worked out by hand from small Silver frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from devmetrics_assets.checks.gold_schemas import GoldDoraSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_metrics import GOLD_COLUMNS, build_gold, period_floor, period_range
from devmetrics_assets_tests.transforms.test_gold_facts import (
    API,
    WEB,
    at,
    change,
    changes_frame,
    deploy,
    deployments_frame,
    incident,
    incidents_frame,
    sha,
)

OPS = "org/ops"
RULES = DoraRules(repo_owners={API: {"team": "platform", "service": "checkout"}, WEB: {"team": "platform"}})
MON = pd.Timestamp("2025-03-03")


def gold_of(deps, chs=(), incs=(), *, period="day", start=MON, end=MON + pd.Timedelta(days=1)):
    out = build_gold(
        deployments_frame(list(deps)),
        changes_frame(list(chs)),
        incidents_frame(list(incs)),
        RULES,
        period,
        pd.Timestamp(start),
        pd.Timestamp(end),
    )
    GoldDoraSchema.validate(out, lazy=True)
    return out


def row(gold: pd.DataFrame, scope_type: str, scope: str, period_start=MON) -> pd.Series:
    hit = gold[
        (gold["scope_type"] == scope_type)
        & (gold["scope"] == scope)
        & (gold["period_start"] == pd.Timestamp(period_start))
    ]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def test_one_repo_one_day_every_metric_by_hand() -> None:
    bad = sha(2)
    # deployment 1 finishes 10:30 shipping c1 (1 h) and c2 (2 h); deployment 2 finishes 12:30 shipping
    # c3 (3 h) and c4 (10 h) and is the root cause of incident 1, resolved 4 h after it finished.
    deps = [
        deploy(1, 0, hour=10, changes=("c1", "c2"), commits=(sha(1),)),
        deploy(2, 0, hour=12, changes=("c3", "c4"), commits=(bad,)),
        deploy(3, 0, hour=14, status="failure"),
        deploy(4, 0, hour=15, env="staging", changes=("c5",)),
    ]
    chs = [
        change("c1", at(0, 9.5)),
        change("c2", at(0, 8.5)),
        change("c3", at(0, 9.5)),
        change("c4", at(0, 2.5)),
        change("c5", at(0, 0)),
    ]
    incs = [incident(1, at(0, 13), at(0, 16.5), root_cause=bad[:8])]
    r = row(gold_of(deps, chs, incs), "repo", API)
    assert (r["deployments"], r["failed_deploy_attempts"], r["change_failures"]) == (2, 1, 1)
    assert r["change_failure_rate"] == 0.5
    assert r["lead_time_changes"] == 4
    # lead times 1, 2, 3, 10: median (2+3)/2; p90 at position 0.9*3 = 2.7 -> 3 + 0.7*(10-3)
    assert r["lead_time_median_h"] == pytest.approx(2.5)
    assert r["lead_time_p90_h"] == pytest.approx(7.9)
    assert (r["shipped_changes"], r["lead_time_coverage"], r["lead_time_negative_excluded"]) == (4, 1.0, 0)
    assert (r["recoveries"], r["unrecovered_failures"]) == (1, 0)
    # recovery runs from the incident's opening (13:00, after the 12:30 finish) to its resolution (16:30)
    assert r["recovery_median_h"] == pytest.approx(3.5) and r["recovery_p90_h"] == pytest.approx(3.5)
    assert (r["rework_deployments"], r["rework_rate"], r["incidents_opened"], r["rollbacks"]) == (
        0,
        0.0,
        1,
        0,
    )
    assert (r["change_failures_inferred"], r["change_failure_rate_root_cause_only"]) == (0, 0.5)
    assert r["deployment_frequency_per_day"] == 2.0 and r["deploy_days"] == 1
    assert (r["days_covered"], r["is_partial"]) == (1, False)
    assert pd.isna(r["deploy_days_per_week_median"]) and pd.isna(r["unrecovered_oldest_age_h"])
    assert pd.isna(r["deployment_frequency_band"]), "a day is no week: no frequency band"
    bands = (r["lead_time_band"], r["change_failure_rate_band"], r["recovery_band"])
    assert bands == ("elite", "low", "high")
    assert r["period"] == "day"


def test_rollups_pool_rows_and_never_average_medians() -> None:
    # api lead times 1, 2, 3 h (median 2); web 10, 20 h (median 15). The mean of the medians is 8.5,
    # the pooled median of 1, 2, 3, 10, 20 is 3.
    deps = [
        deploy(1, 0, hour=10, minutes=0, changes=("a1", "a2", "a3")),
        deploy(1, 2, hour=20, minutes=0, repo=WEB, changes=("w1", "w2")),
    ]
    chs = [
        change("a1", at(0, 9)),
        change("a2", at(0, 8)),
        change("a3", at(0, 7)),
        change("w1", at(2, 10), repo=WEB),
        change("w2", at(2, 0), repo=WEB),
    ]
    gold = gold_of(deps, chs, period="week", end=MON + pd.Timedelta(days=7))
    api, web = row(gold, "repo", API), row(gold, "repo", WEB)
    team, org = row(gold, "team", "platform"), row(gold, "org", "all")
    assert (api["lead_time_median_h"], web["lead_time_median_h"]) == (2.0, 15.0)
    assert team["lead_time_median_h"] == 3.0 != (api["lead_time_median_h"] + web["lead_time_median_h"]) / 2
    assert team["lead_time_p90_h"] == pytest.approx(16.0)  # position 3.6 -> 10 + 0.6*(20-10)
    assert api["lead_time_p90_h"] == pytest.approx(2.8) and web["lead_time_p90_h"] == pytest.approx(19.0)
    assert team["lead_time_changes"] == 5 and team["deployments"] == 2
    assert org[["lead_time_median_h", "lead_time_p90_h"]].tolist() == [3.0, pytest.approx(16.0)]
    # services: api -> checkout, web has none declared and is its own service
    assert row(gold, "service", "checkout")["lead_time_median_h"] == 2.0
    assert row(gold, "service", WEB)["lead_time_median_h"] == 15.0
    assert team["deployment_frequency_per_day"] == pytest.approx(2 / 7)


def test_org_row_for_every_period_even_without_activity() -> None:
    # window: three ISO weeks from Monday 3 March; the only deployment is on Sunday 16 March
    deps = [deploy(1, 13, hour=23, minutes=10)]
    gold = gold_of(deps, period="week", end=MON + pd.Timedelta(days=21))
    org = gold[gold["scope_type"] == "org"].set_index("period_start")
    assert list(org.index) == list(pd.to_datetime(["2025-03-03", "2025-03-10", "2025-03-17"]))
    assert org["deployments"].tolist() == [0, 1, 0]
    empty = org.loc[pd.Timestamp("2025-03-03")]
    nullable = ["change_failure_rate", "rework_rate", "lead_time_median_h", "recovery_median_h"]
    assert empty[nullable].isna().all()
    assert empty["deployment_frequency_per_day"] == 0.0
    # the data covers only Sunday 16 March: every week is partial and no whole week says a frequency
    assert org["days_covered"].tolist() == [0, 1, 0] and org["is_partial"].all()
    assert org["deploy_days_per_week_median"].isna().all() and org["deployment_frequency_band"].isna().all()
    assert pd.isna(empty["change_failure_rate_band"])
    assert gold.loc[gold["scope_type"] == "repo", "period_start"].tolist() == [pd.Timestamp("2025-03-10")]
    assert list(gold.columns) == GOLD_COLUMNS
    assert gold["period"].eq("week").all()


def test_month_frequency_divides_by_the_days_of_that_month() -> None:
    feb = pd.Timestamp("2025-02-01")
    deps = [deploy(n, -30 + 2 * n, hour=9) for n in range(14)]  # 14 deployments between 1 and 27 Feb
    deps.append(deploy(99, 10, hour=9))  # one on 13 March
    gold = gold_of(deps, period="month", start=feb, end=pd.Timestamp("2025-04-01"))
    february = row(gold, "org", "all", feb)
    assert february["deployment_frequency_per_day"] == 0.5  # 14 / 28
    # deploy days every other day: whole weeks 3-9, 10-16, 17-23 Feb have 4, 3 and 4 -> median 4
    assert (february["deploy_days"], february["deploy_days_per_week_median"]) == (14, 4.0)
    assert february["deployment_frequency_band"] == "high" and not february["is_partial"]
    march = row(gold, "org", "all", "2025-03-01")
    assert march["deployment_frequency_per_day"] == pytest.approx(1 / 31)
    # the data ends on 13 March: a partial month whose one whole week (3-9 March) had no deployment
    assert (march["days_covered"], march["is_partial"], march["deploy_days_per_week_median"]) == (
        13,
        True,
        0.0,
    )
    assert pd.isna(march["deployment_frequency_band"]), "a partial month is not read as a dip"


def test_frequency_band_medium_and_low_need_a_whole_observed_month() -> None:
    jan = pd.Timestamp("2025-01-01")
    # deployments on 2 January (the data starts), 20 January and 31 March (the data ends)
    deps = [deploy(1, -60, hour=9), deploy(2, -42, hour=9), deploy(3, 28, hour=9)]
    gold = gold_of(deps, period="month", start=jan, end=pd.Timestamp("2025-04-01"))
    january, february, march = (
        row(gold, "org", "all", m) for m in ("2025-01-01", "2025-02-01", "2025-03-01")
    )
    assert (january["days_covered"], january["is_partial"]) == (30, True)
    assert january["deploy_days_per_week_median"] == 0.0 and pd.isna(january["deployment_frequency_band"])
    assert (february["deploy_days"], february["deployment_frequency_band"]) == (0, "low")
    assert (march["deploy_days"], march["deployment_frequency_band"]) == (1, "medium")


def test_failures_recoveries_and_lead_times_land_on_the_deployment_day() -> None:
    late = sha(40)
    deps = [
        deploy(1, 0, hour=6, minutes=0, changes=("c1",), commits=(sha(1),)),
        deploy(2, 0, hour=8, minutes=0, prev=1, commits=(sha(2),)),
        # rolls 2 back (back to 1, undoing 2's change) 48 h later
        deploy(3, 2, hour=8, minutes=0, prev=2, rollback=True, sha_=sha(1), undoes=2),
        deploy(4, 1, hour=5, minutes=0, repo=WEB, commits=(late,)),
    ]
    chs = [change("c1", at(-3, 6))]  # landed days before the window: attributed to its shipping day
    incs = [incident(7, at(5), None, repo=WEB, root_cause=late)]  # opened after the window, still open
    gold = gold_of(deps, chs, incs, end=MON + pd.Timedelta(days=3))
    day0, day2 = (row(gold, "repo", API, MON + pd.Timedelta(days=d)) for d in (0, 2))
    day1 = row(gold, "repo", WEB, MON + pd.Timedelta(days=1))
    assert (day0["change_failures"], day0["recoveries"], day0["recovery_median_h"]) == (1, 1, 48.0)
    assert (day0["lead_time_changes"], day0["lead_time_median_h"]) == (1, 72.0)
    assert (day1["change_failures"], day1["unrecovered_failures"], day1["recoveries"]) == (1, 1, 0)
    assert pd.isna(day1["recovery_median_h"]) and pd.isna(day1["recovery_band"])
    # the failure is known from day 5 (the incident's opening): at the end of day 1 it was 0 h old
    assert day1["unrecovered_oldest_age_h"] == 0.0
    assert (day2["deployments"], day2["change_failures"], day2["rework_deployments"]) == (1, 0, 1)
    assert (day2["rework_rate"], day2["rollbacks"]) == (1.0, 1)
    assert gold["incidents_opened"].sum() == 0  # the incident opened outside the window


def test_history_before_the_window_decides_first_shipping_and_only_window_rows_come_out() -> None:
    deps = [
        deploy(1, -3, minutes=60, changes=("c1",)),  # first shipping, before the window
        deploy(2, -2, prev=1, rollback=True),
        deploy(3, 0, prev=2, minutes=60, changes=("c1", "c2")),  # re-ships c1 inside the window
        deploy(4, 1),  # on `end`: outside the window
    ]
    chs = [change("c1", at(-4, 10)), change("c2", at(0, 9))]
    gold = gold_of(deps, chs)
    assert gold["period_start"].unique().tolist() == [MON]
    r = row(gold, "repo", API)
    assert (r["deployments"], r["lead_time_changes"], r["lead_time_median_h"]) == (1, 1, 2.0)


def test_team_and_service_scopes_and_a_repo_with_only_an_incident() -> None:
    deps = [deploy(1, 0, repo=API), deploy(1, 0, repo=WEB)]
    incs = [incident(3, at(0, 20), repo=OPS)]
    gold = gold_of(deps, incs=incs)
    keys = sorted(zip(gold["scope_type"], gold["scope"], strict=True))
    assert keys == sorted(
        [
            ("org", "all"),
            ("team", "platform"),
            ("team", "unassigned"),
            ("service", "checkout"),
            ("service", WEB),
            ("service", OPS),
            ("repo", API),
            ("repo", WEB),
            ("repo", OPS),
        ]
    )
    ops = row(gold, "repo", OPS)
    assert (ops["deployments"], ops["incidents_opened"]) == (0, 1)
    assert pd.isna(ops["change_failure_rate"]) and pd.isna(ops["rework_rate"])
    assert row(gold, "team", "unassigned")["incidents_opened"] == 1
    assert row(gold, "team", "platform")["deployments"] == 2
    assert row(gold, "org", "all")[["deployments", "incidents_opened"]].tolist() == [2, 1]


def test_empty_silver_gives_one_empty_org_row_per_period() -> None:
    gold = gold_of([], end=MON + pd.Timedelta(days=3))
    assert gold["scope_type"].tolist() == ["org"] * 3
    assert gold["deployments"].sum() == 0 and gold["lead_time_median_h"].isna().all()


def test_periods_and_window_alignment() -> None:
    days = pd.Series(pd.to_datetime(["2025-03-09", "2025-03-10", "2025-02-28"]).as_unit("us"))
    assert period_floor(days, "week").tolist() == list(
        pd.to_datetime(["2025-03-03", "2025-03-10", "2025-02-24"])
    )
    assert period_floor(days, "month").tolist() == list(
        pd.to_datetime(["2025-03-01", "2025-03-01", "2025-02-01"])
    )
    assert len(period_range("month", pd.Timestamp("2025-01-01"), pd.Timestamp("2026-01-01"))) == 12
    with pytest.raises(ValueError, match="period"):
        gold_of([], period="year")
    with pytest.raises(ValueError, match="aligned"):
        gold_of([], period="week", start=pd.Timestamp("2025-03-04"), end=pd.Timestamp("2025-03-10"))
    with pytest.raises(ValueError, match="aligned"):
        gold_of([], period="day", start=pd.Timestamp("2025-03-04 06:00"))


def test_schema_rejects_broken_gold() -> None:
    deps = [deploy(1, 0, changes=("c1",)), deploy(2, 0, status="failure")]
    gold = gold_of(deps, [change("c1", at(0, 1))])
    broken = {
        "duplicate key": pd.concat([gold, gold.iloc[:1]], ignore_index=True),
        "rate above 1": gold.assign(change_failure_rate=1.5),
        "unknown band": gold.assign(lead_time_band="superb"),
        "negative count": gold.assign(failed_deploy_attempts=-1),
        "failures above deployments": gold.assign(change_failures=5),
        "rate without deployments": gold.assign(deployments=0),
        "week not on a Monday": gold.assign(period="week", period_start=MON + pd.Timedelta(days=1)),
        "extra column": gold.assign(extra=1),
    }
    for what, frame in broken.items():
        with pytest.raises(SchemaErrors):
            GoldDoraSchema.validate(frame, lazy=True)
            pytest.fail(f"schema accepted {what}")


def synthetic_silver(repos: int = 50, days: int = 365, seed: int = 7) -> tuple[pd.DataFrame, ...]:
    """~20k production deployments and ~30k changes, built column-wise."""
    rng = np.random.default_rng(seed)
    n = repos * 400
    repo = np.repeat([f"org/r{i}" for i in range(repos)], 400)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, days * 24, n), unit="h")
    order = np.lexsort((created.asi8, repo))
    repo, created = repo[order], created[order]
    dep_id = np.array([f"{r}:{i}" for i, r in enumerate(repo)])
    status = np.where(rng.random(n) < 0.9, "success", "failure")
    c_per = rng.integers(0, 3, n) + (rng.random(n) < 0.5)
    cid = np.array([f"c{i}" for i in range(int(c_per.sum()))])
    splits = np.split(cid, np.cumsum(c_per)[:-1])
    commits = [",".join(sha(int(c[1:])) for c in s) for s in splits]
    deployments = pd.DataFrame(
        {
            "deployment_id": dep_id,
            "repo": repo,
            "environment": "production",
            "is_production": True,
            "sha": [sha(-i) for i in range(n)],
            "created_at": created,
            "finished_at": created + pd.Timedelta(minutes=12),
            "final_status": status,
            "status_count": 3,
            "is_rollback": (status == "success") & (rng.random(n) < 0.02),
            "previous_deployment_id": np.roll(dep_id, 1),
            "change_ids": [",".join(s) for s in splits],
            "commit_shas": commits,
            "changes_known": True,
            "event_day": created.tz_localize(None).normalize().as_unit("us"),
        }
    )
    change_repo = np.repeat(repo, c_per)
    change_at = np.repeat(created, c_per) - pd.to_timedelta(rng.exponential(30, len(cid)), unit="h")
    changes = pd.DataFrame(
        {
            "change_id": cid,
            "repo": change_repo,
            "first_commit_at": change_at,
            "fixes_issues": np.where(rng.random(len(cid)) < 0.03, "1", ""),
        }
    )
    pick = rng.choice(len(cid), 400, replace=False)
    opened = pd.DatetimeIndex(np.repeat(created, c_per)[pick]) + pd.Timedelta(hours=2)
    incidents = pd.DataFrame(
        {
            "incident_id": [f"{r}#{i}" for i, r in enumerate(change_repo[pick])],
            "repo": change_repo[pick],
            "number": np.arange(400),
            "opened_at": opened,
            "resolved_at": opened + pd.Timedelta(hours=5),
            "is_open": False,
            "root_cause_sha": [sha(int(cid[p][1:]))[:9] for p in pick],
            "event_day": opened.tz_localize(None).normalize().as_unit("us"),
        }
    )
    return deployments, changes, incidents


def test_a_year_of_daily_gold_for_fifty_repos_is_consistent() -> None:
    # Speed is the benchmark's job (scripts/benchmark.py), never a timed unit test on a shared machine.
    deployments, changes, incidents = synthetic_silver()
    assert len(deployments) == 20_000 and len(changes) > 25_000
    rules = DoraRules(repo_owners={f"org/r{i}": {"team": f"t{i % 5}"} for i in range(50)})
    gold = build_gold(
        deployments, changes, incidents, rules, "day", pd.Timestamp("2025-01-01"), pd.Timestamp("2026-01-01")
    )
    GoldDoraSchema.validate(gold, lazy=True)
    org = gold[gold["scope_type"] == "org"]
    assert len(org) == 365
    assert org["deployments"].sum() == (deployments["final_status"] == "success").sum()
    for scope_type in ("team", "repo"):
        part = gold[gold["scope_type"] == scope_type].groupby("period_start")["deployments"].sum()
        assert part.sum() == org["deployments"].sum()
    assert org["change_failures"].sum() > 0 and org["rework_deployments"].sum() > 0
