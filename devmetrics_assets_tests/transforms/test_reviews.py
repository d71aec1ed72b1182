"""First reviews from hand-written deliveries in the providers' documented shapes (reviews.py).

GitHub `pull_request_review` (action, review{id, user{login}, state, submitted_at, commit_id},
pull_request{number, user{login}, created_at, updated_at, ...}); GitLab Merge Request Hook with action
`approval` / `approved` (object_attributes{iid, author_id, updated_at}, user{id}) and Note Hook on a merge
request (object_attributes{noteable_type: MergeRequest, author_id, created_at, system}, merge_request{iid,
author_id}). Stage hours in the comments are worked out by hand.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverChangesSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.anchors import event_anchor_value
from devmetrics_assets.providers.github.changes import build_silver_changes
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.reviews import github_reviews, gitlab_reviews
from devmetrics_assets.transforms.silver_contract import CHANGES_COLUMNS
from devmetrics_assets.transforms.silver_entities import review_landing_days
from devmetrics_assets_tests.providers.github.test_mainline import API, story_rows
from devmetrics_assets_tests.providers.gitlab.test_silver import (
    SHOP,
    gl_commit,
    gl_mr,
    gl_push,
    landed,
    project,
)
from devmetrics_assets_tests.transforms.test_payloads import bronze, repository, sha

RULES = DoraRules()
D3, D4 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04")


def gh_review(
    number: int, who: str, state: str, submitted: str, *, action: str = "submitted", author: str = "alice"
) -> dict[str, Any]:
    """A `pull_request_review` webhook body as GitHub documents it (trimmed to the fields read + a few)."""
    return {
        "action": action,
        "review": {
            "id": abs(hash((number, who, submitted))) % 10**9,
            "user": {"login": who, "id": len(who), "type": "User"},
            "body": "LGTM" if state == "approved" else "",
            "commit_id": sha(f"head-{number}"),
            "submitted_at": submitted,
            "state": state,
            "author_association": "MEMBER",
        },
        "pull_request": {
            "number": number,
            "user": {"login": author, "id": 1},
            "state": "open",
            "created_at": "2025-03-03T08:45:00Z",
            "updated_at": submitted,
            "merged_at": None,
            "head": {"ref": f"feature-{number}", "sha": sha(f"head-{number}")},
            "base": {"ref": "main"},
        },
        "repository": repository("api"),
        "sender": {"login": who, "id": len(who)},
    }


def github_story() -> pd.DataFrame:
    """story_rows (PR #1: first commit 07:00Z, opened 08:45Z, merged 10:00Z) plus its reviews."""
    reviews = [
        gh_review(1, "alice", "commented", "2025-03-03T08:50:00Z"),  # the author: never a review
        gh_review(1, "bob", "pending", "2025-03-03T08:55:00Z"),  # pending: not submitted
        gh_review(1, "carol", "dismissed", "2025-03-03T09:00:00Z", action="dismissed"),
        gh_review(1, "dave", "commented", "2025-03-03T09:15:00Z"),  # comment-only: the first review
        gh_review(1, "erin", "approved", "2025-03-03T09:40:00Z"),
        gh_review(1, "frank", "approved", "2025-03-03T10:30:00Z"),  # after the merge: ignored
        gh_review(2, "erin", "approved", "2025-03-03T13:30:00Z"),  # #2 merged 13:00: post-merge only
    ]
    rows = story_rows()
    # dave's review arrives late (received 2025-03-10 by `bronze`): it anchors on its submitted_at.
    return bronze([*rows[:2], *[("pull_request_review", r) for r in reviews], *rows[2:]])


def test_github_review_rules_and_anchor() -> None:
    body = gh_review(1, "dave", "commented", "2025-03-03T09:15:00Z")
    assert event_anchor_value("pull_request_review", body) == "2025-03-03T09:15:00Z"
    got = github_reviews(github_story())
    assert sorted(got["reviewer"]) == ["dave", "erin", "erin", "frank"]  # alice, bob, carol left out


def test_github_pr_gets_opened_and_first_review_and_stays_in_contract() -> None:
    rows = github_story()
    assert (rows.loc[rows["event_type"] == "pull_request_review", "event_day"] == D3).all()
    changes, quarantine = build_silver_changes(rows, RULES, D3, D4)
    assert list(changes.columns) == CHANGES_COLUMNS and quarantine.empty
    SilverChangesSchema.validate(changes)
    c = changes.set_index("change_id")
    pr1 = c.loc[f"{API}#1"]
    assert pr1["opened_at"] == pd.Timestamp("2025-03-03T08:45:00Z")
    assert pr1["first_review_at"] == pd.Timestamp("2025-03-03T09:15:00Z")
    # coding 07:00 -> 08:45 = 1.75 h; pickup 08:45 -> 09:15 = 0.5 h; review 09:15 -> 10:00 = 0.75 h
    assert (pr1["opened_at"] - pr1["first_commit_at"]) / pd.Timedelta(hours=1) == 1.75
    assert (pr1["first_review_at"] - pr1["opened_at"]) / pd.Timedelta(hours=1) == 0.5
    assert (pr1["landed_at"] - pr1["first_review_at"]) / pd.Timedelta(hours=1) == 0.75
    assert pd.isna(c.loc[f"{API}#2", "first_review_at"])  # only a post-merge review
    direct = c[c["kind"] == "commit"]
    assert len(direct) and direct["opened_at"].isna().all() and direct["first_review_at"].isna().all()
    assert str(changes["first_review_at"].dtype) == "datetime64[us, UTC]"


def test_reviews_leave_the_main_line_and_other_columns_unchanged() -> None:
    before = build_silver_changes(bronze(story_rows()), RULES, D3, D4)[0]
    after = build_silver_changes(github_story(), RULES, D3, D4)[0]
    same = [c for c in CHANGES_COLUMNS if c != "first_review_at"]
    pd.testing.assert_frame_equal(before[same], after[same])


def gl_approval(iid: int, user_id: int, at: str, *, author_id: int = 11, action: str = "approval") -> dict:
    """A Merge Request Hook for an approval: no approval time of its own, `updated_at` is the event's."""
    body = gl_mr(iid, action, "opened", at, source=f"feature-{iid}", created="2025-03-03T08:45:00Z")
    body["object_attributes"]["author_id"] = author_id
    return body | {"user": {"id": user_id, "username": f"u{user_id}", "name": f"User {user_id}"}}


def gl_note(iid: int, user_id: int, at: str, *, author_id: int = 11, system: bool = False) -> dict:
    """A Note Hook on merge request `iid` (comment on a merge request)."""
    return {
        "object_kind": "note",
        "event_type": "note",
        "user": {"id": user_id, "username": f"u{user_id}", "name": f"User {user_id}"},
        "project": project(),
        "object_attributes": {
            "id": 7000 + user_id,
            "note": "nit: rename this",
            "noteable_type": "MergeRequest",
            "author_id": user_id,
            "created_at": at.replace("T", " ").replace("Z", " UTC"),
            "updated_at": at.replace("T", " ").replace("Z", " UTC"),
            "system": system,
            "action": "create",
        },
        "merge_request": {"id": 900 + iid, "iid": iid, "author_id": author_id, "state": "opened"},
    }


def gitlab_story() -> pd.DataFrame:
    """MR !4: commit 08:00Z, opened 08:45Z, merged 11:00Z. !5: approved only by its author."""
    f4 = gl_commit("g4", "2025-03-03T08:00:00Z")
    m4 = gl_commit("gm4", "2025-03-03T11:00:00Z", "Merge branch 'feature-4' into 'main'")
    rows = [
        ("Push Hook", gl_push("feature-4", [f4], "0" * 40), "2025-03-03T08:00:05Z"),
        ("Merge Request Hook", gl_mr(4, "open", "opened", "2025-03-03T08:45:00Z", source="feature-4"),
         "2025-03-03T08:45:01Z"),
        ("Note Hook", gl_note(4, 11, "2025-03-03T09:00:00Z"), "2025-03-03T09:00:01Z"),  # the author
        ("Note Hook", gl_note(4, 12, "2025-03-03T09:10:00Z", system=True), "2025-03-03T09:10:01Z"),
        ("Note Hook", gl_note(4, 13, "2025-03-03T09:30:00Z"), "2025-03-06T12:00:00Z"),  # first, 3 days late
        ("Merge Request Hook", gl_approval(4, 14, "2025-03-03T10:15:00Z"), "2025-03-03T10:15:01Z"),
        ("Push Hook", gl_push("main", [f4, m4], sha("root")), "2025-03-03T11:00:05Z"),
        ("Merge Request Hook", gl_mr(4, "merge", "merged", "2025-03-03T11:00:00Z", source="feature-4",
                                     merge_sha=m4["id"], last=f4["id"]), "2025-03-03T11:00:02Z"),
        ("Merge Request Hook", gl_approval(5, 11, "2025-03-03T12:00:00Z", action="approved"),
         "2025-03-03T12:00:01Z"),
        ("Merge Request Hook", gl_mr(5, "merge", "merged", "2025-03-03T12:30:00Z", source="feature-5",
                                     merge_sha=sha("gm5"), created="2025-03-03T11:00:00Z"),
         "2025-03-03T12:30:01Z"),
    ]
    return landed("gitlab", rows)


def test_gitlab_approvals_and_merge_request_notes_are_reviews() -> None:
    anchor = anchor_value("gitlab", "Note Hook", gl_note(4, 13, "2025-03-03T09:30:00Z"))
    assert pd.Timestamp(anchor) == pd.Timestamp("2025-03-03T09:30:00Z")  # the note's own time
    rows = gitlab_story()
    got = gitlab_reviews(rows)
    assert sorted(got["reviewer"]) == ["13", "14"]  # the author's note, a system note, !5's self-approval
    mainline_types = silver_entities.split(rows, "mainline")["gitlab"]["event_type"]
    assert mainline_types.isin(["Push Hook", "Merge Request Hook"]).all()
    changes, _ = silver_entities.build_changes(rows, RULES, D3, D4)
    SilverChangesSchema.validate(changes)
    c = changes.set_index("change_id")
    mr4 = c.loc[f"{SHOP}#4"]
    # coding 08:00 -> 08:45 = 0.75 h; pickup 08:45 -> 09:30 = 0.75 h; review 09:30 -> 11:00 = 1.5 h
    assert mr4["first_commit_at"] == pd.Timestamp("2025-03-03T08:00:00Z")
    assert mr4["opened_at"] == pd.Timestamp("2025-03-03T08:45:00Z")
    assert mr4["first_review_at"] == pd.Timestamp("2025-03-03T09:30:00Z")
    assert mr4["landed_at"] == pd.Timestamp("2025-03-03T11:00:00Z")
    mr5 = c.loc[f"{SHOP}#5"]
    assert mr5["opened_at"] == pd.Timestamp("2025-03-03T11:00:00Z") and pd.isna(mr5["first_review_at"])


def test_review_landing_days_name_the_changes_a_late_review_reaches() -> None:
    rows = github_story()
    changes = build_silver_changes(rows, RULES, D3, D4)[0]
    later = changes.assign(event_day=changes["event_day"] + pd.Timedelta(days=2))  # as if merged 2 days on
    reviews = rows[rows["event_type"] == "pull_request_review"]
    assert review_landing_days(reviews, later) == {D3 + pd.Timedelta(days=2)}
    assert review_landing_days(reviews.iloc[:0], later) == set()
