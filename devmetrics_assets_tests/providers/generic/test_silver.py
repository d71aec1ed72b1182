"""The generic JSON format (docs/generic-format.md): deployments and incidents as snapshots."""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.silver_schemas import (
    SilverChangesSchema,
    SilverDeploymentsSchema,
    SilverIncidentsSchema,
)
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.generic import silver as generic
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets_tests.providers.gitlab.test_silver import D3, D4, SHOP, landed, story
from devmetrics_assets_tests.transforms.test_payloads import sha

SEARCH = "acme-ext/search"
RULES = DoraRules(
    repo_owners={SEARCH: {"team": "growth", "service": "Search"}, SHOP: {"service": "Shop Service"}}
)


def dep(
    dep_id: Any,
    status: str,
    *,
    repo: str | None = SEARCH,
    service: str | None = None,
    label: str = "c2",
    env: str = "production",
    created: str = "2025-03-03T10:00:00Z",
    finished: str | None = None,
    changes: list | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": dep_id,
        "environment": env,
        "sha": sha(label),
        "status": status,
        "created_at": created,
        "finished_at": finished,
    }
    if repo:
        body["repo"] = repo
    if service:
        body["service"] = service
    if changes is not None:
        body["changes"] = changes
    return body


def inc(
    inc_id: Any,
    *,
    opened: str = "2025-03-03T12:00:00Z",
    resolved: str | None = None,
    updated: str | None = None,
    root: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": inc_id,
        "repo": SEARCH,
        "title": f"Incident {inc_id}",
        "opened_at": opened,
        "resolved_at": resolved,
        "updated_at": updated,
        "root_cause_sha": root,
    }
    return body | extra


def deployments() -> list[tuple[str, Any, str]]:
    c1 = {"sha": sha("c1"), "timestamp": "2025-03-03T08:00:00Z", "message": "first"}
    c2 = {"sha": sha("c2"), "timestamp": "2025-03-03T09:00:00+02:00", "message": "second, fixes #5"}
    return [
        ("deployment", dep(1, "running", changes=[c1, c2]), "2025-03-03T10:00:01Z"),
        (
            "deployment",
            dep(1, "success", finished="2025-03-03T10:05:00Z", changes=[c1, c2]),
            "2025-03-03T10:05:01Z",
        ),
        (
            "deployment",
            dep(
                "deploy-abc",
                "failed",
                label="c3",
                service="search",
                repo=None,
                created="2025-03-03T11:00:00Z",
                finished="2025-03-03T11:02:00Z",
                changes=[{"sha": sha("c3"), "timestamp": "2025-03-03T10:50:00Z"}],
            ),
            "2025-03-03T11:02:01Z",
        ),
        (
            "deployment",
            dep(
                3,
                "success",
                label="c3",
                created="2025-03-03T11:10:00Z",
                finished="2025-03-03T11:15:00Z",
                changes=[sha("c3")],
            ),
            "2025-03-03T11:15:01Z",
        ),
        (
            "deployment",
            # A redeploy of what deployment 1 released (c2), older than the running c3: a rollback.
            dep(4, "success", label="c2", created="2025-03-03T12:00:00Z", finished="2025-03-03T12:04:00Z"),
            "2025-03-03T12:04:01Z",
        ),
        ("deployment", dep(5, "succeeded", created="2025-03-03T13:00:00Z"), "2025-03-03T13:00:01Z"),
        ("deployment", dep(6, "exploded", created="2025-03-03T13:00:00Z"), "2025-03-03T13:00:02Z"),
        (
            "deployment",
            dep(7, "success", repo=None, service="Nowhere", finished="2025-03-03T13:00:00Z"),
            "2025-03-03T13:00:03Z",
        ),
    ]


def test_anchors_use_created_at_and_opened_at() -> None:
    assert anchor_value("generic", "deployment", dep(1, "success")) == "2025-03-03T10:00:00Z"
    assert (
        anchor_value("generic", "incident", inc(1, opened="2025-03-03 12:00:00 UTC"))
        == "2025-03-03 12:00:00+00:00"
    )


def test_id_number_keeps_integers_and_hashes_text_stably() -> None:
    assert generic.id_number(42) == 42 and generic.id_number("42") == 42
    n = generic.id_number("deploy-abc")
    assert n == generic.id_number("deploy-abc") and n >= generic.SYNTHETIC_BASE
    assert generic.id_number("") is None and generic.id_number(None) is None


