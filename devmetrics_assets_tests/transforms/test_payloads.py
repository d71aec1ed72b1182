"""Payload helpers, plus the realistic GitHub body builders the other Silver tests import."""

from __future__ import annotations

import hashlib
import json
import warnings
from itertools import count
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.providers.github.anchors import event_anchor
from devmetrics_assets.transforms.payloads import (
    ShaIndex,
    conform,
    dig,
    fixed_issue_numbers,
    json_array_items,
    json_fields,
    parse_bodies,
    parse_ts,
    resolve_short_shas,
    root_cause_mentions,
    to_utc,
    utc_day,
)
from devmetrics_assets.transforms.quarantine import QUARANTINE_COLUMNS, quarantine_id, quarantine_rows

ORG = "acme"
_ids = count(1)


# ----------------------------------------------------------------------------- builders
def sha(label: str) -> str:
    """A deterministic 40-hex sha for a readable label."""
    return hashlib.sha1(label.encode()).hexdigest()


def epoch(iso: str) -> int:
    return int(pd.Timestamp(iso).timestamp())


def repository(name: str = "api", pushed_at: int | None = None) -> dict[str, Any]:
    repo = {
        "id": 1000 + len(name),
        "name": name,
        "full_name": f"{ORG}/{name}",
        "default_branch": "main",
        "owner": {"login": ORG},
    }
    if pushed_at is not None:
        repo["pushed_at"] = pushed_at
    return repo


def commit(label: str, ts: str, message: str | None = None, distinct: bool = True) -> dict[str, Any]:
    return {
        "id": sha(label),
        "message": message or f"work on {label}",
        "timestamp": ts,
        "author": {"name": "Dev", "email": "dev@acme.test"},
        "distinct": distinct,
    }


def push_body(
    repo: str, branch: str, pushed: str, commits: list[dict], before: str | None = None, deleted: bool = False
) -> dict[str, Any]:
    after = "0" * 40 if deleted else (commits[-1]["id"] if commits else sha(f"{branch}-{pushed}"))
    return {
        "ref": f"refs/heads/{branch}",
        "before": before or sha(f"before-{branch}-{pushed}"),
        "after": after,
        "created": False,
        "deleted": deleted,
        "forced": False,
        "commits": [] if deleted else commits,
        "head_commit": None if deleted or not commits else commits[-1],
        "repository": repository(repo, epoch(pushed)),
        "sender": {"login": "dev", "id": 7},
    }


def pr_body(
    repo: str,
    number: int,
    action: str,
    *,
    title: str = "Add feature",
    body: str = "",
    created: str = "2025-03-01T09:00:00Z",
    updated: str | None = None,
    merged_at: str | None = None,
    merge_sha: str | None = None,
    head_ref: str | None = None,
    base_ref: str = "main",
) -> dict[str, Any]:
    merged = merged_at is not None
    closed = action == "closed"
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "body": body,
            "state": "closed" if closed else "open",
            "created_at": created,
            "updated_at": updated or merged_at or created,
            "closed_at": (merged_at or updated) if closed else None,
            "merged_at": merged_at,
            "merged": merged,
            "merge_commit_sha": merge_sha,
            "head": {"ref": head_ref or f"feature-{number}", "sha": sha(f"head-{number}")},
            "base": {"ref": base_ref},
        },
        "repository": repository(repo),
        "sender": {"login": "dev", "id": 7},
    }


def deployment_obj(repo: str, dep_id: int, sha_: str, env: str, created: str) -> dict[str, Any]:
    return {
        "id": dep_id,
        "sha": sha_,
        "ref": "main",
        "environment": env,
        "created_at": created,
        "updated_at": created,
        "task": "deploy",
        "description": "",
    }


def deployment_body(repo: str, dep_id: int, sha_: str, env: str, created: str) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment": deployment_obj(repo, dep_id, sha_, env, created),
        "repository": repository(repo),
        "sender": {"login": "bot", "id": 9},
    }


def status_body(
    repo: str, dep_id: int, sha_: str, env: str, created: str, status_id: int, state: str, at: str
) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment_status": {
            "id": status_id,
            "state": state,
            "environment": env,
            "created_at": at,
            "updated_at": at,
        },
        "deployment": deployment_obj(repo, dep_id, sha_, env, created),
        "repository": repository(repo),
        "sender": {"login": "bot", "id": 9},
    }


