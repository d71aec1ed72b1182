"""Main line: ordering, dedupe, PR mapping and merge-method inference from realistic push/PR bodies."""

from __future__ import annotations

import json

import pandas as pd

from devmetrics_assets.providers.github.mainline import (
    build_mainline,
    mainline_from_deliveries,
    merged_pull_requests,
    parse_mainline_deliveries,
)
from devmetrics_assets.transforms.branches import head_branch_first_commits
from devmetrics_assets_tests.transforms.test_payloads import (
    bronze,
    commit,
    epoch,
    pr_body,
    push_body,
    repository,
    sha,
)

API = "acme/api"


def story_rows() -> list[tuple[str, object]]:
    """One day of acme/api: a merge-commit PR, two direct commits, a squash PR, a rebase PR."""
    f1a = commit("f1a", "2025-03-03T08:00:00+01:00")  # 07:00Z
    f1b = commit("f1b", "2025-03-03T08:30:00Z")
    m1 = commit("m1", "2025-03-03T10:00:00Z", "Merge pull request #1 from acme/feature-1\n\nAdd cart")
    s_a = commit("s_a", "2025-03-03T11:30:00Z")
    s2 = commit("s2", "2025-03-03T13:00:00Z", "Fix checkout (#2)\n\n* s_a")
    r_a = commit("r_a", "2025-03-03T13:10:00Z", "step one")
    r_b = commit("r_b", "2025-03-03T13:20:00Z", "step two")
    r_a2 = commit("r_a2", "2025-03-03T13:10:00Z", "step one")
    r_b2 = commit("r_b2", "2025-03-03T13:20:00Z", "step two")
    merge_push = push_body(
        "api",
        "main",
        "2025-03-03T10:00:05Z",
        [{**f1a, "distinct": False}, {**f1b, "distinct": False}, m1],
        before=sha("root"),
    )
    return [
        ("push", push_body("api", "feature-1", "2025-03-03T09:00:00Z", [f1a, f1b])),
        ("pull_request", pr_body("api", 1, "opened", title="Add cart", created="2025-03-03T08:45:00Z")),
        (
            "pull_request",
            pr_body(
                "api",
                1,
                "closed",
                title="Add cart",
                created="2025-03-03T08:45:00Z",
                merged_at="2025-03-03T10:00:00Z",
                merge_sha=m1["id"],
            ),
        ),
        ("push", merge_push),
        ("push", push_body("api", "feature-1", "2025-03-03T10:01:00Z", [], deleted=True)),
        (
            "push",
            push_body(
                "api",
                "main",
                "2025-03-03T11:00:00Z",
                [
                    commit("d1", "2025-03-03T10:55:00Z"),
                    commit("d2", "2025-03-03T10:58:00Z", "hotfix, fixes #7"),
                ],
                before=m1["id"],
            ),
        ),
        ("push", push_body("api", "feature-2", "2025-03-03T12:00:00Z", [s_a])),
        (
            "pull_request",
            pr_body(
                "api",
                2,
                "closed",
                title="Fix checkout",
                body="Fixes #7 and closes #8",
                created="2025-03-03T11:40:00Z",
                merged_at="2025-03-03T13:00:00Z",
                merge_sha=s2["id"],
            ),
        ),
        ("push", push_body("api", "main", "2025-03-03T13:00:02Z", [s2], before=sha("d2"))),
        ("push", push_body("api", "feature-3", "2025-03-03T13:30:00Z", [r_a, r_b])),
        (
            "pull_request",
            pr_body(
                "api",
                3,
                "closed",
                title="Two steps",
                created="2025-03-03T13:05:00Z",
                merged_at="2025-03-03T14:00:00Z",
                merge_sha=r_b2["id"],
            ),
        ),
        ("push", push_body("api", "main", "2025-03-03T14:00:01Z", [r_a2, r_b2], before=s2["id"])),
        ("pull_request", pr_body("api", 4, "closed", title="Abandoned", updated="2025-03-03T15:00:00Z")),
    ]


def story() -> pd.DataFrame:
    rows = story_rows()
    # The merge push also arrives from a second source (e.g. the API backfill) with another delivery id.
    return pd.concat([bronze(rows), bronze([rows[3]], source="api_backfill")], ignore_index=True)


