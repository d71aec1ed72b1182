"""Row-level DORA facts from hand-built Silver frames with answers worked out by hand (contracts §5)."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from devmetrics_assets.transforms.gold_facts import (
    DEPLOYMENT_FACT_COLUMNS,
    LEAD_TIME_FACT_COLUMNS,
    deployment_facts,
    hotfix_change_ids,
    incident_facts,
    lead_time_facts,
    root_cause_matches,
    successful_production,
)

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
    "mainline_pushed_at",
    "mainline_pos",
    "event_day",
]
INCIDENT_COLUMNS = [
    "incident_id",
    "repo",
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
) -> dict:
    """A Silver deployment created at `day`/`hour` that reached its final status `minutes` later."""
    created = at(day, hour)
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
        "change_ids": ",".join(changes),
        "commit_shas": ",".join(commits),
        "changes_known": True,
        "event_day": created.tz_localize(None).normalize(),
    }


def change(cid: str, first_commit_at: pd.Timestamp | None, *, repo: str = API, fixes: str = "") -> dict:
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
) -> dict:
    return {
        "incident_id": f"{repo}#{number}",
        "repo": repo,
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
    return frame.astype({"is_production": bool, "is_rollback": bool, "changes_known": bool})


def changes_frame(rows: list[dict]) -> pd.DataFrame:
    return _typed(rows, CHANGE_COLUMNS, ("first_commit_at", "landed_at", "mainline_pushed_at"))


def incidents_frame(rows: list[dict]) -> pd.DataFrame:
    frame = _typed(rows, INCIDENT_COLUMNS, ("opened_at", "resolved_at"))
    return frame.astype({"number": "Int64", "is_open": bool})


def facts_by_id(deps: list[dict], chs: list[dict] = (), incs: list[dict] = ()) -> pd.DataFrame:
    out = deployment_facts(deployments_frame(deps), changes_frame(list(chs)), incidents_frame(list(incs)))
    return out.set_index("deployment_id")


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


def test_incident_opened_later_marks_earlier_deployment_and_recovers_at_latest_resolution() -> None:
    bad = sha(7)
    facts = facts_by_id(
        [deploy(1, 0, commits=(sha(6),)), deploy(2, 1, hour=10, minutes=0, commits=(bad,))],
        incs=[
            incident(1, at(3), at(3, 2.0), root_cause=bad[:10]),
            incident(2, at(4), at(4, 9.0), root_cause=bad),  # later resolution wins
        ],
    )
    row = facts.loc[f"{API}:2"]
    assert row["failure_by_incident"] and not row["failure_by_rollback"] and row["is_change_failure"]
    # deployment finished day 1 10:00; latest resolution day 4 09:00 -> 2 days 23 hours
    assert row["recovery_h"] == pytest.approx(71.0)
    assert not row["is_unrecovered"]
    assert not facts.loc[f"{API}:1", "is_change_failure"]


def test_rollback_marks_the_deployment_it_replaced_and_recovery_is_the_rollback() -> None:
    facts = facts_by_id(
        [
            deploy(1, 0, commits=(sha(1),)),
            deploy(2, 1, hour=9, minutes=30, prev=1, commits=(sha(2),)),  # finishes 09:30
            deploy(3, 1, hour=11, minutes=15, prev=2, rollback=True, sha_=sha(1)),  # finishes 11:15
        ]
    )
    assert facts["failure_by_rollback"].to_dict() == {f"{API}:1": False, f"{API}:2": True, f"{API}:3": False}
    assert facts.loc[f"{API}:2", "recovery_h"] == pytest.approx(1.75)
    assert facts.loc[f"{API}:3", "is_rollback"] and facts.loc[f"{API}:3", "is_rework"]
    assert not facts.loc[f"{API}:3", "is_change_failure"]


def test_recovery_is_earliest_of_rollback_and_resolution_and_an_open_incident_leaves_it_unrecovered() -> None:
    x, y, z = sha(11), sha(12), sha(13)
    facts = facts_by_id(
        [
            deploy(1, 0, hour=0, minutes=0, commits=(x,)),
            deploy(2, 0, hour=6, minutes=0, prev=1, commits=(y,)),
            deploy(3, 0, hour=8, minutes=0, prev=2, rollback=True, sha_=x),  # replaces 2 at 08:00
            deploy(4, 1, hour=0, minutes=0, prev=3, commits=(y, z)),
        ],
        incs=[
            incident(1, at(0, 1), at(0, 3), root_cause=x),  # 1 recovers by resolution at 03:00
            incident(2, at(0, 7), None, root_cause=y),  # still open; 2 recovers by its rollback
            incident(3, at(1, 1), at(1, 4), root_cause=z),  # resolved, but 4 also caused open incident 2
        ],
    )
    assert facts.loc[f"{API}:1", "recovery_h"] == pytest.approx(3.0)
    assert facts.loc[f"{API}:2", "recovery_h"] == pytest.approx(2.0)
    # 4 re-ships y after the rollback, but incident 2 belongs to the FIRST deployment that shipped y (2);
    # 4 is a failure only through z (incident 3, resolved at 04:00 the next day)
    assert facts.loc[f"{API}:4", "is_change_failure"] and not facts.loc[f"{API}:4", "is_unrecovered"]
    assert facts.loc[f"{API}:4", "recovery_h"] == pytest.approx(4.0)
    assert facts["is_unrecovered"].sum() == 0


def test_a_still_open_incident_leaves_its_deployment_unrecovered() -> None:
    x, y = sha(21), sha(22)
    facts = facts_by_id(
        [deploy(1, 0, hour=0, minutes=0, commits=(x,)),
         deploy(2, 0, hour=6, minutes=0, prev=1, commits=(y,))],
        incs=[incident(1, at(0, 7), None, root_cause=y[:7]), incident(2, at(0, 1), at(0, 2), root_cause=x)],
    )
    assert facts.loc[f"{API}:2", "is_change_failure"] and facts.loc[f"{API}:2", "is_unrecovered"]
    assert pd.isna(facts.loc[f"{API}:2", "recovery_h"])
    assert facts.loc[f"{API}:1", "recovery_h"] == pytest.approx(2.0)
    assert facts["is_unrecovered"].sum() == 1


def test_rework_is_a_rollback_or_shipping_a_change_that_fixes_an_incident_of_the_same_repo() -> None:
    chs = [
        change(f"{API}#10", at(0), fixes="1"),  # fixes incident 1 of api
        change(f"{API}#11", at(0), fixes="2"),  # issue 2 is not an incident
        change(f"{API}#12", at(0), fixes="5"),  # incident 5 exists only in web
        change(f"{API}#13", at(0)),
    ]
    incs = [incident(1, at(0)), incident(5, at(0), repo=WEB)]
    assert hotfix_change_ids(changes_frame(chs), incidents_frame(incs)) == {f"{API}#10"}
    facts = facts_by_id(
        [
            deploy(1, 1, changes=(f"{API}#13", f"{API}#10")),
            deploy(2, 1, changes=(f"{API}#11", f"{API}#12")),
            deploy(3, 2, status="failure", changes=(f"{API}#10",)),
            deploy(4, 2, rollback=True, prev=2),
        ],
        chs,
        incs,
    )
    assert facts["is_rework"].to_dict() == {
        f"{API}:1": True,
        f"{API}:2": False,
        f"{API}:3": False,
        f"{API}:4": True,
    }


def test_lead_time_counts_each_change_once_at_its_first_successful_production_shipping() -> None:
    deps = deployments_frame(
        [
            deploy(1, 1, hour=10, minutes=0, status="failure", changes=("c1",)),  # failed: not a shipping
            deploy(2, 1, hour=12, minutes=0, changes=("c1", "c2")),
            deploy(3, 2, hour=8, minutes=0, env="staging", changes=("c3",)),
            deploy(4, 2, hour=12, minutes=0, rollback=True, prev=2),
            deploy(5, 3, hour=12, minutes=0, prev=4, changes=("c1", "c2", "c3", "c4", "c5")),  # re-ship
        ]
    )
    chs = changes_frame(
        [
            change("c1", at(0, 12)),  # 24 h before deployment 2 finished
            change("c2", at(1, 13)),  # clock skew: after the deployment -> clamped to 0
            change("c3", at(2, 0)),  # staging does not count; first prod shipping is deployment 5: 36 h
            change("c4", None),  # no first_commit_at: no lead time
        ]
    )  # c5 is unknown to silver_changes: left out
    out = lead_time_facts(deps, chs).set_index("change_id")
    assert list(lead_time_facts(deps, chs).columns) == LEAD_TIME_FACT_COLUMNS
    assert sorted(out.index) == ["c1", "c2", "c3"]
    assert out["deployment_id"].to_dict() == {"c1": f"{API}:2", "c2": f"{API}:2", "c3": f"{API}:5"}
    assert out["lead_time_h"].to_dict() == pytest.approx({"c1": 24.0, "c2": 0.0, "c3": 36.0})
    assert out.loc["c3", "event_day"] == pd.Timestamp("2025-03-06")  # the shipping deployment's day


def test_first_shipping_orders_by_finished_at_then_deployment_id() -> None:
    # created in the opposite order of finishing; the tie at 12:00 goes to the smaller id
    deps = deployments_frame(
        [
            deploy(9, 0, hour=11, minutes=60, changes=("c1",)),
            deploy(8, 0, hour=11, minutes=60, changes=("c1",), repo=API),
            deploy(7, 0, hour=1, minutes=12 * 60, changes=("c2",)),  # finishes 13:00
            deploy(6, 0, hour=12, minutes=30, changes=("c2",)),  # finishes 12:30
        ]
    )
    chs = changes_frame([change("c1", at(0)), change("c2", at(0))])
    out = lead_time_facts(deps, chs).set_index("change_id")
    assert out["deployment_id"].to_dict() == {"c1": f"{API}:8", "c2": f"{API}:6"}
    assert out["lead_time_h"].to_dict() == pytest.approx({"c1": 12.0, "c2": 12.5})


def test_incident_facts_are_distinct_incidents_by_opening_day() -> None:
    incs = incidents_frame([incident(1, at(0, 5)), incident(1, at(0, 5)), incident(1, at(2), repo=WEB)])
    out = incident_facts(incs)
    assert sorted(out["incident_id"]) == [f"{API}#1", f"{WEB}#1"]
    assert out.set_index("incident_id")["event_day"].to_dict() == {
        f"{API}#1": pd.Timestamp("2025-03-03"),
        f"{WEB}#1": pd.Timestamp("2025-03-05"),
    }
