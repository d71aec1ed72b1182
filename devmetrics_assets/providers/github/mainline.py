"""GitHub's main line: push and pull_request deliveries parsed into the main-line model (mainline_model.py).

Rules (contracts §2, §5):
- Only `refs/heads/<repository.default_branch>` pushes build the main line; branch deletions
  (`deleted: true` / `after` = 40 zeros) and tag pushes are ignored. Pushes to other branches are kept
  only to find a PR's first commit (branches.py); branch deletions are kept for the same reason.
- Order: (repository.pushed_at, position in the push). Pushes of one repo with the same pushed_at
  second are ordered along their before→after chain, then by received_at.
- The same push or commit may arrive twice (two sources, redeliveries): pushes dedupe on
  (repo, ref, before, after, pushed_at), commits on (repo, sha) keeping the first main-line position.
- Change mapping: the push carrying a merged PR's `merge_commit_sha` brings that PR; its commits up to
  and including the merge sha belong to the PR (several PR heads in one push split it in segments).
  Every other main-line commit is a direct change `<repo>@<sha>`.
- Merge method: head message `Merge pull request #N...` → merge; a one-commit segment whose message
  ends with `(#N)` → squash; otherwise rebase. Direct commits → direct.
- Unusable deliveries (bad JSON, no repository.full_name, bad pushed_at / commit timestamps, merged PR
  without merge_commit_sha...) become rejects with a specific reason; tag pushes and branch deletions
  are irrelevant, not rejected. `load_mainline` memoises the latest results on a content hash, because
  all three Silver builders need the same main line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.transforms import memos
from devmetrics_assets.transforms.mainline_model import (
    MainlineInputs,
    build_mainline,
    fingerprint,
    merged_pull_requests,
    received,
)
from devmetrics_assets.transforms.payloads import (
    ZERO_SHA,
    blank_to_none,
    first_reason,
    json_array_items,
    json_fields,
    to_int,
    to_utc,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects

PR_TIME_FIELDS = ("created_at", "updated_at", "closed_at", "merged_at")


PATHS = {
    "repo": "$.repository.full_name",
    "default_branch": "$.repository.default_branch",
    "pushed_raw": "$.repository.pushed_at",
    "ref": "$.ref",
    "before": "$.before",
    "after": "$.after",
    "deleted": "$.deleted",
    "action": "$.action",
    "top_number": "$.number",
    "number_raw": "$.pull_request.number",
    "title": "$.pull_request.title",
    "body": "$.pull_request.body",
    "merged_flag": "$.pull_request.merged",
    "merge_commit_sha": "$.pull_request.merge_commit_sha",
    "head_ref": "$.pull_request.head.ref",
    "base_ref": "$.pull_request.base.ref",
    **{f: f"$.pull_request.{f}" for f in PR_TIME_FIELDS},
}
TYPE_PATHS = {"commits_type": "$.commits", "pr_type": "$.pull_request"}


def _commit_reasons(commits: pd.DataFrame) -> pd.Series:
    """Per push row, the reason of its first unusable commit (missing id / missing or bad timestamp)."""
    commits["commit_at"], bad = to_utc(commits["ts_raw"])
    sha = commits["sha"]
    why = first_reason(
        [
            (sha.isna(), "commit at position " + commits["pos"].astype("str") + " has no id"),
            (commits["ts_raw"].isna(), "commit " + sha.astype("str") + " has no timestamp"),
            (bad, "commit " + sha.astype("str") + " has an unparseable timestamp"),
        ],
        len(commits),
    )
    why.index = commits.index
    flagged = commits.assign(_why=why).dropna(subset=["_why"])
    return flagged.drop_duplicates("row").set_index("row")["_why"]


def parse_mainline_deliveries(deliveries: pd.DataFrame) -> MainlineInputs:
    """Read push and pull_request Bronze rows once; everything unusable becomes a reject with a reason.

    Fields come from one DuckDB JSON pass (see payloads.json_fields); validation is vectorised.
    """
    frame = deliveries.reset_index(drop=True)
    f = json_fields(frame["body"], PATHS, TYPE_PATHS)
    n = len(frame)
    etype = frame["event_type"].to_numpy()
    is_push, is_pr = etype == "push", etype == "pull_request"
    for col in (
        "repo",
        "default_branch",
        "ref",
        "after",
        "before",
        "merge_commit_sha",
        "head_ref",
        "base_ref",
    ):
        f[col] = blank_to_none(f[col])
    ok_body = f["_error"].isna().to_numpy()
    relevant_push = (
        is_push
        & ok_body
        & f["ref"].str.startswith("refs/heads/").fillna(False).to_numpy()
        & (f["deleted"] != "true").to_numpy()
        & (f["after"] != ZERO_SHA).to_numpy()
    )
    f["pushed_at"], pushed_bad = to_utc(f["pushed_raw"])
    f["number"] = to_int(f["number_raw"]).fillna(to_int(f["top_number"]))
    f["merged"] = (f["merged_flag"] == "true") | f["merged_at"].notna()
    bad_times = {}
    for col in PR_TIME_FIELDS:
        f[col], bad_times[col] = to_utc(f[col])
    merged_pr = is_pr & f["merged"].to_numpy()
    missing_for_merge = pd.Series("", index=f.index)
    for field, col in (
        ("merged_at", "merged_at"),
        ("merge_commit_sha", "merge_commit_sha"),
        ("base.ref", "base_ref"),
        ("repository.default_branch", "default_branch"),
    ):
        absent = f[col].isna().to_numpy() & ~bad_times.get(col, np.zeros(n, dtype=bool))
        missing_for_merge = missing_for_merge.mask(absent, missing_for_merge + ", " + field)
    merge_gaps = "merged pull request without " + missing_for_merge.str.lstrip(", ")

    commit_rows = np.flatnonzero(relevant_push & (f["commits_type"] == "ARRAY").to_numpy())
    commits = json_array_items(
        frame["body"],
        commit_rows,
        "$.commits",
        {"sha": "$.id", "ts_raw": "$.timestamp", "message": "$.message"},
    )
    commits["sha"] = blank_to_none(commits["sha"]).str.strip().str.lower()
    commit_why = _commit_reasons(commits).reindex(range(n)).to_numpy(dtype=object)

    def has(col: str) -> np.ndarray:
        return f[col].notna().to_numpy()

    reasons = first_reason(
        [
            (~ok_body, f["_error"]),
            (~has("repo"), "repository.full_name missing"),
            (is_push & ~has("ref"), "push without ref"),
            (relevant_push & (f["commits_type"] != "ARRAY").to_numpy(), "push.commits is not a list"),
            (relevant_push & ~has("default_branch"), "repository.default_branch missing"),
            (relevant_push & pushed_bad, "repository.pushed_at is not a valid epoch/ISO timestamp"),
            (relevant_push & ~has("pushed_at"), "repository.pushed_at missing"),
            (relevant_push & pd.notna(commit_why), pd.Series(commit_why)),
            (is_pr & (f["pr_type"] != "OBJECT").to_numpy(), "pull_request object missing"),
            (is_pr & f["number"].isna().to_numpy(), "pull_request.number missing"),
            *[(is_pr & bad_times[c], f"pull_request.{c} is not a valid timestamp") for c in PR_TIME_FIELDS],
            (merged_pr & (missing_for_merge != "").to_numpy(), merge_gaps),
        ],
        n,
    )
    usable = reasons.isna().to_numpy()
    f["row"] = np.arange(n)
    f["received_at"] = received(frame)
    deleting = (
        is_push
        & ok_body
        & f["repo"].notna().to_numpy()
        & f["ref"].str.startswith("refs/heads/").fillna(False).to_numpy()
        & ((f["deleted"] == "true") | (f["after"] == ZERO_SHA)).to_numpy()
    )
    deletions = f.loc[deleting, ["repo", "ref", "pushed_at", "received_at"]]
    deletions = deletions.assign(
        branch=deletions["ref"].str.slice(len("refs/heads/")),
        pushed_at=deletions["pushed_at"].fillna(deletions["received_at"]),
    )[["repo", "branch", "pushed_at"]].drop_duplicates().reset_index(drop=True)

    pushes = f.loc[
        relevant_push & usable,
        ["row", "repo", "ref", "default_branch", "before", "after", "pushed_at", "received_at"],
    ]
    pushes = pushes.assign(branch=pushes["ref"].str.slice(len("refs/heads/")))
    pushes = (
        pushes.sort_values(["received_at", "row"], kind="stable")
        .drop_duplicates(["repo", "ref", "before", "after", "pushed_at"], keep="first")
        .rename(columns={"row": "push_key"})
        .reset_index(drop=True)
    )
    commits = commits[commits["row"].isin(pushes["push_key"])].rename(columns={"row": "push_key"})
    commits = commits.assign(message=commits["message"].fillna(""))[
        ["push_key", "pos", "sha", "commit_at", "message"]
    ].reset_index(drop=True)
    prs = f.loc[
        is_pr & usable,
        [
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
            *PR_TIME_FIELDS,
            "received_at",
        ],
    ]
    prs = prs.assign(
        number=prs["number"].astype("int64"),
        action=prs["action"].fillna(""),
        title=prs["title"].fillna(""),
        body=prs["body"].fillna(""),
        merge_commit_sha=prs["merge_commit_sha"].str.strip().str.lower(),
    )
    prs = (
        prs.sort_values(["received_at", "row"], kind="stable")
        .drop_duplicates(["repo", "number", "action", "updated_at", "merged_at"], keep="first")
        .reset_index(drop=True)
    )
    return MainlineInputs(
        pushes=pushes, commits=commits, prs=prs, rejects=bronze_rejects(frame, reasons), deletions=deletions
    )


_MEMO: dict[tuple[int, int], tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]] = {}
# How many results the memo keeps (least recently used goes first). A run computes Silver shard by shard
# (defs/silver_shards.py), so each model asks for one main line per shard in turn: with room for every
# shard, silver_deployments and silver_incidents reuse what silver_changes parsed (the same rows when
# nothing is stored past the window, as for today's partition). One entry is ~25 MB per 50k deliveries.
# A run of more shards cannot reuse them: it drops the memo after each shard (transforms/memos.py).
MEMO_ENTRIES = memos.ENTRIES
memos.register(_MEMO.clear)


def load_mainline(deliveries: pd.DataFrame) -> tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]:
    """(parsed inputs, merged PRs, main line) of Bronze push + pull_request rows. Treat as read-only.

    All three Silver builders need the main line of the same history; the results for the latest
    inputs are memoised on a content hash (bodies included), so a run that builds all three parses
    each shard's history once.
    """
    key = fingerprint(deliveries)
    result = _MEMO.pop(key, None)
    if result is None:
        inputs = parse_mainline_deliveries(deliveries)
        merged = merged_pull_requests(inputs.prs)
        result = (inputs, merged, build_mainline(inputs, merged))
    _MEMO[key] = result  # now the most recently used
    while len(_MEMO) > MEMO_ENTRIES:
        del _MEMO[next(iter(_MEMO))]
    return result


def mainline_from_deliveries(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Bronze push + pull_request rows straight to the main line (memoised, read-only)."""
    return load_mainline(deliveries)[2]
