"""GitLab Push Hook + Merge Request Hook bodies → the main line in mainline.py's shapes (contracts §4, §6).

GitLab's pushes and merge requests are parsed into `mainline.MainlineInputs`, then GitHub's own main-line
rules (mainline.build_mainline, merged_pull_requests, head_branch_first_commits) run on them; only what
GitLab says differently is here:
- Main line: pushes to `refs/heads/<project.default_branch>`, commits in payload order (oldest first).
  A Push Hook has no push time, so a push's time is the earlier of its head commit's timestamp and its
  received time (a late delivery does not move it), raised to its predecessor's time when its `before` is
  another push's `after`; ties follow the chain (mainline._push_order). A direct commit's landed_at is
  that push time. Pushes dedupe on (repo, ref, before, after), earliest received kept.
  GitLab lists at most 20 commits per push (`total_commits_count` has the real number): older commits of a
  bigger push are not on the main line and are shipped by no deployment.
- Merge requests: `object_attributes.state == "merged"` or `action == "merge"` into the default branch.
  number = iid. The commit that represents the MR on the main line is `merge_commit_sha`, else
  `squash_commit_sha`, else `last_commit.id` (fast-forward). Merge method from the payload: `squash`
  (flag or squash sha) → squash; a merge commit → merge; otherwise rebase (fast-forward), replacing
  GitHub's message-based guess. merged_at = `merged_at` when present, else `updated_at` of the merge event.
- `load_mainline` memoises the latest result on the same content hash as GitHub's
  (mainline_model.fingerprint),
  because all three Silver builders need the same main line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.transforms.mainline_model import (
    MainlineInputs,
    build_mainline,
    fingerprint,
    merged_pull_requests,
)
from devmetrics_assets.transforms.normalised import parse_times, received
from devmetrics_assets.transforms.payloads import (
    UTC_DTYPE,
    ZERO_SHA,
    blank_to_none,
    first_reason,
    json_array_items,
    json_fields,
    to_int,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects

PUSH, MR = "Push Hook", "Merge Request Hook"
MAINLINE_EVENTS = (PUSH, MR)
PATHS = {
    "repo": "$.project.path_with_namespace",
    "default_branch": "$.project.default_branch",
    "ref": "$.ref",
    "before": "$.before",
    "after": "$.after",
    "number_raw": "$.object_attributes.iid",
    "action": "$.object_attributes.action",
    "state": "$.object_attributes.state",
    "title": "$.object_attributes.title",
    "body": "$.object_attributes.description",
    "gl_merge_sha": "$.object_attributes.merge_commit_sha",
    "squash_sha": "$.object_attributes.squash_commit_sha",
    "squash": "$.object_attributes.squash",
    "last_commit": "$.object_attributes.last_commit.id",
    "head_ref": "$.object_attributes.source_branch",
    "base_ref": "$.object_attributes.target_branch",
    "created_raw": "$.object_attributes.created_at",
    "updated_raw": "$.object_attributes.updated_at",
    "merged_raw": "$.object_attributes.merged_at",
}
TYPE_PATHS = {"commits_type": "$.commits", "attrs_type": "$.object_attributes"}
_TEXT_FIELDS = (
    "repo",
    "default_branch",
    "ref",
    "after",
    "before",
    "gl_merge_sha",
    "squash_sha",
    "last_commit",
    "head_ref",
    "base_ref",
)
_MR_TIMES = (("created_raw", "created_at"), ("updated_raw", "updated_at"), ("merged_raw", "merged_at"))
_MR_COLUMNS = [
    "row",
    "repo",
    "default_branch",
    "number",
    "action",
    "title",
    "body",
    "merged",
    "merge_commit_sha",
    "head_ref",
    "base_ref",
    "created_at",
    "updated_at",
    "merged_at",
    "received_at",
    "gl_merge_sha",
    "squash_sha",
    "squash",
]


def _chain_times(pushes: pd.DataFrame) -> pd.Series:
    """Per push: max(its base time, the chain predecessor's time), so chained pushes keep their order."""
    key = list(zip(pushes["repo"], pushes["ref"], strict=True))
    by_after = {(k[0], k[1], a): i for i, (k, a) in enumerate(zip(key, pushes["after"], strict=True))}
    before = pushes["before"].tolist()
    got = pushes["base_at"].tolist()
    eff: dict[int, Any] = {}
    for start in range(len(pushes)):
        stack = [start]
        while stack:
            cur = stack[-1]
            pred = by_after.get((key[cur][0], key[cur][1], before[cur]))
            if pred is not None and pred not in eff and pred not in stack:
                stack.append(pred)
                continue
            stack.pop()
            base = got[cur]
            if pred is not None and pred in eff and eff[pred] > base:
                base = eff[pred]
            eff[cur] = base
    return pd.Series([eff[i] for i in range(len(pushes))], index=pushes.index, dtype=UTC_DTYPE)


def _merge_times(f: pd.DataFrame, is_mr: np.ndarray) -> pd.Series:
    """Merge time of MRs whose payload has no merged_at: updated_at of the `merge` event, else the earliest
    updated_at of a merged state (a later edit of a merged MR must not move its merge time)."""
    merged = f[is_mr & f["merged"].to_numpy() & f["number"].notna().to_numpy()]
    by_action = merged[merged["action"] == "merge"].groupby(["repo", "number"])["updated_at"].min()
    by_state = merged.groupby(["repo", "number"])["updated_at"].min()
    best = by_action.reindex(by_state.index).fillna(by_state)
    keys = pd.MultiIndex.from_frame(f[["repo", "number"]])
    out = pd.Series(best.reindex(keys).to_numpy(), index=f.index).astype(UTC_DTYPE)
    return out.where(f["merged"] & pd.Series(is_mr, index=f.index))


def _fields(frame: pd.DataFrame, is_mr: np.ndarray) -> pd.DataFrame:
    """Every field of every row (one DuckDB JSON pass), with MR numbers, times and representing sha."""
    f = json_fields(frame["body"], PATHS, TYPE_PATHS)
    for col in _TEXT_FIELDS:
        f[col] = blank_to_none(f[col])
    f["number"] = to_int(f["number_raw"])
    for raw, col in _MR_TIMES:
        f[col], f[f"{col}_bad"] = parse_times(f[raw])
    f["merged"] = (f["state"] == "merged") | (f["action"] == "merge")
    f["merged_at"] = f["merged_at"].fillna(_merge_times(f, is_mr))
    f["merge_commit_sha"] = f["gl_merge_sha"].fillna(f["squash_sha"]).fillna(f["last_commit"])
    return f


def _push_commits(frame: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """(commits of the given push rows, per row the reason of its first unusable commit or None)."""
    commits = json_array_items(
        frame["body"],
        rows,
        "$.commits",
        {"sha": "$.id", "ts_raw": "$.timestamp", "message": "$.message"},
    )
    commits["sha"] = blank_to_none(commits["sha"]).str.strip().str.lower()
    commits["commit_at"], bad_ts = parse_times(commits["ts_raw"])
    why = first_reason(
        [
            (commits["sha"].isna(), "commit without id"),
            (commits["ts_raw"].isna(), "commit " + commits["sha"].astype("str") + " has no timestamp"),
            (bad_ts, "commit " + commits["sha"].astype("str") + " has an unparseable timestamp"),
        ],
        len(commits),
    )
    why.index = commits.index
    commit_why = commits.assign(_w=why).dropna(subset=["_w"]).drop_duplicates("row").set_index("row")["_w"]
    return commits, commit_why.reindex(range(len(frame))).to_numpy(dtype=object)


def _reasons(
    f: pd.DataFrame, is_push: np.ndarray, is_mr: np.ndarray, relevant_push: np.ndarray, commit_why: np.ndarray
) -> pd.Series:
    """Why each row is unusable (None = usable): the first failing check wins."""

    def has(col: str) -> np.ndarray:
        return f[col].notna().to_numpy()

    merged_mr = is_mr & f["merged"].to_numpy()
    return first_reason(
        [
            (f["_error"].notna().to_numpy(), f["_error"]),
            (~has("repo"), "project.path_with_namespace missing"),
            (is_push & ~has("ref"), "push without ref"),
            (relevant_push & (f["commits_type"] != "ARRAY").to_numpy(), "push.commits is not a list"),
            (relevant_push & ~has("default_branch"), "project.default_branch missing"),
            (relevant_push & pd.notna(commit_why), pd.Series(commit_why)),
            (is_mr & (f["attrs_type"] != "OBJECT").to_numpy(), "object_attributes missing"),
            (is_mr & f["number"].isna().to_numpy(), "object_attributes.iid missing"),
            *[
                (is_mr & f[f"{c}_bad"], f"object_attributes.{c} is not a valid timestamp")
                for _, c in _MR_TIMES
            ],
            (merged_mr & ~has("merged_at"), "merged merge request without merged_at/updated_at"),
            (
                merged_mr & ~has("merge_commit_sha"),
                "merged merge request without merge/squash/last commit sha",
            ),
            (
                merged_mr & ~(has("base_ref") & has("default_branch")),
                "merged merge request without target branch",
            ),
        ],
        len(f),
    )


def _pushes(f: pd.DataFrame, keep: np.ndarray, commits: pd.DataFrame) -> pd.DataFrame:
    """Kept branch pushes (deduplicated) with their push time, in mainline.MainlineInputs' shape."""
    pushes = f.loc[keep, ["row", "repo", "ref", "default_branch", "before", "after", "received_at"]]
    pushes = pushes.sort_values(["received_at", "row"], kind="stable")
    pushes = pushes.drop_duplicates(["repo", "ref", "before", "after"], keep="first").reset_index(drop=True)
    # Base time of a push: its head commit's timestamp, or the received time when that is earlier (a
    # late delivery must not move the landing time; a commit clock ahead of the push must not either).
    head_at = commits.sort_values("pos").groupby("row")["commit_at"].last()
    head_at = pd.Series(head_at.reindex(pushes["row"]).to_numpy(), index=pushes.index).astype(UTC_DTYPE)
    pushes = pushes.assign(base_at=head_at.where(head_at < pushes["received_at"], pushes["received_at"]))
    pushes = pushes.assign(branch=pushes["ref"].str.slice(len("refs/heads/")), pushed_at=_chain_times(pushes))
    return pushes.drop(columns="base_at").rename(columns={"row": "push_key"})


def _merge_requests(f: pd.DataFrame, keep: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(MR deliveries in mainline.MainlineInputs' `prs` shape, merge method each payload states)."""
    prs = f.loc[keep, _MR_COLUMNS]
    prs = prs.assign(
        number=prs["number"].astype("int64"),
        action=prs["action"].fillna(""),
        title=prs["title"].fillna(""),
        body=prs["body"].fillna(""),
        closed_at=pd.NaT,
        merge_commit_sha=prs["merge_commit_sha"].str.strip().str.lower(),
    )
    prs = prs.sort_values(["received_at", "row"], kind="stable")
    prs = prs.drop_duplicates(["repo", "number", "action", "updated_at", "merged_at"]).reset_index(drop=True)
    method = np.where(
        (prs["squash"] == "true") | prs["squash_sha"].notna(),
        "squash",
        np.where(prs["gl_merge_sha"].notna(), "merge", "rebase"),
    )
    methods = prs.assign(merge_method=method)[["repo", "number", "merge_method", "updated_at", "merged"]]
    return prs, methods


def parse_mainline(deliveries: pd.DataFrame) -> tuple[MainlineInputs, pd.DataFrame]:
    """(main-line inputs in mainline.py's shapes, MR merge facts) from Push Hook + Merge Request Hook rows."""
    frame = deliveries.reset_index(drop=True)
    etype = frame["event_type"].to_numpy()
    is_push, is_mr = etype == PUSH, etype == MR
    f = _fields(frame, is_mr)
    relevant_push = (
        is_push
        & f["_error"].isna().to_numpy()
        & f["ref"].str.startswith("refs/heads/").fillna(False).to_numpy()
        & (f["after"] != ZERO_SHA).to_numpy()
    )
    commits, commit_why = _push_commits(
        frame, np.flatnonzero(relevant_push & (f["commits_type"] == "ARRAY").to_numpy())
    )
    reasons = _reasons(f, is_push, is_mr, relevant_push, commit_why)
    usable = reasons.isna().to_numpy()
    f["row"] = np.arange(len(frame))
    f["received_at"] = received(frame)
    pushes = _pushes(f, relevant_push & usable, commits)
    deleting = (
        is_push
        & f["_error"].isna().to_numpy()
        & f["repo"].notna().to_numpy()
        & f["ref"].str.startswith("refs/heads/").fillna(False).to_numpy()
        & (f["after"] == ZERO_SHA).to_numpy()
    )
    # A deletion push carries no commit: its time is when it was received.
    deletions = f.loc[deleting, ["repo", "ref", "received_at"]]
    deletions = deletions.assign(branch=deletions["ref"].str.slice(len("refs/heads/")))
    deletions = deletions.rename(columns={"received_at": "pushed_at"})[["repo", "branch", "pushed_at"]]
    commits = commits[commits["row"].isin(pushes["push_key"])].rename(columns={"row": "push_key"})
    commits = commits.assign(message=commits["message"].fillna(""))[
        ["push_key", "pos", "sha", "commit_at", "message"]
    ].reset_index(drop=True)
    prs, methods = _merge_requests(f, is_mr & usable)
    inputs = MainlineInputs(pushes, commits, prs, bronze_rejects(frame, reasons), deletions.drop_duplicates())
    return inputs, methods


def _with_methods(mainline: pd.DataFrame, methods: pd.DataFrame) -> pd.DataFrame:
    """Replace GitHub's message-based merge method with the one the MR payload states."""
    latest = methods[methods["merged"]].sort_values("updated_at", kind="stable", na_position="first")
    latest = latest.drop_duplicates(["repo", "number"], keep="last")
    by_change = pd.Series(
        latest["merge_method"].to_numpy(),
        index=(latest["repo"] + "#" + latest["number"].astype("str")).to_numpy(),
    )
    pr = mainline["pr_number"].notna()
    out = mainline.copy()
    out.loc[pr, "merge_method"] = by_change.reindex(out.loc[pr, "change_id"]).fillna("rebase").to_numpy()
    return out


_MEMO: dict[tuple[int, int], tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]] = {}


def load_mainline(deliveries: pd.DataFrame) -> tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]:
    """(inputs, merged MRs, main line with payload merge methods) of GitLab rows; memoised, read-only."""
    key = fingerprint(deliveries)
    if key not in _MEMO:
        inputs, methods = parse_mainline(deliveries)
        merged = merged_pull_requests(inputs.prs)
        mainline = _with_methods(build_mainline(inputs, merged), methods)
        _MEMO.clear()
        _MEMO[key] = (inputs, merged, mainline)
    return _MEMO[key]
