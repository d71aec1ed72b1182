"""Row-level DORA facts from hand-built Silver frames with answers worked out by hand (docs/metrics.md).

The Silver rows are written as silver_deployments would (release_id, is_baseline, undoes_deployment_id
where a test needs them; frames without them read as one release per deployment). End-to-end behaviour
from real-shaped deliveries is pinned by devmetrics_assets_tests/scenarios.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_facts import (
    DEPLOYMENT_FACT_COLUMNS,
    LEAD_TIME_FACT_COLUMNS,
    deployment_facts,
    hotfix_change_ids,
    incident_facts,
    lead_time_facts,
    reach_back_days,
    root_cause_matches,
    successful_production,
)
from devmetrics_assets.transforms.gold_links import incident_links

API = "org/api"
WEB = "org/web"
T0 = pd.Timestamp("2025-03-03", tz="UTC")  # a Monday

DEP_COLUMNS = [
    "deployment_id",
    "repo",
    "environment",
    "is_production",
    "sha",
    "created_at",
    "finished_at",
    "final_status",
    "status_count",
    "is_rollback",
    "previous_deployment_id",
    "release_id",
    "is_baseline",
    "undoes_deployment_id",
    "change_ids",
    "commit_shas",
    "changes_known",
    "event_day",
]
CHANGE_COLUMNS = [
    "change_id",
    "repo",
    "kind",
    "pr_number",
    "merge_method",
    "head_sha",
    "commit_shas",
    "first_commit_at",
    "landed_at",
    "fixes_issues",
    "is_hotfix",
    "reverted_change_ids",
    "mainline_pushed_at",
    "mainline_pos",
    "event_day",
]
INCIDENT_COLUMNS = [
    "incident_id",
    "repo",
    "provider",
    "number",
    "title",
    "opened_at",
    "resolved_at",
    "reopened_count",
    "is_open",
    "root_cause_raw",
    "root_cause_sha",
    "event_day",
]


def sha(n: int) -> str:
    return hashlib.sha1(str(n).encode()).hexdigest()


def at(day: float, hour: float = 0.0) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=day, hours=hour)


def deploy(
    n: int,
    day: float,
    hour: float = 10.0,
    *,
    repo: str = API,
    status: str = "success",
    env: str = "production",
    minutes: float = 30.0,
    rollback: bool = False,
    prev: int | None = None,
    changes: tuple[str, ...] = (),
    commits: tuple[str, ...] = (),
    sha_: str | None = None,
    undoes: int | None = None,
    baseline: bool = False,
    release: int | None = None,
) -> dict:
    """A Silver deployment created at `day`/`hour` that reached its final status `minutes` later."""
    created = at(day, hour)
    released = status == "success" and env.lower() in ("production", "prod")
    return {
        "deployment_id": f"{repo}:{n}",
        "repo": repo,
        "environment": env,
        "is_production": env.lower() in ("production", "prod"),
        "sha": sha_ or (commits[-1] if commits else sha(10_000 + n)),
        "created_at": created,
        "finished_at": None if status == "pending" else created + pd.Timedelta(minutes=minutes),
        "final_status": status,
        "status_count": 2,
        "is_rollback": rollback,
        "previous_deployment_id": None if prev is None else f"{repo}:{prev}",
        "release_id": f"{repo}:{release or n}" if released else None,
        "is_baseline": baseline,
        "undoes_deployment_id": None if undoes is None else f"{repo}:{undoes}",
        "change_ids": ",".join(changes),
        "commit_shas": ",".join(commits),
        "changes_known": True,
        "event_day": created.tz_localize(None).normalize(),
    }


def change(
    cid: str, first_commit_at: pd.Timestamp | None, *, repo: str = API, fixes: str = "", reverts: str = ""
) -> dict:
    landed = first_commit_at if first_commit_at is not None else T0
    return {
        "change_id": cid,
        "repo": repo,
        "kind": "pull_request",
        "pr_number": 1,
        "merge_method": "squash",
        "head_sha": hashlib.sha1(cid.encode()).hexdigest(),
        "commit_shas": "",
        "first_commit_at": first_commit_at,
        "landed_at": landed,
        "fixes_issues": fixes,
        "is_hotfix": fixes != "",
        "reverted_change_ids": reverts,
        "mainline_pushed_at": landed,
        "mainline_pos": 0,
        "event_day": landed.tz_localize(None).normalize(),
    }


def incident(
    number: int,
    opened: pd.Timestamp,
    resolved: pd.Timestamp | None = None,
    *,
    repo: str = API,
    root_cause: str | None = None,
    provider: str = "github",
) -> dict:
    return {
        "incident_id": f"{repo}#{number}" if provider == "github" else f"{repo}#{provider}-{number}",
        "repo": repo,
        "provider": provider,
        "number": number,
        "title": "outage",
        "opened_at": opened,
        "resolved_at": resolved,
        "reopened_count": 0,
        "is_open": resolved is None,
        "root_cause_raw": root_cause,
        "root_cause_sha": root_cause,
        "event_day": opened.tz_localize(None).normalize(),
    }


def _typed(rows: list[dict], columns: list[str], times: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for col in times:
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("us")
    frame["event_day"] = pd.to_datetime(frame["event_day"]).dt.as_unit("us")
    return frame


def deployments_frame(rows: list[dict]) -> pd.DataFrame:
    frame = _typed(rows, DEP_COLUMNS, ("created_at", "finished_at"))
    return frame.astype(
        {"is_production": bool, "is_rollback": bool, "changes_known": bool, "is_baseline": bool}
    )


def changes_frame(rows: list[dict]) -> pd.DataFrame:
    return _typed(rows, CHANGE_COLUMNS, ("first_commit_at", "landed_at", "mainline_pushed_at"))


def incidents_frame(rows: list[dict]) -> pd.DataFrame:
    frame = _typed(rows, INCIDENT_COLUMNS, ("opened_at", "resolved_at"))
    return frame.astype({"number": "Int64", "is_open": bool})


def facts_by_id(
    deps: list[dict], chs: list[dict] = (), incs: list[dict] = (), rules: DoraRules | None = None
) -> pd.DataFrame:
    frames = deployments_frame(deps), changes_frame(list(chs)), incidents_frame(list(incs))
    return deployment_facts(*frames, rules).set_index("deployment_id")


def test_only_production_counts_and_statuses_split_success_from_failed_attempts() -> None:
    facts = facts_by_id(
        [
            deploy(1, 0, status="success"),
            deploy(2, 0, status="failure"),
            deploy(3, 0, status="error"),
            deploy(4, 0, status="pending"),
            deploy(5, 0, status="inactive"),
            deploy(6, 0, status="success", env="staging"),
            deploy(7, 0, status="success", env="Prod"),
        ]
    )
    assert sorted(facts.index) == [f"{API}:{n}" for n in (1, 2, 3, 4, 5, 7)]  # staging dropped
    assert facts["is_success"].to_dict() == {
        f"{API}:1": True,
        f"{API}:2": False,
        f"{API}:3": False,
        f"{API}:4": False,
        f"{API}:5": False,
        f"{API}:7": True,
    }
    assert facts.loc[facts["is_failed_attempt"]].index.tolist() == [f"{API}:2", f"{API}:3"]
    assert list(deployment_facts(deployments_frame([]), changes_frame([]), incidents_frame([])).columns) == (
        DEPLOYMENT_FACT_COLUMNS
    )


def test_a_release_to_several_regions_is_one_deployment_finished_at_its_first_region() -> None:
    # Silver grouped eu (finished 10:10) and us (finished 14:00) as release :1.
    facts = facts_by_id(
        [
            deploy(1, 0, hour=10, minutes=10, env="production", commits=(sha(1),)),
            deploy(2, 0, hour=10, minutes=240, env="prod", release=1),
        ]
    )
    assert list(facts.index) == [f"{API}:1"]
    assert facts.loc[f"{API}:1", "finished_at"] == at(0, 10 + 10 / 60)


def test_root_cause_matches_full_sha_and_prefix_of_seven_or_more_in_the_same_repo_only() -> None:
    a, b, c, d = sha(1), sha(2), sha(3), sha(4)
    deps = deployments_frame(
        [
            deploy(1, 0, commits=(a, b)),
            deploy(2, 1, commits=(c,)),
            deploy(3, 2, commits=(d,)),
            deploy(4, 2, repo=WEB, commits=(a,)),  # same sha in another repo: not this incident's
            deploy(5, 3, status="failure", commits=(d,)),  # never shipped
        ]
    )
    incs = incidents_frame(
        [
            incident(1, at(5), root_cause=b.upper()),  # full sha, other case
            incident(2, at(5), root_cause=c[:7]),  # shortest prefix allowed
            incident(3, at(5), root_cause=d[:6]),  # too short: ignored
            incident(4, at(5), root_cause=None),
            incident(5, at(5), root_cause=c[:7] + ("0" if c[7] != "0" else "1") + c[8:12]),  # differs at 8th
        ]
    )
    pairs = root_cause_matches(successful_production(deps), incs)
    assert sorted(map(tuple, pairs.to_numpy())) == [(f"{API}:1", f"{API}#1"), (f"{API}:2", f"{API}#2")]


def test_a_root_cause_no_release_shipped_matches_nothing_without_failing() -> None:
    # Regression (trust demo, 2025-06-02): a root cause whose 7-digit prefix matches no shipped commit
    # left an empty join, and a list mask selected no columns instead of no rows (KeyError).
    deps = deployments_frame([deploy(1, 0, commits=(sha(1),))])
    incs = incidents_frame([incident(1, at(5), root_cause=sha(9))])
    assert root_cause_matches(successful_production(deps), incs).empty


def test_incident_failure_recovers_from_the_later_of_finish_and_opening_to_the_last_resolution() -> None:
    bad = sha(7)
    facts = facts_by_id(
        [deploy(1, 0, commits=(sha(6),), baseline=True), deploy(2, 1, hour=10, minutes=0, commits=(bad,))],
        incs=[
            incident(1, at(3), at(3, 2.0), root_cause=bad[:10]),
            incident(2, at(4), at(4, 9.0), root_cause=bad),  # the later resolution ends it
        ],
    )
    row = facts.loc[f"{API}:2"]
    assert row["failure_kinds"] == "root_cause" and row["is_change_failure"]
    # finished day 1 10:00, first incident opened day 3 00:00 (later): from there to day 4 09:00 -> 33 h
    assert row["failure_start_at"] == at(3) and row["recovery_h"] == pytest.approx(33.0)
    assert not row["is_unrecovered"] and not facts.loc[f"{API}:1", "is_change_failure"]


def test_rollback_without_incident_blames_the_release_that_shipped_what_it_undoes() -> None:
    facts = facts_by_id(
        [
            deploy(1, 0, commits=(sha(1),), baseline=True),
            deploy(2, 1, hour=9, minutes=30, prev=1, commits=(sha(2),)),  # finishes 09:30
            deploy(3, 1, hour=11, minutes=15, prev=2, rollback=True, sha_=sha(1), undoes=2),  # 11:15
        ]
    )
    assert facts["failure_kinds"].to_dict() == {f"{API}:1": "", f"{API}:2": "rollback", f"{API}:3": ""}
    assert facts.loc[f"{API}:2", "recovery_h"] == pytest.approx(1.75)
    assert facts.loc[f"{API}:3", "is_rollback"] and facts.loc[f"{API}:3", "is_rework"]
    assert not facts.loc[f"{API}:3", "is_change_failure"]


def test_double_rollback_blames_once_and_never_a_release_that_ships_nothing() -> None:
    facts = facts_by_id(
        [
            deploy(0, 0, hour=8, commits=(sha(0),), baseline=True),
            deploy(1, 0, hour=10, commits=(sha(1),)),
            deploy(2, 1, hour=9, minutes=30, commits=(sha(2),)),  # finishes 09:30
            # back to 1 (undoing 2's change), then further back to 0 (undoing 1's): one episode
            deploy(3, 1, hour=10, minutes=10, rollback=True, sha_=sha(1), undoes=2),
            deploy(4, 1, hour=10, minutes=20, rollback=True, sha_=sha(0), undoes=1),  # finishes 10:20
        ]
    )
    assert facts.loc[facts["is_change_failure"]].index.tolist() == [f"{API}:2"]
    # from 2's finish 09:30 to the episode's last rollback 10:20
    assert facts.loc[f"{API}:2", "recovery_h"] == pytest.approx(50 / 60)
    assert facts["is_rollback"].sum() == 2 and facts["is_rework"].sum() == 2


def test_rollback_during_an_incident_is_its_recovery_not_a_second_failure() -> None:
    cause = sha(2)
    facts = facts_by_id(
        [
            deploy(1, 0, commits=(sha(1),), baseline=True),
            deploy(2, 1, hour=9, minutes=30, commits=(cause,)),
            deploy(3, 1, hour=10, minutes=30, commits=(sha(3),)),
            # 11:30 back to 1 (released before 2): undoes 3's newest change, and with it the root cause
            deploy(4, 1, hour=11.5, minutes=10, rollback=True, sha_=sha(1), undoes=3),
        ],
        incs=[incident(1, at(1, 11), at(1, 13), root_cause=cause)],
    )
    assert facts.loc[facts["is_change_failure"]].index.tolist() == [f"{API}:2"]
    # from the incident's opening (11:00, after 2 finished) to the rollback's finish (11:40)
    assert facts.loc[f"{API}:2", "recovery_h"] == pytest.approx(40 / 60)


def test_open_incident_stays_unrecovered_and_a_rollback_that_keeps_its_cause_is_another_failure() -> None:
    cause = sha(2)
    facts = facts_by_id(
        [
            deploy(1, 0, commits=(sha(1),), baseline=True),
            deploy(2, 1, hour=9, minutes=30, commits=(cause,)),
            deploy(3, 2, hour=9, minutes=30, commits=(sha(3),)),
            deploy(4, 2, hour=12, minutes=10, rollback=True, sha_=cause, undoes=3),  # back to 2: keeps it
        ],
        incs=[incident(1, at(1, 12), None, root_cause=cause)],
    )
    assert facts.loc[f"{API}:2", "is_unrecovered"] and pd.isna(facts.loc[f"{API}:2", "recovery_h"])
    assert facts.loc[f"{API}:2", "failure_start_at"] == at(1, 12)
    assert facts.loc[f"{API}:3", "failure_kinds"] == "rollback"
    assert facts.loc[f"{API}:3", "recovery_h"] == pytest.approx((12 + 10 / 60) - 9.5)  # 09:30 -> 12:10


def test_incident_without_root_cause_links_the_latest_shipping_release_of_its_service_within_the_window() -> (
    None
):
    rules = DoraRules(repo_owners={API: {"service": "shop"}, WEB: {"service": "shop"}})
    deps = [
        deploy(1, 0, hour=10, commits=(sha(1),), baseline=True),  # finished day 0 10:30: 25.5 h before
        deploy(2, 0, hour=20, repo=WEB, commits=(sha(2),), baseline=True),  # 20:30: 15.5 h before
        deploy(3, 1, hour=9),  # ships nothing (a redeploy): never blamed
    ]
    incs = [incident(1, at(1, 12), at(1, 14)), incident(2, at(5, 12), at(5, 14))]  # 2: nothing in 24 h
    facts = facts_by_id(deps, incs=incs, rules=rules)
    assert facts.loc[facts["is_change_failure"]].index.tolist() == [f"{WEB}:2"]
    assert facts.loc[f"{WEB}:2", "failure_kinds"] == "inferred"
    assert facts.loc[f"{WEB}:2", "is_change_failure_inferred_only"]
    links, _ = incident_links(successful_production(deployments_frame(deps)), incidents_frame(incs), rules)
    assert links[["incident_id", "deployment_id", "link"]].values.tolist() == [
        [f"{API}#1", f"{WEB}:2", "inferred"]
    ]
    no_inference = DoraRules(repo_owners=rules.repo_owners, incident_inference_window_h=0)
    assert not facts_by_id(deps, incs=incs, rules=no_inference)["is_change_failure"].any()
    # without the shared service, api's own releases are the only candidates: day 0 10:30 is too old
    assert not facts_by_id(deps, incs=incs)["is_change_failure"].any()


def test_root_cause_deployed_after_the_incident_was_resolved_is_no_link() -> None:
    late = sha(9)
    deps = [deploy(1, 0, commits=(sha(1),), baseline=True), deploy(2, 2, commits=(late,))]
    incs = [incident(1, at(1, 10), at(1, 12), root_cause=late)]
    facts = facts_by_id(deps, incs=incs)
    assert not facts["is_change_failure"].any()
    _, invalid = incident_links(successful_production(deployments_frame(deps)), incidents_frame(incs))
    assert invalid[["incident_id", "deployment_id"]].values.tolist() == [[f"{API}#1", f"{API}:2"]]


def test_rework_is_a_rollback_a_hotfix_of_an_incident_issue_or_a_revert() -> None:
    chs = [
        change(f"{API}#10", at(0), fixes="1"),  # fixes incident issue 1 of api
        change(f"{API}#11", at(0), fixes="2"),  # issue 2 is not an incident (PagerDuty #2 is not an issue)
        change(f"{API}#12", at(0), fixes="5"),  # incident 5 exists only in web
        change(f"{API}#13", at(0)),
        change(f"{API}#14", at(0), reverts=f"{API}#13"),
    ]
    incs = [incident(1, at(0)), incident(5, at(0), repo=WEB), incident(2, at(0), provider="pagerduty")]
    assert hotfix_change_ids(changes_frame(chs), incidents_frame(incs)) == {f"{API}#10"}
    facts = facts_by_id(
        [
            deploy(1, 1, changes=(f"{API}#13", f"{API}#10"), baseline=True),
            deploy(2, 1, hour=12, changes=(f"{API}#11", f"{API}#12")),
            deploy(3, 2, status="failure", changes=(f"{API}#10",)),
            deploy(4, 2, rollback=True, prev=2, undoes=2),
            deploy(5, 3, changes=(f"{API}#14",)),
        ],
        chs,
        incs,
    )
    assert facts["is_rework"].to_dict() == {
        f"{API}:1": True,
        f"{API}:2": False,
        f"{API}:3": False,
        f"{API}:4": True,
        f"{API}:5": True,
    }
    assert facts.loc[f"{API}:5", "is_revert_deploy"] and facts.loc[f"{API}:5", "reverted_deployment_ids"] == (
        f"{API}:1"
    )


def test_lead_time_of_each_shipped_change_once_with_its_status() -> None:
    deps = deployments_frame(
        [
            deploy(0, 0, hour=6, minutes=0, changes=("c0",), baseline=True),
            deploy(1, 1, hour=10, minutes=0, status="failure", changes=("c1",)),  # failed: not a shipping
            deploy(2, 1, hour=12, minutes=0, changes=("c1", "c2")),
            deploy(3, 2, hour=8, minutes=0, env="staging", changes=("c3",)),
            deploy(5, 3, hour=12, minutes=0, changes=("c3", "c4", "c5")),
        ]
    )
    chs = changes_frame(
        [
            change("c0", at(-3)),  # shipped by the baseline: predates what was observed
            change("c1", at(0, 12)),  # 24 h before deployment 2 finished
            change("c2", at(1, 13)),  # clock skew: after the deployment -> excluded, not clamped
            change("c3", at(2, 0)),  # staging does not count; first production shipping is 5: 36 h
            change("c4", None),  # no first_commit_at: no lead time
        ]
    )  # c5 is unknown to silver_changes: shipped, without a lead time
    out = lead_time_facts(deps, chs).set_index("change_id")
    assert list(lead_time_facts(deps, chs).columns) == LEAD_TIME_FACT_COLUMNS
    assert out["lead_time_status"].to_dict() == {
        "c0": "baseline",
        "c1": "measured",
        "c2": "negative",
        "c3": "measured",
        "c4": "no_first_commit",
        "c5": "no_first_commit",
    }
    assert out["deployment_id"].to_dict()["c3"] == f"{API}:5"
    assert out["lead_time_h"].dropna().to_dict() == pytest.approx({"c1": 24.0, "c3": 36.0})
    assert out.loc["c3", "event_day"] == pd.Timestamp("2025-03-06")  # the shipping deployment's day


def test_a_change_runs_in_production_when_a_later_started_release_containing_it_finishes() -> None:
    # 2 started 10:00 and finished 10:30; 3 started 10:05 (overlapping) and finished 10:20: c1, shipped by
    # 2, ran in production from 10:20 (3 contains it). 4 waited for approval from day 2 09:00 to 15:00,
    # while 5 (10:00 -> 10:20) went out: c3 ran from 10:20.
    deps = deployments_frame(
        [
            deploy(1, 0, changes=("c0",), baseline=True),
            deploy(2, 1, hour=10, minutes=30, changes=("c1",)),
            deploy(3, 1, hour=10 + 5 / 60, minutes=15, changes=("c2",)),
            deploy(4, 2, hour=9, minutes=360, changes=("c3",)),
            deploy(5, 2, hour=10, minutes=20, changes=("c4",)),
        ]
    )
    chs = changes_frame([change(c, at(0)) for c in ("c0", "c1", "c2", "c3", "c4")])
    out = lead_time_facts(deps, chs).set_index("change_id")
    assert out.loc["c1", "shipped_at"] == at(1, 10 + 20 / 60) and out.loc["c1", "deployment_id"] == f"{API}:2"
    assert out.loc["c3", "shipped_at"] == at(2, 10 + 20 / 60) and out.loc["c3", "deployment_id"] == f"{API}:4"
    assert out.loc["c3", "lead_time_h"] == pytest.approx(48 + 10 + 20 / 60)


def test_incident_facts_are_distinct_incidents_by_opening_day() -> None:
    incs = incidents_frame([incident(1, at(0, 5)), incident(1, at(0, 5)), incident(1, at(2), repo=WEB)])
    out = incident_facts(incs)
    assert sorted(out["incident_id"]) == [f"{API}#1", f"{WEB}#1"]
    assert out.set_index("incident_id")["event_day"].to_dict() == {
        f"{API}#1": pd.Timestamp("2025-03-03"),
        f"{WEB}#1": pd.Timestamp("2025-03-05"),
    }


def test_reach_back_finds_the_days_whose_gold_a_late_incident_rollback_or_overlap_changes() -> None:
    cause = sha(2)
    deps = deployments_frame(
        [
            deploy(1, 0, commits=(sha(1),), baseline=True),
            deploy(2, 1, commits=(cause,)),
            deploy(3, 2, commits=(sha(3),)),
            deploy(4, 3, hour=12, rollback=True, sha_=cause, undoes=3),  # day 3 rollback blames day 2
            deploy(5, 4, hour=9, minutes=600, commits=(sha(5),)),  # finishes after 6 (overlap)
            deploy(6, 4, hour=10, minutes=10, commits=(sha(6),)),
        ]
    )
    incs = incidents_frame([incident(1, at(6), at(6, 2), root_cause=cause)])  # day 6 names day 1's release
    days = lambda *d: {(T0 + pd.Timedelta(days=x)).date() for x in d}  # noqa: E731
    assert reach_back_days(deps, incs, days(6)) == days(1)
    assert reach_back_days(deps, incs, days(3)) == days(2)
    assert reach_back_days(deps, incs, days(5)) == set()