def test_mainline_order_dedupe_and_change_mapping() -> None:
    ml = mainline_from_deliveries(story())
    assert list(ml["sha"]) == [sha(x) for x in ("f1a", "f1b", "m1", "d1", "d2", "s2", "r_a2", "r_b2")]
    assert list(ml["seq"]) == list(range(8))
    assert list(ml["change_id"]) == [
        f"{API}#1",
        f"{API}#1",
        f"{API}#1",
        f"{API}@{sha('d1')}",
        f"{API}@{sha('d2')}",
        f"{API}#2",
        f"{API}#3",
        f"{API}#3",
    ]
    assert list(ml["merge_method"]) == ["merge"] * 3 + ["direct"] * 2 + ["squash"] + ["rebase"] * 2
    assert list(ml["pos"]) == [0, 1, 2, 0, 1, 0, 0, 1]
    assert list(ml["is_head"]) == [False, False, True, False, False, True, False, True]
    assert ml["commit_at"][0] == pd.Timestamp("2025-03-03T07:00:00Z")
    assert ml["pushed_at"][2] == pd.Timestamp("2025-03-03T10:00:05Z")
    assert str(ml["commit_at"].dtype) == "datetime64[us, UTC]"


def test_single_commit_rebase_is_not_squash_and_several_prs_split_one_push() -> None:
    a, b, c = (
        commit("a", "2025-03-03T09:00:00Z", "plain message"),
        commit("b", "2025-03-03T09:01:00Z"),
        commit("c", "2025-03-03T09:02:00Z", "Tidy (#6)"),
    )
    rows = [
        ("pull_request", pr_body("api", 5, "closed", merged_at="2025-03-03T10:00:00Z", merge_sha=a["id"])),
        (
            "pull_request",
            pr_body("api", 6, "closed", title="Tidy", merged_at="2025-03-03T10:00:00Z", merge_sha=c["id"]),
        ),
        ("push", push_body("api", "main", "2025-03-03T10:00:00Z", [a, b, c])),
    ]
    ml = mainline_from_deliveries(bronze(rows))
    assert list(ml["change_id"]) == [f"{API}#5", f"{API}#6", f"{API}#6"]
    assert list(ml["merge_method"]) == ["rebase", "rebase", "rebase"]  # #6 has two commits: not a squash


def test_pushes_in_the_same_second_follow_the_before_after_chain() -> None:
    first = push_body("api", "main", "2025-03-03T10:00:00Z", [commit("p1", "2025-03-03T09:00:00Z")])
    second = push_body(
        "api", "main", "2025-03-03T10:00:00Z", [commit("p2", "2025-03-03T09:59:00Z")], before=sha("p1")
    )
    ml = mainline_from_deliveries(bronze([("push", second), ("push", first)]))  # received in reverse
    assert list(ml["sha"]) == [sha("p1"), sha("p2")]


def test_other_repos_branches_and_tags_do_not_enter_the_main_line() -> None:
    tag = {
        **push_body("api", "main", "2025-03-03T10:00:00Z", [commit("t", "2025-03-03T09:00:00Z")]),
        "ref": "refs/tags/v1.0",
    }
    feature = push_body("api", "feature-9", "2025-03-03T10:00:00Z", [commit("f", "2025-03-03T09:00:00Z")])
    web = push_body("web", "main", "2025-03-03T09:00:00Z", [commit("w", "2025-03-03T08:00:00Z")])
    inputs = parse_mainline_deliveries(bronze([("push", tag), ("push", feature), ("push", web)]))
    assert inputs.rejects.empty
    ml = build_mainline(inputs)
    assert list(zip(ml["repo"], ml["sha"], ml["seq"], strict=True)) == [("acme/web", sha("w"), 0)]