def test_deployments_snapshots_changes_main_line_rollback_and_quarantine() -> None:
    rows = landed("generic", deployments())
    out, q = silver_entities.build_deployments(rows, rows, RULES, D3, D4)
    SilverDeploymentsSchema.validate(out)
    d = out.set_index("deployment_id")
    first = d.loc[f"{SEARCH}:1"]
    assert first["final_status"] == "success" and first["status_count"] == 2
    assert first["finished_at"] == pd.Timestamp("2025-03-03T10:05:00Z")
    assert first["commit_shas"] == f"{sha('c1')},{sha('c2')}"
    abc = f"{SEARCH}:{generic.id_number('deploy-abc')}"
    assert d.loc[abc, "final_status"] == "failure" and d.loc[abc, "repo"] == SEARCH, "service → repo"
    assert d.loc[f"{SEARCH}:3", "commit_shas"] == sha("c3")
    assert bool(d.loc[f"{SEARCH}:4", "is_rollback"]) and d.loc[f"{SEARCH}:4", "commit_shas"] == ""
    assert d.loc[f"{SEARCH}:4", "undoes_deployment_id"] == f"{SEARCH}:3", "it undoes what :3 shipped"
    assert bool(first["is_baseline"]) and not bool(d.loc[f"{SEARCH}:3", "is_baseline"])
    assert sorted(q["reason"]) == sorted(
        [
            "deployment status 'succeeded' without finished_at",
            "unknown deployment status 'exploded'",
            "deployment repo unknown: service 'Nowhere' maps to no repo: "
            "set repos.<repo>.service in rules.yaml or send repo",
        ]
    )


def test_changes_lists_become_direct_commit_changes_with_lead_time_start() -> None:
    changes, _ = silver_entities.build_changes(landed("generic", deployments()), RULES, D3, D4)
    SilverChangesSchema.validate(changes)
    c = changes.set_index("change_id")
    assert sorted(c.index) == sorted(f"{SEARCH}@{sha(x)}" for x in ("c1", "c2", "c3"))
    assert c.loc[f"{SEARCH}@{sha('c2')}", "first_commit_at"] == pd.Timestamp("2025-03-03T07:00:00Z")
    assert c.loc[f"{SEARCH}@{sha('c2')}", "fixes_issues"] == "5"
    assert c.loc[f"{SEARCH}@{sha('c1')}", "landed_at"] == pd.Timestamp("2025-03-03T10:00:00Z")


def test_changes_are_ignored_for_repos_with_push_history() -> None:
    body = dep(
        9,
        "success",
        repo=SHOP,
        label="m1",
        finished="2025-03-03T10:30:00Z",
        changes=[{"sha": sha("zzz"), "timestamp": "2025-03-03T09:00:00Z"}],
    )
    rows = pd.concat(
        [landed("gitlab", story()), landed("generic", [("deployment", body, "2025-03-03T10:30:01Z")])],
        ignore_index=True,
    )
    changes, _ = silver_entities.build_changes(rows, RULES, D3, D4)
    assert f"{SHOP}@{sha('zzz')}" not in set(changes["change_id"])
    out, _ = silver_entities.build_deployments(rows, rows, RULES, D3, D4)
    assert out.set_index("deployment_id").loc[f"{SHOP}:9", "commit_shas"] == ",".join(
        sha(x) for x in ("f1a", "f1b", "m1")
    ), "a generic deployment of a GitLab project ships its main line"


def test_incident_snapshots_resolve_reopen_and_root_cause() -> None:
    rows = [
        ("incident", inc(11), "2025-03-03T12:00:01Z"),
        ("incident", inc(11, resolved="2025-03-03T13:00:00Z"), "2025-03-03T13:00:01Z"),
        # a reopen snapshot that still carries the old resolved_at: status decides
        (
            "incident",
            inc(11, resolved="2025-03-03T13:00:00Z", updated="2025-03-03T14:00:00Z", status="open"),
            "2025-03-03T14:00:01Z",
        ),
        ("incident", inc(11, resolved="2025-03-03T15:00:00Z", root=sha("c3")[:7]), "2025-03-03T15:00:01Z"),
        (
            "incident",
            inc("INC-7", opened="2025-03-03T16:00:00Z", repo=None, service="search"),
            "2025-03-03T16:00:01Z",
        ),
        ("incident", inc(12, opened="yesterday"), "2025-03-03T16:00:02Z"),
        ("incident", inc(13, opened="2025-03-04T01:00:00Z"), "2025-03-04T01:00:01Z"),
    ]
    out, q = silver_entities.build_incidents(
        landed("generic", rows), landed("generic", deployments()), RULES, D3, D4
    )
    SilverIncidentsSchema.validate(out)
    i = out.set_index("incident_id")
    eleven = i.loc[f"{SEARCH}#generic-11"]
    assert eleven["reopened_count"] == 1 and not eleven["is_open"]
    assert eleven["resolved_at"] == pd.Timestamp("2025-03-03T15:00:00Z")
    assert eleven["root_cause_sha"] == sha("c3"), "short sha resolved on the synthetic main line"
    assert bool(i.loc[f"{SEARCH}#generic-{generic.id_number('INC-7')}", "is_open"])
    assert f"{SEARCH}#generic-13" not in i.index, "opened the next day: another partition"
    assert q["reason"].tolist() == ["incident.opened_at is not a valid timestamp"]