def issue_obj(
    number: int,
    *,
    created: str,
    updated: str | None = None,
    closed: str | None = None,
    labels: tuple[str, ...] = ("incident",),
    body: str = "Service down",
    title: str = "Checkout errors",
) -> dict[str, Any]:
    return {
        "number": number,
        "title": title,
        "body": body,
        "state": "closed" if closed else "open",
        "labels": [{"name": x} for x in labels],
        "created_at": created,
        "updated_at": updated or closed or created,
        "closed_at": closed,
    }


def issue_body(repo: str, action: str, issue: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    body = {"action": action, "issue": issue, "repository": repository(repo), "sender": {"login": "sre"}}
    if label is not None:
        body["label"] = {"name": label}
    return body


def comment_body(
    repo: str, issue: dict[str, Any], comment_id: int, text: str, at: str, action: str = "created"
) -> dict[str, Any]:
    return {
        "action": action,
        "issue": issue,
        "comment": {"id": comment_id, "body": text, "created_at": at, "updated_at": at},
        "repository": repository(repo),
        "sender": {"login": "sre"},
    }


def bronze(
    rows: list[tuple[str, Any]],
    source: str = "sample_org",
    anchor: bool = True,
) -> pd.DataFrame:
    """Bronze rows from (event_type, body) pairs; body may be raw text. event_day follows contracts §3."""
    out = []
    for event_type, body in rows:
        text = body if isinstance(body, str) else json.dumps(body)
        at = event_anchor(event_type, body) if (anchor and isinstance(body, dict)) else None
        received = pd.Timestamp("2025-03-10T00:00:00Z") + pd.Timedelta(seconds=next(_ids))
        day = (at or received).tz_convert("UTC").tz_localize(None).floor("D")
        out.append(
            {
                "source": source,
                "provider": "github",
                "delivery_id": f"d-{next(_ids)}",
                "event_type": event_type,
                "received_at": received,
                "received_day": received.tz_localize(None).floor("D"),
                "event_at": at,
                "event_day": day,
                "headers": json.dumps({"X-GitHub-Event": event_type}),
                "body": text,
            }
        )
    frame = pd.DataFrame(out)
    frame["event_day"] = frame["event_day"].astype("datetime64[us]")
    frame["received_at"] = frame["received_at"].astype("datetime64[us, UTC]")
    return frame


def day(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def duckdb_round_trip(frame: pd.DataFrame, path: Path, day_column: str = "event_day") -> pd.DataFrame:
    """Write a frame to a real DuckDB file (day column as DATE, times as TIMESTAMPTZ) and read it back."""
    with duckdb.connect(str(path)) as con:
        con.register("frame", frame)
        con.execute(
            f"CREATE OR REPLACE TABLE t AS SELECT * REPLACE (CAST({day_column} AS DATE) AS {day_column}) "
            "FROM frame"
        )
        with warnings.catch_warnings():  # duckdb's own .df() still uses a deprecated pandas keyword
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            return con.execute("SELECT * FROM t").df()


# ----------------------------------------------------------------------------- tests
def test_parse_bodies_reports_invalid_json_and_non_objects() -> None:
    parsed, errors = parse_bodies(['{"a": 1}', "{not json", "[1, 2]", None])
    assert parsed[0] == {"a": 1} and errors[0] is None
    assert parsed[1] is None and errors[1].startswith("body is not valid JSON")
    assert errors[2] == "body is JSON list, expected an object"
    assert errors[3] == "body is missing"


def test_dig_stops_on_missing_or_non_mapping() -> None:
    body = {"repository": {"full_name": "acme/api", "owner": None}}
    assert dig(body, "repository", "full_name") == "acme/api"
    assert dig(body, "repository", "owner", "login") is None
    assert dig(body, "repository", "full_name", "x", default="?") == "?"


def test_to_utc_parses_iso_offsets_epochs_and_flags_bad_values() -> None:
    ts, bad = to_utc(["2025-03-04T10:15:02+02:00", 1741083302, "1741083302", None, "yesterday", True])
    assert str(ts.dtype) == "datetime64[us, UTC]"
    assert ts[0] == pd.Timestamp("2025-03-04T08:15:02Z")
    assert ts[1] == pd.Timestamp("2025-03-04T10:15:02Z") == ts[2]
    assert pd.isna(ts[3]) and not bad[3]
    assert pd.isna(ts[4]) and bad[4]
    assert bad[5]
    assert parse_ts("2025-03-04T10:15:02.123456Z") == pd.Timestamp("2025-03-04T10:15:02.123456Z")
    assert parse_ts(1741083302000) == pd.Timestamp("2025-03-04T10:15:02Z")  # milliseconds tolerated


def test_event_anchor_follows_contract_table() -> None:
    push = push_body("api", "main", "2025-03-04T23:59:59Z", [commit("a", "2025-03-04T20:00:00+05:00")])
    assert event_anchor("push", push) == pd.Timestamp("2025-03-04T23:59:59Z")
    merged = pr_body("api", 1, "closed", merged_at="2025-03-05T01:00:00Z", updated="2025-03-06T00:00:00Z")
    assert event_anchor("pull_request", merged) == pd.Timestamp("2025-03-05T01:00:00Z")
    opened = pr_body("api", 2, "opened", created="2025-03-02T08:00:00Z")
    assert event_anchor("pull_request", opened) == pd.Timestamp("2025-03-02T08:00:00Z")
    status = status_body(
        "api", 5, sha("x"), "production", "2025-03-03T10:00:00Z", 9, "success", "2025-03-04T10:00:00Z"
    )
    assert event_anchor("deployment_status", status) == pd.Timestamp("2025-03-03T10:00:00Z")
    issue = issue_obj(3, created="2025-03-01T00:00:01Z", updated="2025-03-09T00:00:00Z")
    assert event_anchor("issue_comment", comment_body("api", issue, 1, "hi", "2025-03-09T00:00:00Z")) == (
        pd.Timestamp("2025-03-01T00:00:01Z")
    )
    assert event_anchor("star", {"action": "created"}) is None
    assert event_anchor("push", {"repository": {"pushed_at": "garbage"}}) is None


def test_root_cause_last_mention_and_spelling_variants() -> None:
    text = "Root Cause: ABCDEF1\nlater... root cause :  1234567890abcdef\nrootcause:cafe"
    assert root_cause_mentions(text) == ["ABCDEF1", "1234567890abcdef"]
    assert root_cause_mentions("root cause: 123456") == []  # fewer than 7 hex
    assert root_cause_mentions("root cause: abcdef1234xyz") == []  # not a sha
    assert root_cause_mentions(None) == []


def test_fixed_issue_numbers_keywords_same_repo_only() -> None:
    assert fixed_issue_numbers("Hotfix: Fixes #12", "also closes #3 and resolves #12") == [3, 12]
    assert fixed_issue_numbers("fixed #4; Close #5") == [4, 5]
    assert fixed_issue_numbers("see #9", "fixes other/repo#10", "prefixes #11") == []


def test_short_sha_resolution_requires_unique_prefix_in_same_repo() -> None:
    mainline = pd.DataFrame(
        {
            "repo": ["acme/api", "acme/api", "acme/web"],
            "sha": ["abcdef1111" + "0" * 30, "abcdef1222" + "0" * 30, "fedcba9" + "1" * 33],
        }
    )
    out = resolve_short_shas(
        ["acme/api", "acme/api", "acme/api", "acme/web"],
        ["abcdef1", "abcdef12", "fedcba9", "FEDCBA9"],
        mainline,
    )
    # ambiguous prefix and other-repo prefix stay raw; unique prefixes resolve (case-insensitive)
    assert out == ["abcdef1", "abcdef1222" + "0" * 30, "fedcba9", "fedcba9" + "1" * 33]
    assert ShaIndex([], []).resolve("acme/api", "abcdef1") is None


def test_conform_and_utc_day_dtypes() -> None:
    ts, _ = to_utc(["2025-03-04T23:30:00-02:00"])
    assert utc_day(ts)[0] == pd.Timestamp("2025-03-05") and str(utc_day(ts).dtype) == "datetime64[us]"
    out = conform(pd.DataFrame({"a": [None, "x"]}), {"a": "str", "b": "Int64"})
    assert list(out.columns) == ["a", "b"] and out["a"].isna()[0] and out["b"].isna().all()


def test_quarantine_rows_ids_are_stable_and_deduplicated() -> None:
    rejects = pd.DataFrame(
        {
            "source": ["s", "s"],
            "record_ref": ["d1", "d1"],
            "partition_day": [pd.Timestamp("2025-03-01")] * 2,
            "reason": ["bad", "bad"],
            "record": ["{", "{"],
        }
    )
    now = pd.Timestamp("2025-03-02T00:00:00Z")
    q = quarantine_rows("silver", "silver_changes", rejects, now=now)
    assert list(q.columns) == QUARANTINE_COLUMNS and len(q) == 1
    expected = hashlib.sha256(b"silver|silver_changes|s|d1|bad").hexdigest()
    assert q["quarantine_id"][0] == expected == quarantine_id("silver", "silver_changes", "s", "d1", "bad")
    assert q["first_seen_at"][0] == now and str(q["first_seen_at"].dtype) == "datetime64[us, UTC]"
    assert str(q["partition_day"].dtype) == "datetime64[us]"
    empty = quarantine_rows("silver", "x", rejects.iloc[:0])
    assert empty.empty and list(empty.columns) == QUARANTINE_COLUMNS


@pytest.mark.parametrize("event_type", ["push", "pull_request", "issues"])
def test_bronze_builder_anchors_event_day(event_type: str) -> None:
    body = {
        "push": push_body("api", "main", "2025-03-04T10:00:00Z", [commit("z", "2025-03-04T09:00:00Z")]),
        "pull_request": pr_body("api", 1, "opened", created="2025-03-04T10:00:00Z"),
        "issues": issue_body("api", "opened", issue_obj(1, created="2025-03-04T10:00:00Z")),
    }[event_type]
    frame = bronze([(event_type, body)])
    assert frame["event_day"][0] == day("2025-03-04")


def test_json_fields_extracts_paths_and_reports_unusable_bodies() -> None:
    bodies = pd.Series(
        [
            json.dumps(
                {
                    "repository": {"full_name": "acme/api", "pushed_at": 1741083302},
                    "deleted": False,
                    "commits": [{"id": "a" * 40, "timestamp": "2025-03-04T10:00:00+01:00"}, {"message": "x"}],
                }
            ),
            '{"repository": ',
            "[1, 2]",
            None,
            json.dumps({"repository": None, "commits": "nope"}),
        ]
    )
    f = json_fields(
        bodies,
        {"repo": "$.repository.full_name", "pushed": "$.repository.pushed_at", "deleted": "$.deleted"},
        {"commits_type": "$.commits"},
    )
    assert list(f["_error"].fillna("ok")) == [
        "ok",
        "body is not valid JSON",
        "body is JSON array, expected an object",
        "body is missing",
        "ok",
    ]
    assert (f["repo"][0], f["pushed"][0], f["deleted"][0], f["commits_type"][0]) == (
        "acme/api",
        "1741083302",
        "false",
        "ARRAY",
    )
    assert pd.isna(f["repo"][4]) and f["commits_type"][4] == "VARCHAR"
    items = json_array_items(bodies, np.array([0]), "$.commits", {"sha": "$.id", "ts": "$.timestamp"})
    assert list(items["pos"]) == [0, 1] and items["sha"][0] == "a" * 40 and pd.isna(items["sha"][1])
    assert json_fields(bodies.iloc[:0], {"repo": "$.repository.full_name"}).empty


def test_quarantine_rows_is_idempotent_on_its_own_output() -> None:
    """The Silver wiring passes the builders' quarantine frames through quarantine_rows again."""
    rejects = pd.DataFrame(
        {
            "source": ["s"],
            "record_ref": ["d9"],
            "partition_day": [pd.Timestamp("2025-03-01")],
            "reason": ["bad"],
            "record": ["{"],
        }
    )
    once = quarantine_rows("silver", "silver_incidents", rejects)
    twice = quarantine_rows("silver", "silver_incidents", once)
    cols = ["quarantine_id", "source", "record_ref", "partition_day", "reason", "record"]
    assert twice[cols].equals(once[cols])
