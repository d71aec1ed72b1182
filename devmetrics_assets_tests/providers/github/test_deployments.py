"""silver_deployments: final status, ordering, rollbacks and shipped changes against the story main line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverDeploymentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.deployments import build_silver_deployments
from devmetrics_assets.transforms.silver_contract import DEPLOYMENTS_COLUMNS
from devmetrics_assets_tests.providers.github.test_mainline import API, story
from devmetrics_assets_tests.transforms.test_payloads import (
    bronze,
    deployment_body,
    duckdb_round_trip,
    sha,
    status_body,
)

RULES = DoraRules()
D3, D4, D5 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04"), pd.Timestamp("2025-03-05")
_status_ids = iter(range(5000, 6000))


def deploy(
    dep_id: int, sha_: str, env: str, created: str, *statuses: tuple[str, str]
) -> list[tuple[str, dict]]:
    rows: list[tuple[str, dict]] = [("deployment", deployment_body("api", dep_id, sha_, env, created))]
    for state, at in statuses:
        rows.append(
            (
                "deployment_status",
                status_body("api", dep_id, sha_, env, created, next(_status_ids), state, at),
            )
        )
    return rows


def scenario() -> list[tuple[str, dict]]:
    return [
        *deploy(
            100,
            sha("m1"),
            "production",
            "2025-03-03T10:10:00Z",
            ("in_progress", "2025-03-03T10:11:00Z"),
            ("success", "2025-03-03T10:20:00Z"),
        ),
        *deploy(101, sha("d2"), "staging", "2025-03-03T11:05:00Z", ("success", "2025-03-03T11:10:00Z")),
        *deploy(102, sha("s2"), "production", "2025-03-03T13:05:00Z", ("failure", "2025-03-03T13:10:00Z")),
        *deploy(
            103,
            sha("s2"),
            "prod",
            "2025-03-03T13:15:00Z",
            ("success", "2025-03-03T13:20:00Z"),
            ("inactive", "2025-03-03T14:30:00Z"),
        ),
        *deploy(104, sha("r_b2"), "production", "2025-03-03T14:10:00Z", ("success", "2025-03-03T14:30:00Z")),
        *deploy(105, sha("m1"), "production", "2025-03-03T15:00:00Z", ("success", "2025-03-03T15:05:00Z")),
        *deploy(106, sha("r_b2"), "production", "2025-03-04T09:00:00Z", ("success", "2025-03-04T09:05:00Z")),
        *deploy(
            107, sha("not-on-main"), "Production", "2025-03-04T10:00:00Z", ("success", "2025-03-04T10:05:00Z")
        ),
        *deploy(
            108, sha("r_b2")[:7], "production", "2025-03-04T11:00:00Z", ("queued", "2025-03-04T11:00:01Z")
        ),
    ]


def build(rows: list[tuple[str, dict]], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    deployments, _ = build_silver_deployments(bronze(rows), story(), RULES, start, end)
    assert list(deployments.columns) == DEPLOYMENTS_COLUMNS
    SilverDeploymentsSchema.validate(deployments)
    return deployments.set_index("deployment_id")


def cids(*names: str) -> str:
    return ",".join(f"{API}#{n}" if n.isdigit() else f"{API}@{sha(n)}" for n in names)


def test_first_day_outcomes_and_shipping() -> None:
    d = build(scenario(), D3, D4)
    assert list(d.index) == [f"{API}:{i}" for i in range(100, 106)]
    first = d.loc[f"{API}:100"]
    assert (first["final_status"], first["status_count"], first["is_production"]) == ("success", 2, True)
    assert first["finished_at"] == pd.Timestamp("2025-03-03T10:20:00Z")
    assert pd.isna(first["previous_deployment_id"]) and not first["is_rollback"]
    assert first["change_ids"] == cids("1")
    assert first["commit_shas"] == ",".join(sha(x) for x in ("f1a", "f1b", "m1"))

    staging = d.loc[f"{API}:101"]
    assert (staging["is_production"], staging["change_ids"], staging["commit_shas"]) == (False, "", "")
    assert staging["changes_known"] and pd.isna(staging["previous_deployment_id"])

    failed = d.loc[f"{API}:102"]
    assert (failed["final_status"], failed["change_ids"], failed["previous_deployment_id"]) == (
        "failure",
        "",
        f"{API}:100",
    )

    superseded = d.loc[f"{API}:103"]  # success then inactive: still a success, finished at the success
    assert (superseded["final_status"], superseded["status_count"]) == ("success", 2)
    assert superseded["finished_at"] == pd.Timestamp("2025-03-03T13:20:00Z")
    assert superseded["change_ids"] == cids("d1", "d2", "2")  # "prod" and "production" are one sequence
    assert superseded["previous_deployment_id"] == f"{API}:100"

    assert d.loc[f"{API}:104", "change_ids"] == cids("3")
    rollback = d.loc[f"{API}:105"]
    assert rollback["is_rollback"] and rollback["previous_deployment_id"] == f"{API}:104"
    assert (rollback["change_ids"], rollback["commit_shas"], rollback["changes_known"]) == ("", "", True)
    assert (d["event_day"] == D3).all() and str(d["event_day"].dtype) == "datetime64[us]"


def test_second_day_uses_history_for_previous_and_reships_after_rollback() -> None:
    d = build(scenario(), D4, D5)
    assert list(d.index) == [f"{API}:106", f"{API}:107", f"{API}:108"]
    after = d.loc[f"{API}:106"]
    assert after["previous_deployment_id"] == f"{API}:105" and not after["is_rollback"]
    # Back to r_b2 after the rollback: nothing new reaches production (103 and 104 first shipped it).
    assert (after["change_ids"], after["release_id"], after["is_baseline"]) == ("", f"{API}:106", False)
    unknown = d.loc[f"{API}:107"]
    assert (unknown["changes_known"], unknown["change_ids"], unknown["is_production"]) == (False, "", True)
    assert unknown["previous_deployment_id"] == f"{API}:106"
    pending = d.loc[f"{API}:108"]
    assert (pending["final_status"], pending["status_count"]) == ("pending", 1)
    assert pd.isna(pending["finished_at"]) and pending["changes_known"]  # short sha resolves
    assert pending["previous_deployment_id"] == f"{API}:107"


def test_order_is_by_start_time_and_unknown_sha_ships_nothing() -> None:
    rows = [
        *deploy(1, sha("d1"), "production", "2025-03-03T12:00:00Z", ("success", "2025-03-03T12:30:00Z")),
        *deploy(2, sha("s2"), "production", "2025-03-03T12:05:00Z", ("success", "2025-03-03T12:10:00Z")),
        *deploy(
            3, sha("elsewhere"), "production", "2025-03-03T13:00:00Z", ("success", "2025-03-03T13:05:00Z")
        ),
        *deploy(4, sha("r_b2"), "production", "2025-03-03T14:00:00Z", ("success", "2025-03-03T14:05:00Z")),
    ]
    d = build(rows, D3, D4)
    # 1 started first: it is the baseline; 2 started while 1 was running (overlapping pipelines): 1 finished
    # after 2 with an older sha, which is not a rollback.
    assert pd.isna(d.loc[f"{API}:1", "previous_deployment_id"]) and d.loc[f"{API}:1", "is_baseline"]
    assert d.loc[f"{API}:1", "change_ids"] == cids("1", "d1")
    assert d.loc[f"{API}:2", "previous_deployment_id"] == f"{API}:1"
    assert d.loc[f"{API}:2", "change_ids"] == cids("d2", "2") and not d.loc[f"{API}:1", "is_rollback"]
    # 4 follows an unknown-sha deployment (which ships nothing): it ships above what was released (2's s2).
    assert d.loc[f"{API}:3", "change_ids"] == "" and d.loc[f"{API}:3", "release_id"] == f"{API}:3"
    assert d.loc[f"{API}:4", "previous_deployment_id"] == f"{API}:3"
    assert d.loc[f"{API}:4", "change_ids"] == cids("3")


def test_status_rules_duplicates_and_terminal_choice() -> None:
    dup = status_body(
        "api", 7, sha("m1"), "production", "2025-03-03T09:00:00Z", 77, "success", "2025-03-03T09:10:00Z"
    )
    rows = [
        ("deployment_status", dup),
        ("deployment_status", dup),  # webhook + API copy of one status
        *deploy(
            8,
            sha("m1"),
            "production",
            "2025-03-03T09:20:00Z",
            ("error", "2025-03-03T09:21:00Z"),
            ("success", "2025-03-03T09:40:00Z"),
        ),
        *deploy(
            9,
            sha("m1"),
            "production",
            "2025-03-03T09:50:00Z",
            ("success", "2025-03-03T09:55:00Z"),
            ("failure", "2025-03-03T09:58:00Z"),
        ),
        *deploy(10, sha("m1"), "staging", "2025-03-03T10:00:00Z", ("inactive", "2025-03-03T10:01:00Z")),
    ]
    d = build(rows, D3, D4)
    assert d.loc[f"{API}:7", "status_count"] == 1 and d.loc[f"{API}:7", "final_status"] == "success"
    assert d.loc[f"{API}:8", "final_status"] == "success"
    assert d.loc[f"{API}:9", "final_status"] == "failure"
    assert d.loc[f"{API}:9", "finished_at"] == pd.Timestamp("2025-03-03T09:58:00Z")
    assert d.loc[f"{API}:10", "final_status"] == "inactive"


def test_unusable_deliveries_are_quarantined() -> None:
    no_deployment = status_body(
        "api", 1, sha("m1"), "production", "2025-03-03T09:00:00Z", 1, "success", "2025-03-03T09:10:00Z"
    )
    del no_deployment["deployment"]
    bad_time = status_body("api", 2, sha("m1"), "production", "2025-03-03T09:00:00Z", 2, "success", "later")
    weird = status_body(
        "api", 3, sha("m1"), "production", "2025-03-03T09:00:00Z", 3, "exploded", "2025-03-03T09:10:00Z"
    )
    frame = bronze(
        [
            ("deployment_status", no_deployment),
            ("deployment_status", bad_time),
            ("deployment_status", weird),
            ("deployment", "not json"),
        ]
    )
    frame["event_day"] = D3
    deployments, quarantine = build_silver_deployments(frame, story(), RULES, D3, D4)
    assert deployments.empty
    reasons = dict(zip(quarantine["record_ref"], quarantine["reason"], strict=True))
    ids = frame["delivery_id"]
    assert reasons[ids[0]] == "deployment_status without deployment object"
    assert reasons[ids[1]] == "deployment_status.created_at is not a valid timestamp"
    assert reasons[ids[2]] == "unknown deployment_status.state 'exploded'"
    assert reasons[ids[3]].startswith("body is not valid JSON")
    assert set(quarantine["asset"]) == {"silver_deployments"}


def test_empty_inputs_give_typed_empty_outputs() -> None:
    empty = bronze([("push", "{}")]).iloc[:0]
    deployments, quarantine = build_silver_deployments(empty, empty, RULES, D3, D4)
    assert deployments.empty and quarantine.empty
    assert str(deployments["created_at"].dtype) == "datetime64[us, UTC]"
    SilverDeploymentsSchema.validate(deployments)


def test_round_trip_through_a_duckdb_file_keeps_the_schema(tmp_path: Path) -> None:
    deployments, _ = build_silver_deployments(bronze(scenario()), story(), RULES, D3, D5)
    back = duckdb_round_trip(deployments, tmp_path / "silver.duckdb")
    validated = SilverDeploymentsSchema.validate(back)
    assert len(validated) == 9 and validated["finished_at"].isna().sum() == 1
