"""GitLab webhook bodies → silver_changes / silver_deployments / silver_incidents with the GitHub columns."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pandas as pd

from devmetrics_assets.checks.silver_schemas import (
    SilverChangesSchema,
    SilverDeploymentsSchema,
    SilverIncidentsSchema,
)
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.gitlab import silver as gitlab
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.payloads import to_utc
from devmetrics_assets.transforms.silver_contract import CHANGES_COLUMNS
from devmetrics_assets_tests.transforms.test_payloads import sha

SHOP = "acme-gl/shop"
RULES = DoraRules(repo_owners={SHOP: {"team": "shop", "service": "Shop Service"}})
D3, D4, D5 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04"), pd.Timestamp("2025-03-05")
_seq = itertools.count(1)


def landed(provider: str, rows: list[tuple[str, Any, str]]) -> pd.DataFrame:
    """Bronze rows (as `read_bronze` returns them) from (event_type, body, received ISO) triples."""
    out = []
    for event_type, body, got in rows:
        received = pd.Timestamp(got)
        at, _ = to_utc([anchor_value(provider, event_type, body)])
        anchor = at.iloc[0]
        out.append(
            {
                "source": provider,
                "provider": provider,
                "delivery_id": f"{provider}-{next(_seq)}",
                "event_type": event_type,
                "received_at": received,
                "event_day": (received if pd.isna(anchor) else anchor).tz_localize(None).floor("D"),
                "body": body if isinstance(body, str) else json.dumps(body),
                "load_seq": next(_seq),
            }
        )
    frame = pd.DataFrame(out)
    frame["received_at"] = frame["received_at"].astype("datetime64[us, UTC]")
    frame["event_day"] = frame["event_day"].astype("datetime64[us]")
    return frame


def project(path: str = SHOP) -> dict[str, Any]:
    return {"id": 15, "name": path.split("/")[-1], "path_with_namespace": path, "default_branch": "main"}


def gl_commit(label: str, ts: str, message: str | None = None) -> dict[str, Any]:
    return {
        "id": sha(label),
        "message": message or f"commit {label}",
        "title": message or label,
        "timestamp": ts,
        "author": {"name": "Dev", "email": "dev@example.com"},
    }


def gl_push(branch: str, commits: list[dict], before: str, path: str = SHOP) -> dict[str, Any]:
    after = commits[-1]["id"] if commits else "0" * 40
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": before,
        "after": after,
        "ref": f"refs/heads/{branch}",
        "checkout_sha": after,
        "project": project(path),
        "commits": commits,
        "total_commits_count": len(commits),
    }


def gl_mr(
    iid: int,
    action: str,
    state: str,
    updated: str,
    *,
    source: str,
    title: str = "",
    description: str = "",
    merge_sha: str | None = None,
    squash_sha: str | None = None,
    squash: bool = False,
    last: str | None = None,
    created: str = "2025-03-03T08:45:00Z",
) -> dict[str, Any]:
    attrs = {
        "id": 900 + iid,
        "iid": iid,
        "target_branch": "main",
        "source_branch": source,
        "title": title,
        "description": description,
        "state": state,
        "action": action,
        "created_at": created,
        "updated_at": updated,
        "merge_commit_sha": merge_sha,
        "squash_commit_sha": squash_sha,
        "squash": squash,
        "last_commit": {"id": last or merge_sha or squash_sha or sha("none")},
    }
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "project": project(),
        "object_attributes": attrs,
        "labels": [],
    }


def gl_deploy(
    dep_id: int,
    status: str,
    at: str,
    label: str,
    env: str = "production",
    *,
    short_only: bool = False,
    path: str = SHOP,
) -> dict[str, Any]:
    body = {
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": at,
        "deployment_id": dep_id,
        "deployable_id": 7000 + dep_id,
        "environment": env,
        "project": project(path),
        "short_sha": sha(label)[:8],
        "commit_url": f"https://gitlab.example.com/{path}/-/commit/{sha(label)}",
    }
    if short_only:
        body.pop("commit_url")
    return body


def story() -> list[tuple[str, Any, str]]:
    """One day of acme-gl/shop: merge-commit MR, direct commits, squash MR (its push delivered late),
    fast-forward MR, then a direct commit; times are UTC."""
    f1a, f1b = gl_commit("f1a", "2025-03-03T08:00:00+01:00"), gl_commit("f1b", "2025-03-03T08:30:00Z")
    m1 = gl_commit(
        "m1", "2025-03-03T10:00:00Z", "Merge branch 'feature-1' into 'main'\n\nSee merge request !1"
    )
    s_a, s2 = (
        gl_commit("s_a", "2025-03-03T11:30:00Z"),
        gl_commit("s2", "2025-03-03T13:00:00Z", "Fix checkout"),
    )
    r_a, r_b = gl_commit("r_a", "2025-03-03T13:10:00Z"), gl_commit("r_b", "2025-03-03T13:20:00Z")
    d1, d2 = (
        gl_commit("d1", "2025-03-03T10:55:00Z"),
        gl_commit("d2", "2025-03-03T10:58:00Z", "hotfix, closes #7"),
    )
    d3 = gl_commit("d3", "2025-03-03T15:00:00Z", "tidy, fixes other/proj#5")
    return [
        ("Push Hook", gl_push("feature-1", [f1a, f1b], "0" * 40), "2025-03-03T09:00:01Z"),
        (
            "Merge Request Hook",
            gl_mr(1, "open", "opened", "2025-03-03T08:45:00Z", source="feature-1", title="Add cart"),
            "2025-03-03T08:45:01Z",
        ),
        ("Push Hook", gl_push("main", [f1a, f1b, m1], sha("root")), "2025-03-03T10:00:05Z"),
        (
            "Merge Request Hook",
            gl_mr(
                1,
                "merge",
                "merged",
                "2025-03-03T10:00:00Z",
                source="feature-1",
                title="Add cart",
                merge_sha=m1["id"],
            ),
            "2025-03-03T10:00:06Z",
        ),
        (
            "Merge Request Hook",
            gl_mr(
                1,
                "update",
                "merged",
                "2025-03-03T15:30:00Z",
                source="feature-1",
                title="Add cart",
                merge_sha=m1["id"],
            ),
            "2025-03-03T15:30:01Z",
        ),
        ("Push Hook", gl_push("main", [d1, d2], m1["id"]), "2025-03-03T11:00:00Z"),
        ("Push Hook", gl_push("feature-2", [s_a], "0" * 40), "2025-03-03T12:00:00Z"),
        (
            "Merge Request Hook",
            gl_mr(
                2,
                "merge",
                "merged",
                "2025-03-03T13:00:00Z",
                source="feature-2",
                title="Fix checkout",
                description="Fixes #7, #8 and #9",
                squash=True,
                squash_sha=s2["id"],
                created="2025-03-03T11:40:00Z",
            ),
            "2025-03-03T13:00:02Z",
        ),
        (
            "Merge Request Hook",
            gl_mr(
                3,
                "merge",
                "merged",
                "2025-03-03T13:21:00Z",
                source="feature-3",
                title="Steps",
                last=r_b["id"],
                created="2025-03-03T12:50:00Z",
            ),
            "2025-03-03T13:21:02Z",
        ),
        ("Push Hook", gl_push("main", [r_a, r_b], s2["id"]), "2025-03-03T13:21:01Z"),
        ("Push Hook", gl_push("main", [d3], r_b["id"]), "2025-03-03T15:00:03Z"),
        # the squash MR's main push arrives late, after the pushes that follow it on the chain
        ("Push Hook", gl_push("main", [s2], d2["id"]), "2025-03-03T16:00:00Z"),
    ]


def test_anchor_values_follow_contract_section_6() -> None:
    rows = landed("gitlab", story())
    assert rows["event_day"].eq(D3).all()
    note = {"object_kind": "note", "issue": {"created_at": "2025-03-02 23:50:00 UTC"}}
    assert anchor_value("gitlab", "Note Hook", note) == "2025-03-02 23:50:00+00:00"
    assert (
        anchor_value("gitlab", "Deployment Hook", gl_deploy(1, "running", "2025-03-03 00:10:00 +0100", "x"))
        == "2025-03-03 00:10:00 +0100"
    )
    assert anchor_value("gitlab", "Push Hook", gl_push("main", [], sha("x"))) is None


def test_main_line_follows_the_push_chain_even_when_a_push_arrives_late() -> None:
    _, _, mainline = gitlab.load_mainline(landed("gitlab", story()))
    labels = ["f1a", "f1b", "m1", "d1", "d2", "s2", "r_a", "r_b", "d3"]
    assert mainline["sha"].tolist() == [sha(x) for x in labels]
    methods = mainline.set_index("sha")["merge_method"]
    assert (
        methods[sha("m1")] == "merge" and methods[sha("s2")] == "squash" and methods[sha("r_b")] == "rebase"
    )
    assert methods[sha("d1")] == "direct"


def test_changes_have_the_github_columns_and_gitlab_semantics() -> None:
    incident_9 = ("Issue Hook", issue_hook(9, "open", "opened", "2025-03-03T09:00:00Z", kind="Incident"), "")
    incidents = landed("gitlab", [(*incident_9[:2], "2025-03-03T09:00:01Z")])
    changes, rejects = silver_entities.build_changes(landed("gitlab", story()), RULES, D3, D4, incidents)
    assert list(changes.columns) == CHANGES_COLUMNS and rejects.empty
    SilverChangesSchema.validate(changes)
    c = changes.set_index("change_id")
    mr1, mr2, mr3 = c.loc[f"{SHOP}#1"], c.loc[f"{SHOP}#2"], c.loc[f"{SHOP}#3"]
    assert mr1["merge_method"] == "merge" and mr1["commit_shas"] == ",".join(
        sha(x) for x in ("f1a", "f1b", "m1")
    )
    assert mr1["first_commit_at"] == pd.Timestamp("2025-03-03T07:00:00Z")
    assert mr1["landed_at"] == pd.Timestamp("2025-03-03T10:00:00Z"), (
        "a later edit must not move the merge time"
    )
    assert mr2["merge_method"] == "squash" and mr2["head_sha"] == sha("s2") and mr2["fixes_issues"] == "7,8,9"
    assert mr2["first_commit_at"] == pd.Timestamp("2025-03-03T11:30:00Z") and bool(mr2["is_hotfix"])
    assert mr3["merge_method"] == "rebase" and mr3["commit_shas"] == f"{sha('r_a')},{sha('r_b')}"
    assert mr3["first_commit_at"] == pd.Timestamp("2025-03-03T12:50:00Z"), "no branch push: MR created_at"
    assert c.loc[f"{SHOP}@{sha('d2')}", "fixes_issues"] == "7"
    assert not bool(c.loc[f"{SHOP}@{sha('d2')}", "is_hotfix"]), (
        "issue 7 is an ordinary issue, not an incident"
    )
    assert c.loc[f"{SHOP}@{sha('d3')}", "fixes_issues"] == "", "another project's issue is not ours"
    # a push lands at its head commit's time unless it was received earlier (received 15:00:03 here)
    assert c.loc[f"{SHOP}@{sha('d3')}", "landed_at"] == pd.Timestamp("2025-03-03T15:00:00Z")
    assert c.loc[f"{SHOP}@{sha('d1')}", "landed_at"] == pd.Timestamp("2025-03-03T10:58:00Z")
    assert len(changes) == 6


def test_deployments_final_status_rollback_shipping_and_midnight() -> None:
    story_rows = story()
    deploys = [
        ("Deployment Hook", gl_deploy(11, "running", "2025-03-03T10:10:00Z", "m1"), "2025-03-03T10:10:01Z"),
        ("Deployment Hook", gl_deploy(11, "success", "2025-03-03T10:20:00Z", "m1"), "2025-03-03T10:20:01Z"),
        ("Deployment Hook", gl_deploy(12, "running", "2025-03-03T14:00:00Z", "r_b"), "2025-03-03T14:00:01Z"),
        ("Deployment Hook", gl_deploy(12, "failed", "2025-03-03T14:05:00Z", "r_b"), "2025-03-03T14:05:01Z"),
        ("Deployment Hook", gl_deploy(13, "running", "2025-03-03T14:10:00Z", "r_b"), "2025-03-03T14:10:01Z"),
        ("Deployment Hook", gl_deploy(13, "canceled", "2025-03-03T14:12:00Z", "r_b"), "2025-03-03T14:12:01Z"),
        (
            "Deployment Hook",
            gl_deploy(14, "success", "2025-03-03T14:20:00Z", "r_b", "staging"),
            "2025-03-03T14:20:01Z",
        ),
        (
            "Deployment Hook",
            gl_deploy(15, "running", "2025-03-03T14:30:00Z", "r_b", short_only=True),
            "2025-03-03T14:30:01Z",
        ),
        (
            "Deployment Hook",
            gl_deploy(15, "success", "2025-03-03T14:40:00Z", "r_b", short_only=True),
            "2025-03-03T14:40:01Z",
        ),
        # the same status again via API pull (another delivery id): counted once
        (
            "Deployment Hook",
            gl_deploy(15, "success", "2025-03-03T14:40:00Z", "r_b", short_only=True),
            "2025-03-03T18:00:00Z",
        ),
        ("Deployment Hook", gl_deploy(16, "running", "2025-03-03T23:50:00Z", "m1"), "2025-03-03T23:50:01Z"),
        ("Deployment Hook", gl_deploy(16, "success", "2025-03-04T00:10:00Z", "m1"), "2025-03-04T00:10:01Z"),
        (
            "Deployment Hook",
            {"object_kind": "deployment", "status": "exploded", "project": project()},
            "2025-03-03T20:00:00Z",
        ),
    ]
    rows = landed("gitlab", deploys)
    mainline_rows = landed("gitlab", story_rows)
    out, q = silver_entities.build_deployments(rows, mainline_rows, RULES, D3, D4)
    SilverDeploymentsSchema.validate(out)
    d = out.set_index("deployment_id")
    assert d.loc[f"{SHOP}:11", "commit_shas"] == ",".join(sha(x) for x in ("f1a", "f1b", "m1"))
    assert d.loc[f"{SHOP}:12", "final_status"] == "failure"
    assert d.loc[f"{SHOP}:13", "final_status"] == "inactive", "canceled is neither success nor failure"
    assert not d.loc[f"{SHOP}:14", "is_production"]
    assert d.loc[f"{SHOP}:15", "status_count"] == 2 and d.loc[f"{SHOP}:15", "changes_known"]
    assert d.loc[f"{SHOP}:15", "change_ids"].split(",") == [
        f"{SHOP}@{sha('d1')}",
        f"{SHOP}@{sha('d2')}",
        f"{SHOP}#2",
        f"{SHOP}#3",
    ]
    assert d.loc[f"{SHOP}:15", "previous_deployment_id"] == f"{SHOP}:11"
    assert bool(d.loc[f"{SHOP}:16", "is_rollback"]) and d.loc[f"{SHOP}:16", "final_status"] == "success"
    assert d.loc[f"{SHOP}:16", "finished_at"] == pd.Timestamp("2025-03-04T00:10:00Z")
    assert d.loc[f"{SHOP}:16", "event_day"] == D3
    assert q["reason"].str.contains("deployment_id").tolist() == [True]


def issue_hook(
    iid: int,
    action: str,
    state: str,
    at: str,
    *,
    labels: tuple[str, ...] = (),
    kind: str = "Issue",
    description: str = "",
    created: str = "2025-03-03T09:00:00Z",
    closed: str | None = None,
) -> dict[str, Any]:
    attrs = {
        "id": 300 + iid,
        "iid": iid,
        "title": f"Issue {iid}",
        "description": description,
        "type": kind,
        "state": state,
        "action": action,
        "created_at": created,
        "updated_at": at,
        "closed_at": closed,
        "labels": [{"id": 1, "title": x} for x in labels],
    }
    return {
        "object_kind": "issue" if kind == "Issue" else "work_item",
        "project": project(),
        "object_attributes": attrs,
        "labels": attrs["labels"],
    }


def note_hook(
    iid: int,
    note_id: int,
    text: str,
    at: str,
    *,
    noteable: str = "Issue",
    labels: tuple[str, ...] = (),
    kind: str = "Issue",
) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "project": project(),
        "object_attributes": {
            "id": note_id,
            "note": text,
            "noteable_type": noteable,
            "created_at": at,
            "updated_at": at,
            "action": "create",
        },
        "issue": {
            "iid": iid,
            "title": f"Issue {iid}",
            "created_at": "2025-03-03 09:00:00 UTC",
            "state": "opened",
            "type": kind,
            "labels": [{"title": x} for x in labels],
        },
    }


def test_incident_issues_notes_reopen_and_root_cause() -> None:
    rules = DoraRules(incident_labels=("incident",))
    rows = [
        (
            "Issue Hook",
            issue_hook(7, "open", "opened", "2025-03-03T09:00:00Z", kind="Incident"),
            "2025-03-03T09:00:01Z",
        ),
        (
            "Note Hook",
            note_hook(7, 501, f"root cause: {sha('d1')[:8]}", "2025-03-03 09:30:00 UTC", kind="Incident"),
            "2025-03-03T09:30:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(
                7, "close", "closed", "2025-03-03T10:00:00Z", kind="Incident", closed="2025-03-03T10:00:00Z"
            ),
            "2025-03-03T10:00:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(7, "reopen", "opened", "2025-03-03T11:00:00Z", kind="Incident"),
            "2025-03-03T11:00:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(
                7, "close", "closed", "2025-03-03T12:00:00Z", kind="Incident", closed="2025-03-03T12:00:00Z"
            ),
            "2025-03-03T12:00:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(
                8,
                "open",
                "opened",
                "2025-03-03T13:00:00Z",
                labels=("INCIDENT",),
                created="2025-03-03T13:00:00Z",
            ),
            "2025-03-03T13:00:01Z",
        ),
        (
            "Confidential Note Hook",
            note_hook(8, 502, "looking", "2025-03-03 13:30:00 UTC", labels=("incident",)),
            "2025-03-03T13:30:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(9, "open", "opened", "2025-03-03T14:00:00Z", labels=("bug",)),
            "2025-03-03T14:00:01Z",
        ),
        (
            "Note Hook",
            note_hook(1, 503, "root cause: deadbeef", "2025-03-03 14:30:00 UTC", noteable="MergeRequest"),
            "2025-03-03T14:30:01Z",
        ),
        (
            "Issue Hook",
            issue_hook(
                10, "open", "opened", "2025-03-03T15:00:00Z", labels=("incident",), created="not a time"
            ),
            "2025-03-03T15:00:01Z",
        ),
    ]
    out, q = silver_entities.build_incidents(landed("gitlab", rows), landed("gitlab", story()), rules, D3, D4)
    SilverIncidentsSchema.validate(out)
    i = out.set_index("incident_id")
    assert sorted(i.index) == [f"{SHOP}#7", f"{SHOP}#8"]
    seven = i.loc[f"{SHOP}#7"]
    assert seven["reopened_count"] == 1 and not seven["is_open"]
    assert seven["resolved_at"] == pd.Timestamp("2025-03-03T12:00:00Z")
    assert seven["root_cause_raw"] == sha("d1")[:8] and seven["root_cause_sha"] == sha("d1")
    assert bool(i.loc[f"{SHOP}#8", "is_open"]) and pd.isna(i.loc[f"{SHOP}#8", "resolved_at"])
    assert q["reason"].tolist() == ["issue created_at is not a valid timestamp"]


def test_unusable_push_and_merge_request_deliveries_are_quarantined_in_their_window() -> None:
    bad_commit = gl_push("main", [{"id": sha("x"), "message": "no time"}], sha("root"))
    no_sha = gl_mr(4, "merge", "merged", "2025-03-03T09:00:00Z", source="f4")
    no_sha["object_attributes"]["last_commit"] = None
    rows = landed(
        "gitlab",
        [
            ("Push Hook", bad_commit, "2025-03-03T09:00:00Z"),
            ("Merge Request Hook", no_sha, "2025-03-03T09:00:01Z"),
            ("Push Hook", "{not json", "2025-03-03T09:00:02Z"),
        ],
    )
    _, q = silver_entities.build_changes(rows, RULES, D3, D4)
    assert sorted(q["reason"]) == sorted(
        [
            f"commit {sha('x')} has no timestamp",
            "merged merge request without merge/squash/last commit sha",
            "body is not valid JSON",
        ]
    )
    assert silver_entities.build_changes(rows, RULES, D4, D5)[1].empty


def test_closing_pattern_follows_gitlab_keywords_and_lists() -> None:
    assert gitlab.closed_issue_numbers("Closes #1, #2 and #3", "Implements issue #9") == [1, 2, 3, 9]
    assert gitlab.closed_issue_numbers("Resolving: #4; fixing #5") == [4, 5]
    assert gitlab.closed_issue_numbers("Closes other/proj#5 and see #6", "mentions #7") == []
    assert gitlab.closed_issue_numbers(None, "") == []


def test_api_pulled_issue_snapshots_do_not_invent_a_reopen() -> None:
    """The puller sends open/close/update bodies that all carry the issue's LATEST state (closed)."""
    closed = "2025-03-03T10:00:00Z"
    pulled = [
        (
            "Issue Hook",
            issue_hook(7, "open", "closed", "2025-03-03T11:00:00Z", kind="Incident", closed=closed),
            "2025-03-03T12:00:00Z",
        ),
        (
            "Issue Hook",
            issue_hook(7, "close", "closed", "2025-03-03T11:00:00Z", kind="Incident", closed=closed),
            "2025-03-03T12:00:01Z",
        ),
    ]
    webhook = [
        (
            "Issue Hook",
            issue_hook(7, "open", "opened", "2025-03-03T09:00:00Z", kind="Incident"),
            "2025-03-03T12:30:00Z",  # the webhook copy arrives after the pulled one
        )
    ]
    out, _ = silver_entities.build_incidents(
        landed("gitlab", pulled + webhook), landed("gitlab", story()), RULES, D3, D4
    )
    row = out.set_index("incident_id").loc[f"{SHOP}#7"]
    assert row["reopened_count"] == 0 and not row["is_open"]
    assert row["resolved_at"] == pd.Timestamp(closed)
