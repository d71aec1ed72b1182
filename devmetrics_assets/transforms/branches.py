"""A merged PR's (or MR's) first commit: the earliest commit written for it on its head branch.

Rules (contracts §5, lead time):
- Branch identity: a PR's commits are those pushed to its head branch during the branch's life that ends
  with the PR's merge. A life starts at the branch's creation push (`before` = 40 zeros) and a deletion
  push ends it, so a branch name used again after deletion starts afresh; a merge of an earlier PR with
  the same head branch also ends the earlier life (a branch reused without deletion). Only pushes at or
  before the merge count.
- Commits already on the default branch when they were pushed to the head branch were not written for the
  PR: an "Update branch" merge (the default branch merged into the PR branch) lists the default branch's
  new commits in the branch push, and they must not become the PR's first commit.
- No usable push (a fork's PR, a branch pushed before the history starts): the caller falls back to the
  PR's created_at.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.transforms.mainline_model import MainlineInputs
from devmetrics_assets.transforms.payloads import UTC_DTYPE, ZERO_SHA

_KEY = ["repo", "number"]


def _empty() -> pd.Series:
    return pd.Series([], dtype=UTC_DTYPE, index=pd.MultiIndex.from_tuples([], names=_KEY))


def _latest_before(prs: pd.DataFrame, events: pd.DataFrame, strict: bool) -> pd.Series:
    """Per PR row, the latest event time of its head branch before (or at) the PR's creation."""
    if events.empty:
        return pd.Series(pd.NaT, index=prs.index, dtype=UTC_DTYPE)
    pairs = prs.reset_index().merge(events, left_on=["repo", "head_ref"], right_on=["repo", "branch"])
    before = pairs["at"] < pairs["anchor"] if strict else pairs["at"] <= pairs["anchor"]
    latest = pairs[before].groupby("index")["at"].max()
    return latest.reindex(prs.index).astype(UTC_DTYPE)


def head_branch_first_commits(
    inputs: MainlineInputs, merged: pd.DataFrame, mainline: pd.DataFrame
) -> pd.Series:
    """Earliest commit timestamp written for each merged PR on its head branch, indexed by (repo, number)."""
    if merged.empty or inputs.pushes.empty:
        return _empty()
    pushes = inputs.pushes[inputs.pushes["branch"] != inputs.pushes["default_branch"]]
    commits = inputs.commits.join(
        pushes.set_index("push_key")[["repo", "branch", "pushed_at"]], on="push_key", how="inner"
    )
    on_main = mainline.groupby(["repo", "sha"])["pushed_at"].min().rename("main_at")
    commits = commits.join(on_main, on=["repo", "sha"])
    commits = commits[commits["main_at"].isna() | (commits["main_at"] > commits["pushed_at"])]

    prs = merged[["repo", "number", "head_ref", "created_at", "merged_at"]].dropna(subset=["head_ref"])
    prs = prs.sort_values(["repo", "head_ref", "merged_at"], kind="stable").reset_index(drop=True)
    prs["prev_merged_at"] = prs.groupby(["repo", "head_ref"])["merged_at"].shift(1)
    prs["anchor"] = prs["created_at"].fillna(prs["merged_at"])
    created = pushes.loc[pushes["before"] == ZERO_SHA, ["repo", "branch", "pushed_at"]]
    deletions = inputs.deletions if inputs.deletions is not None else pd.DataFrame(columns=created.columns)
    prs["born_at"] = _latest_before(prs, created.rename(columns={"pushed_at": "at"}), strict=False)
    prs["deleted_at"] = _latest_before(prs, deletions.rename(columns={"pushed_at": "at"}), strict=True)

    joined = prs.merge(commits, left_on=["repo", "head_ref"], right_on=["repo", "branch"], how="inner")
    at = joined["pushed_at"]
    ok = (at <= joined["merged_at"]) & (joined["prev_merged_at"].isna() | (at > joined["prev_merged_at"]))
    ok &= joined["born_at"].isna() | (at >= joined["born_at"])
    ok &= joined["deleted_at"].isna() | (at > joined["deleted_at"])
    return joined[ok].groupby(_KEY)["commit_at"].min()