def test_unusable_deliveries_become_rejects_with_specific_reasons() -> None:
    good = push_body("api", "main", "2025-03-03T10:00:00Z", [commit("ok", "2025-03-03T09:00:00Z")])
    no_repo = {**good, "repository": {"name": "api"}}
    bad_pushed = {**good, "repository": {**repository("api"), "pushed_at": "soon"}}
    bad_commit = push_body("api", "main", "2025-03-03T11:00:00Z", [commit("x", "not a time")])
    no_sha = pr_body("api", 9, "closed", merged_at="2025-03-03T10:00:00Z", merge_sha=None)
    bad_pr_time = pr_body("api", 10, "opened", created="2025-13-45T00:00:00Z")
    frame = bronze(
        [
            ("push", "{truncated"),
            ("push", no_repo),
            ("push", bad_pushed),
            ("push", bad_commit),
            ("pull_request", no_sha),
            ("pull_request", bad_pr_time),
            ("push", good),
        ]
    )
    inputs = parse_mainline_deliveries(frame)
    reasons = dict(zip(inputs.rejects["record_ref"], inputs.rejects["reason"], strict=True))
    ids = frame["delivery_id"]
    assert reasons[ids[0]].startswith("body is not valid JSON")
    assert reasons[ids[1]] == "repository.full_name missing"
    assert reasons[ids[2]] == "repository.pushed_at is not a valid epoch/ISO timestamp"
    assert reasons[ids[3]] == f"commit {sha('x')} has an unparseable timestamp"
    assert reasons[ids[4]] == "merged pull request without merge_commit_sha"
    assert reasons[ids[5]] == "pull_request.created_at is not a valid timestamp"
    assert ids[6] not in reasons and len(reasons) == 6
    assert set(inputs.rejects["record"]) >= {"{truncated"}
    assert list(build_mainline(inputs)["sha"]) == [sha("ok")]


def test_head_branch_first_commit_respects_branch_reuse() -> None:
    early = commit("e", "2025-03-01T08:00:00Z")
    late = commit("l", "2025-03-04T08:00:00Z")
    rows = [
        ("push", push_body("api", "fix", "2025-03-01T09:00:00Z", [early])),
        (
            "pull_request",
            pr_body(
                "api", 1, "closed", head_ref="fix", merged_at="2025-03-02T10:00:00Z", merge_sha=sha("m1")
            ),
        ),
        ("push", push_body("api", "fix", "2025-03-04T09:00:00Z", [late])),
        (
            "pull_request",
            pr_body(
                "api", 2, "closed", head_ref="fix", merged_at="2025-03-05T10:00:00Z", merge_sha=sha("m2")
            ),
        ),
        ("push", push_body("api", "fix", "2025-03-06T09:00:00Z", [commit("after", "2025-03-01T00:00:00Z")])),
    ]
    inputs = parse_mainline_deliveries(bronze(rows))
    merged = merged_pull_requests(inputs.prs)
    firsts = head_branch_first_commits(inputs, merged, build_mainline(inputs, merged))
    assert firsts[(API, 1)] == pd.Timestamp("2025-03-01T08:00:00Z")
    assert firsts[(API, 2)] == pd.Timestamp("2025-03-04T08:00:00Z")


def test_pushed_at_epoch_is_used_for_order_not_commit_time() -> None:
    later_commit = push_body("api", "main", "2025-03-03T09:00:00Z", [commit("z", "2025-03-03T12:00:00Z")])
    earlier_commit = push_body("api", "main", "2025-03-03T10:00:00Z", [commit("y", "2025-03-03T01:00:00Z")])
    ml = mainline_from_deliveries(bronze([("push", earlier_commit), ("push", later_commit)]))
    assert list(ml["sha"]) == [sha("z"), sha("y")]
    assert ml["pushed_at"][0] == pd.Timestamp(epoch("2025-03-03T09:00:00Z"), unit="s", tz="UTC")


def test_memoised_main_line_follows_body_content_not_just_delivery_ids() -> None:
    body = push_body("api", "main", "2025-03-03T10:00:00Z", [commit("one", "2025-03-03T09:00:00Z")])
    frame = bronze([("push", body)])
    assert list(mainline_from_deliveries(frame)["sha"]) == [sha("one")]
    other = frame.assign(
        body=json.dumps(
            push_body("api", "main", "2025-03-03T10:00:00Z", [commit("two", "2025-03-03T09:00:00Z")])
        )
    )
    assert list(mainline_from_deliveries(other)["sha"]) == [sha("two")]
    assert list(mainline_from_deliveries(frame)["sha"]) == [sha("one")]
