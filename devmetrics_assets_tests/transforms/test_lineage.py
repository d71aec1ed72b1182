"""Lineage from hand-written Bronze bodies of every provider to Silver ids (expected lists by hand)."""

from __future__ import annotations

import json

import pandas as pd

from devmetrics_assets.transforms.lineage import (
    PROVIDERS,
    bronze_kinds,
    bronze_window,
    delivery_keys,
    lineage,
    silver_keys,
)
from devmetrics_assets.transforms.normalised import id_number

REPO = {"full_name": "org/api"}
OTHER = {"full_name": "org/web"}
SVC = {"path_with_namespace": "grp/svc"}
A1, B2 = "a1" * 20, "b2" * 20


def row(delivery: str, provider: str, event_type: str, body: dict, seq: int) -> dict:
    return {"delivery_id": delivery, "provider": provider, "event_type": event_type, "body": json.dumps(body),
            "load_seq": seq}


def bronze() -> pd.DataFrame:
    rows = [
        row("g-dep", "github", "deployment", {"deployment": {"id": 5}, "repository": REPO}, 1),
        row("g-status", "github", "deployment_status", {"deployment": {"id": 5}, "repository": REPO}, 2),
        row("g-other-repo", "github", "deployment", {"deployment": {"id": 5}, "repository": OTHER}, 3),
        row("g-pr", "github", "pull_request",
            {"number": 7, "pull_request": {"number": 7}, "repository": REPO}, 4),
        row("g-push", "github", "push", {"commits": [{"id": A1}, {"id": B2.upper()}], "repository": REPO},
            5),
        row("g-issue", "github", "issues", {"issue": {"number": 3}, "repository": REPO}, 6),
        row("g-comment", "github", "issue_comment", {"issue": {"number": 3}, "repository": REPO}, 7),
        row("l-dep", "gitlab", "Deployment Hook", {"deployment_id": 9, "project": SVC}, 8),
        row("l-mr", "gitlab", "Merge Request Hook", {"object_attributes": {"iid": 4}, "project": SVC}, 9),
        row("l-push", "gitlab", "Push Hook", {"commits": [{"id": A1}], "project": SVC}, 10),
        row("l-issue", "gitlab", "Issue Hook", {"object_attributes": {"iid": 2}, "project": SVC}, 11),
        row("l-note", "gitlab", "Note Hook",
            {"object_attributes": {"id": 99}, "issue": {"iid": 2}, "project": SVC}, 12),
        row("p-open", "pagerduty", "incident.triggered",
            {"event": {"data": {"type": "incident", "id": "PX1", "number": 12}}}, 13),
        row("p-note", "pagerduty", "incident.annotated",
            {"event": {"data": {"type": "incident_note", "incident": {"id": "PX1"}}}}, 14),
        row("x-dep", "generic", "deployment", {"id": "jenkins-1", "repo": "org/api", "changes": [B2]}, 15),
        row("x-inc", "generic", "incident", {"id": 3, "repo": "org/api"}, 16),
        row("broken", "github", "push", "not json", 17),
    ]
    rows[-1]["body"] = "{not json"
    return pd.DataFrame(rows)


def test_one_mapping_keyed_per_provider() -> None:
    # Every registered provider names its lineage keys (a new one needs no line here).
    assert all(callable(p.lineage_keys) for p in PROVIDERS.values())
    assert {"github", "gitlab", "pagerduty", "generic"} <= set(PROVIDERS)
    assert ("github", "deployment_status") in bronze_kinds("deployments")
    assert ("pagerduty", "incident.annotated") in bronze_kinds("incidents")
    assert not [k for k in bronze_kinds("changes") if k[0] == "pagerduty"]


def test_silver_ids_parse_into_keys() -> None:
    assert silver_keys("deployments", "org/api:5") == [("deployment", "org/api", "5")]
    assert silver_keys("changes", "org/api#7", f"{A1},{B2}") == [
        ("change", "org/api", "7"), ("commit", "org/api", A1), ("commit", "org/api", B2)]
    assert silver_keys("changes", f"org/api@{A1}", A1) == [("commit", "org/api", A1)]
    assert silver_keys("incidents", "org/api#pagerduty-12") == [("incident", "org/api", "pagerduty-12")]


def test_pagerduty_notes_resolve_through_the_incident_id() -> None:
    keys = delivery_keys(bronze())
    note = keys[keys["delivery_id"] == "p-note"]
    assert note[["kind", "native"]].values.tolist() == [["incident", "pagerduty-12"]]
    assert keys[keys["delivery_id"] == "broken"].empty


def test_each_silver_row_gets_its_deliveries_in_load_order() -> None:
    b = bronze()
    generic = f"org/api:{id_number('jenkins-1')}"
    deps = pd.DataFrame({"deployment_id": ["org/api:5", "grp/svc:9", generic, "org/x:1"]})
    assert lineage("deployments", deps, b).tolist() == ["g-dep,g-status", "l-dep", "x-dep", ""]
    changes = pd.DataFrame({"change_id": ["org/api#7", f"org/api@{A1}", "grp/svc#4"],
                            "commit_shas": [B2, A1, ""]})
    assert lineage("changes", changes, b).tolist() == ["g-pr,g-push,x-dep", "g-push", "l-mr"]
    incidents = pd.DataFrame({"incident_id": ["org/api#3", "grp/svc#2", "org/api#pagerduty-12",
                                              "org/web#pagerduty-12", "org/api#generic-3"]})
    # PagerDuty numbers are account-wide and its payload names no repo: any repo's id matches.
    assert lineage("incidents", incidents, b).tolist() == [
        "g-issue,g-comment", "l-issue,l-note", "p-open,p-note", "p-open,p-note", "x-inc"]
    assert lineage("incidents", incidents.iloc[:0], b).empty
    assert lineage("incidents", incidents, b.iloc[:0]).tolist() == [""] * 5


def test_bronze_window_covers_where_the_deliveries_anchor() -> None:
    deps = pd.DataFrame({"event_day": pd.to_datetime(["2025-03-03", "2025-03-05"])})
    assert bronze_window("deployments", deps) == (pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-07"))
    changes = deps.assign(first_commit_at=pd.to_datetime(["2025-02-27T23:00:00Z", None], utc=True))
    assert bronze_window("changes", changes) == (pd.Timestamp("2025-02-27"), pd.Timestamp("2025-03-06"))
    incidents = deps.assign(resolved_at=pd.to_datetime(["2025-03-09T01:00:00Z", None], utc=True))
    assert bronze_window("incidents", incidents) == (pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-10"))
    assert bronze_window("incidents", deps.iloc[:0]) is None
