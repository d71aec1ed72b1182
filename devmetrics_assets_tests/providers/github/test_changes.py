"""silver_changes from hand-built Bronze rows: PR and direct changes, windowing, quarantine, schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.checks.silver_schemas import SilverChangesSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.changes import build_silver_changes
from devmetrics_assets.transforms.silver_contract import CHANGES_COLUMNS
from devmetrics_assets_tests.providers.github.test_mainline import API, story
from devmetrics_assets_tests.transforms.test_payloads import (
    bronze,
    commit,
    duckdb_round_trip,
    pr_body,
    push_body,
    sha,
)

RULES = DoraRules()
D3, D4 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04")


def changes_of(frame: pd.DataFrame, start: pd.Timestamp = D3, end: pd.Timestamp = D4) -> pd.DataFrame:
    changes, quarantine = build_silver_changes(frame, RULES, start, end)
    SilverChangesSchema.validate(changes)
    return changes.set_index("change_id")


def test_story_changes_columns_and_values() -> None:
    # Issue 7 is an incident; 8 is an ordinary issue (closing only it would not make a hotfix).
    changes, quarantine = build_silver_changes(story(), RULES, D3, D4, {(API, 7)})
    assert list(changes.columns) == CHANGES_COLUMNS
    assert quarantine.empty
    SilverChangesSchema.validate(changes)
    c = changes.set_index("change_id")
    assert set(c.index) == {f"{API}#1", f"{API}#2", f"{API}#3", f"{API}@{sha('d1')}", f"{API}@{sha('d2')}"}

    pr1 = c.loc[f"{API}#1"]
    assert (pr1["kind"], pr1["pr_number"], pr1["merge_method"]) == ("pull_request", 1, "merge")
    assert pr1["head_sha"] == sha("m1")
    assert pr1["commit_shas"] == ",".join(sha(x) for x in ("f1a", "f1b", "m1"))
    assert pr1["first_commit_at"] == pd.Timestamp("2025-03-03T07:00:00Z")  # head-branch commit, +01:00
    assert pr1["landed_at"] == pd.Timestamp("2025-03-03T10:00:00Z")
    assert pr1["mainline_pushed_at"] == pd.Timestamp("2025-03-03T10:00:05Z")
    assert pr1["mainline_pos"] == 2
    assert (pr1["fixes_issues"], pr1["is_hotfix"]) == ("", False)

    pr2 = c.loc[f"{API}#2"]
    assert (pr2["merge_method"], pr2["commit_shas"], pr2["mainline_pos"]) == ("squash", sha("s2"), 0)
    assert (pr2["fixes_issues"], pr2["is_hotfix"]) == ("7,8", True)
    assert pr2["first_commit_at"] == pd.Timestamp("2025-03-03T11:30:00Z")

    pr3 = c.loc[f"{API}#3"]
    assert (pr3["merge_method"], pr3["head_sha"], pr3["mainline_pos"]) == ("rebase", sha("r_b2"), 1)
    assert pr3["first_commit_at"] == pd.Timestamp("2025-03-03T13:10:00Z")

    d2 = c.loc[f"{API}@{sha('d2')}"]
    assert (d2["kind"], d2["merge_method"], d2["head_sha"], d2["commit_shas"]) == (
        "commit",
        "direct",
        sha("d2"),
        sha("d2"),
    )
    assert pd.isna(d2["pr_number"]) and d2["mainline_pos"] == 1
    assert d2["first_commit_at"] == pd.Timestamp("2025-03-03T10:58:00Z")
    assert d2["landed_at"] == d2["mainline_pushed_at"] == pd.Timestamp("2025-03-03T11:00:00Z")
    assert (d2["fixes_issues"], d2["is_hotfix"]) == ("7", True)  # closing keyword in the commit message

    assert (changes["event_day"] == D3).all()
    plain = build_silver_changes(story(), RULES, D3, D4, {(API, 8), ("acme/web", 7)})[0].set_index(
        "change_id"
    )
    assert bool(plain.loc[f"{API}#2", "is_hotfix"]) and not bool(plain.loc[f"{API}@{sha('d2')}", "is_hotfix"])
    assert str(changes["event_day"].dtype) == "datetime64[us]"
    assert str(changes["landed_at"].dtype) == "datetime64[us, UTC]"
    assert str(changes["pr_number"].dtype) == "Int64" and str(changes["mainline_pos"].dtype) == "Int64"


def test_window_keeps_history_out_of_the_output() -> None:
    assert build_silver_changes(story(), RULES, D4, D4 + pd.Timedelta(days=1))[0].empty
    assert len(build_silver_changes(story(), RULES, pd.Timestamp("2025-03-01"), D4)[0]) == 5


def test_first_commit_falls_back_to_pr_created_at_and_unmerged_prs_make_no_change() -> None:
    squash = commit("sq", "2025-03-03T12:00:00Z", "Quick (#9)")
    rows = [
        (
            "pull_request",
            pr_body(
                "api",
                9,
                "closed",
                title="Quick",
                created="2025-03-02T22:00:00Z",
                merged_at="2025-03-03T12:00:00Z",
                merge_sha=squash["id"],
            ),
        ),
        ("push", push_body("api", "main", "2025-03-03T12:00:01Z", [squash])),
        ("pull_request", pr_body("api", 10, "closed", updated="2025-03-03T12:30:00Z")),
        ("pull_request", pr_body("api", 11, "opened", created="2025-03-03T12:40:00Z")),
        (
            "pull_request",
            pr_body(
                "api",
                12,
                "closed",
                merged_at="2025-03-03T13:00:00Z",
                merge_sha=sha("rel"),
                base_ref="release",
            ),
        ),
    ]
    c = changes_of(bronze(rows))
    assert list(c.index) == [f"{API}#9"]
    assert c.loc[f"{API}#9", "first_commit_at"] == pd.Timestamp("2025-03-02T22:00:00Z")


def test_merged_pr_whose_merge_never_reached_the_main_line_is_kept_as_unknown() -> None:
    rows = [
        ("pull_request", pr_body("api", 7, "closed", merged_at="2025-03-03T12:00:00Z", merge_sha=sha("gone")))
    ]
    c = changes_of(bronze(rows))
    row = c.loc[f"{API}#7"]
    assert (row["merge_method"], row["head_sha"], row["commit_shas"]) == ("unknown", sha("gone"), "")
    assert pd.isna(row["mainline_pushed_at"]) and pd.isna(row["mainline_pos"])


def test_duplicate_pr_deliveries_and_repos_with_same_pr_number() -> None:
    merged = pr_body("api", 1, "closed", merged_at="2025-03-03T12:00:00Z", merge_sha=sha("a1"))
    edited = pr_body(
        "api",
        1,
        "edited",
        body="fixes #3",
        merged_at="2025-03-03T12:00:00Z",
        updated="2025-03-03T12:05:00Z",
        merge_sha=sha("a1"),
    )
    web = pr_body("web", 1, "closed", merged_at="2025-03-03T12:00:00Z", merge_sha=sha("w1"))
    rows = [
        ("pull_request", merged),
        ("pull_request", merged),
        ("pull_request", edited),
        ("pull_request", web),
        ("push", push_body("api", "main", "2025-03-03T12:00:01Z", [commit("a1", "2025-03-03T11:00:00Z")])),
        ("push", push_body("web", "main", "2025-03-03T12:00:01Z", [commit("w1", "2025-03-03T11:00:00Z")])),
    ]
    c = changes_of(bronze(rows))
    assert sorted(c.index) == [f"{API}#1", "acme/web#1"]
    assert c.loc[f"{API}#1", "fixes_issues"] == "3"  # latest merged state (an edit after merge) wins


def test_bad_deliveries_are_quarantined_only_in_their_window() -> None:
    frame = bronze([("push", "{oops"), ("pull_request", {"action": "opened", "pull_request": {"number": 3}})])
    frame.loc[0, "event_day"] = D3
    frame.loc[1, "event_day"] = pd.Timestamp("2025-03-01")
    changes, quarantine = build_silver_changes(frame, RULES, D3, D4)
    assert changes.empty and list(changes.columns) == CHANGES_COLUMNS
    assert len(quarantine) == 1
    q = quarantine.iloc[0]
    assert (q["layer"], q["asset"], q["record_ref"], q["record"]) == (
        "silver",
        "silver_changes",
        frame["delivery_id"][0],
        "{oops",
    )
    assert q["partition_day"] == D3 and q["reason"].startswith("body is not valid JSON")
    older = build_silver_changes(frame, RULES, pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-02"))[1]
    assert list(older["reason"]) == ["repository.full_name missing"]


@pytest.mark.parametrize("bad_field", ["kind", "event_day"])
def test_schema_rejects_broken_rows(bad_field: str) -> None:
    changes, _ = build_silver_changes(story(), RULES, D3, D4)
    broken = changes.copy()
    if bad_field == "kind":
        broken.loc[0, "kind"] = "tag"
    else:
        broken["event_day"] = broken["event_day"] + pd.Timedelta(days=1)
    with pytest.raises(Exception, match="kind|event_day"):
        SilverChangesSchema.validate(broken, lazy=True)


def test_round_trip_through_a_duckdb_file_keeps_the_schema(tmp_path: Path) -> None:
    changes, _ = build_silver_changes(story(), RULES, D3, D4)
    back = duckdb_round_trip(changes, tmp_path / "silver.duckdb")
    validated = SilverChangesSchema.validate(back)
    assert str(validated["landed_at"].dtype) == "datetime64[us, UTC]" and len(validated) == 5
    assert str(validated["mainline_pos"].dtype) == "Int64"
