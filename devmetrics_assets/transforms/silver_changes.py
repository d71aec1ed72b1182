"""silver_changes: one row per change that landed on a repo's default branch (contracts §4, §5).

Rules:
- A PR is a change when a `pull_request` delivery shows it merged (`merged`/`merged_at`) into the
  repository's default branch; opened/closed-unmerged PRs make no change. The latest merged state
  (by updated_at) of (repo, number) supplies title/body/merge sha. change_id `<repo>#<number>`.
- Every other main-line commit is a direct change `<repo>@<sha>` (see mainline.py for the mapping).
- landed_at: PR → merged_at; direct commit → repository.pushed_at of its push. event_day = landed_at day.
- opened_at: PR → its created_at; first_review_at: the earliest review by someone other than the author
  submitted at or before the merge (reviews.py, `pull_request_review` rows). Direct commits: both null.
- first_commit_at: direct commit → its timestamp; PR → earliest commit written for it on its head branch
  (branches.py: the branch's life ending at the merge, commits already on the default branch excluded),
  else PR created_at.
- head_sha / mainline_pushed_at / mainline_pos (0-based index in the push's `commits`) describe the
  main-line commit that represents the change; commit_shas are its main-line commits in order.
  A merged PR whose merge sha never reached the main line keeps head_sha = merge_commit_sha,
  commit_shas "", merge_method "unknown" and null main-line columns.
- fixes_issues: issue numbers of the same repo a closing keyword references (closing.py: every GitHub form,
  `#N`, `owner/repo#N`, the issue URL) in the PR title and body and in the messages of the change's
  main-line commits (a merge or rebase merge keeps its commits' messages, a squash its squash body), or in
  a direct commit's message. is_hotfix: one of them is an incident issue of the repo known when the change
  landed (`incident_keys`); Gold intersects fixes_issues with Silver's incidents again, so an issue
  labelled an incident after the merge still counts there.
- reverted_change_ids: changes this one reverts (`This reverts commit <sha>` resolved on the main line,
  `Reverts owner/repo#N` of a revert PR).
- Quarantine: push / pull_request deliveries that cannot be used (see mainline.parse_mainline_deliveries),
  reported only for deliveries whose Bronze event_day is in [start, end).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.branches import head_branch_first_commits
from devmetrics_assets.transforms.closing import github_closed_issues, reverted_refs
from devmetrics_assets.transforms.github_payloads import (
    UTC_DTYPE,
    ShaIndex,
    as_day,
    comma_list,
    conform,
    utc_day,
)
from devmetrics_assets.transforms.mainline import load_mainline
from devmetrics_assets.transforms.quarantine import in_window, quarantine_rows
from devmetrics_assets.transforms.reviews import (
    GITHUB_REVIEW,
    empty_reviews,
    first_reviews,
    github_reviews,
)

ASSET = "silver_changes"
CHANGES_DTYPES: dict[str, str] = {
    "change_id": "str",
    "repo": "str",
    "kind": "str",
    "pr_number": "Int64",
    "merge_method": "str",
    "head_sha": "str",
    "commit_shas": "str",
    "first_commit_at": UTC_DTYPE,
    "landed_at": UTC_DTYPE,
    "opened_at": UTC_DTYPE,
    "first_review_at": UTC_DTYPE,
    "fixes_issues": "str",
    "is_hotfix": "bool",
    "reverted_change_ids": "str",
    "mainline_pushed_at": UTC_DTYPE,
    "mainline_pos": "Int64",
    "event_day": "datetime64[us]",
}
CHANGES_COLUMNS = list(CHANGES_DTYPES)
# (texts..., repo=) -> issue numbers a provider's closing pattern references
Closing = Callable[..., list[int]]
IncidentKeys = set[tuple[str, int]]


def _messages(mainline: pd.DataFrame) -> dict[str, list[str]]:
    """Main-line commit messages of every PR change, in main-line order."""
    rows = mainline[mainline["pr_number"].notna()]
    out: dict[str, list[str]] = {}
    for cid, message in zip(rows["change_id"].tolist(), rows["message"].tolist(), strict=True):
        out.setdefault(cid, []).append(message if isinstance(message, str) else "")
    return out


def _pr_changes(
    merged: pd.DataFrame,
    mainline: pd.DataFrame,
    first_commits: pd.Series,
    closing: Closing = github_closed_issues,
    reviews: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Merged PRs → change rows; `reviews`: counted reviews (reviews.py) giving first_review_at."""
    change_id = merged["repo"] + "#" + merged["number"].astype("str")
    heads = mainline[mainline["is_head"]].set_index("change_id")
    pr_rows = mainline[mainline["pr_number"].notna()]
    by_change: dict[str, list[str]] = {}
    for cid, commit_sha in zip(pr_rows["change_id"].tolist(), pr_rows["sha"].tolist(), strict=True):
        by_change.setdefault(cid, []).append(commit_sha)  # main-line order
    shas = pd.Series({cid: ",".join(v) for cid, v in by_change.items()}, dtype=object)
    first = first_commits.reindex(pd.MultiIndex.from_frame(merged[["repo", "number"]])).to_numpy()
    head_sha = heads["sha"].reindex(change_id).to_numpy()
    messages = _messages(mainline)
    texts = [
        [t, b, *messages.get(c, [])]
        for t, b, c in zip(merged["title"], merged["body"], change_id, strict=True)
    ]
    return pd.DataFrame(
        {
            "change_id": change_id.to_numpy(),
            "repo": merged["repo"].to_numpy(),
            "kind": "pull_request",
            "pr_number": merged["number"].to_numpy(),
            "merge_method": heads["merge_method"].reindex(change_id).fillna("unknown").to_numpy(),
            "head_sha": np.where(pd.isna(head_sha), merged["merge_commit_sha"], head_sha),
            "commit_shas": shas.reindex(change_id).fillna("").to_numpy(),
            "first_commit_at": pd.Series(first, dtype=UTC_DTYPE)
            .fillna(merged["created_at"].reset_index(drop=True))
            .to_numpy(),
            "landed_at": merged["merged_at"].to_numpy(),
            "opened_at": pd.to_datetime(merged["created_at"], utc=True).astype(UTC_DTYPE).to_numpy(),
            "first_review_at": first_reviews(
                reviews if reviews is not None else empty_reviews(), merged
            ).to_numpy(),
            "fixes_issues": [
                comma_list(closing(*t, repo=r)) for t, r in zip(texts, merged["repo"], strict=True)
            ],
            "_texts": texts,
            "mainline_pushed_at": heads["pushed_at"].reindex(change_id).to_numpy(),
            "mainline_pos": heads["pos"].reindex(change_id).to_numpy(),
        }
    )


def _direct_changes(mainline: pd.DataFrame, closing: Closing = github_closed_issues) -> pd.DataFrame:
    direct = mainline[mainline["pr_number"].isna()]
    return pd.DataFrame(
        {
            "change_id": direct["change_id"].to_numpy(),
            "repo": direct["repo"].to_numpy(),
            "kind": "commit",
            "pr_number": pd.array([pd.NA] * len(direct), dtype="Int64"),
            "merge_method": "direct",
            "head_sha": direct["sha"].to_numpy(),
            "commit_shas": direct["sha"].to_numpy(),
            "first_commit_at": direct["commit_at"].to_numpy(),
            "landed_at": direct["pushed_at"].to_numpy(),
            "opened_at": pd.Series(pd.NaT, index=range(len(direct)), dtype=UTC_DTYPE).to_numpy(),
            "first_review_at": pd.Series(pd.NaT, index=range(len(direct)), dtype=UTC_DTYPE).to_numpy(),
            "fixes_issues": [
                comma_list(closing(m, repo=r)) for m, r in zip(direct["message"], direct["repo"], strict=True)
            ],
            "_texts": [[m] for m in direct["message"]],
            "mainline_pushed_at": direct["pushed_at"].to_numpy(),
            "mainline_pos": direct["pos"].to_numpy(),
        }
    )


def finish_changes(
    changes: pd.DataFrame,
    mainline: pd.DataFrame,
    incident_keys: IncidentKeys | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Rows landed in [start, end) with event_day, is_hotfix and reverted_change_ids, in contract form.

    `changes`: _pr_changes / _direct_changes rows (with their `_texts`); `mainline`: the repo's main line
    (resolves reverted shas to the change that brought them).
    """
    changes = changes.copy()
    changes["landed_at"] = pd.to_datetime(changes["landed_at"], utc=True)
    changes["event_day"] = utc_day(changes["landed_at"])
    changes["is_hotfix"] = is_hotfix(changes["repo"], changes["fixes_issues"], incident_keys or set())
    changes["reverted_change_ids"] = reverted_changes(changes["repo"], changes["_texts"], mainline)
    changes = changes[in_window(changes["event_day"], start, end)]
    changes = changes.sort_values(["event_day", "landed_at", "change_id"], kind="stable")
    return conform(changes.drop_duplicates("change_id"), CHANGES_DTYPES)


def is_hotfix(repos: pd.Series, fixes: pd.Series, incident_keys: IncidentKeys) -> list[bool]:
    """A change is a hotfix when an issue it closes is a known incident issue of its repo."""
    return [
        any((r, int(n)) in incident_keys for n in f.split(",") if n)
        for r, f in zip(repos, fixes, strict=True)
    ]


def reverted_changes(repos: pd.Series, texts: Iterable[list[Any]], mainline: pd.DataFrame) -> list[str]:
    """Comma lists of the change ids each change reverts (shas resolved on the repo's main line)."""
    index = ShaIndex(mainline["repo"], mainline["sha"])
    change_of = dict(
        zip(zip(mainline["repo"], mainline["sha"], strict=True), mainline["change_id"], strict=True)
    )
    out = []
    for repo, text in zip(repos, texts, strict=True):
        shas, numbers = reverted_refs(*text, repo=repo)
        ids = [change_of.get((repo, index.resolve(repo, s) or s)) for s in shas]
        ids += [f"{repo}#{n}" for n in numbers]
        out.append(comma_list(dict.fromkeys(i for i in ids if i)))
    return out


def build_silver_changes(
    deliveries: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
    incident_keys: IncidentKeys | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(changes landed in [start, end), quarantine rows for this window's unusable deliveries).

    `deliveries`: Bronze push + pull_request (+ pull_request_review) rows with event_day < end (history
    is needed for head branch pushes and main-line positions; reviews anchor on their own time, so every
    review before a merge is there). `rules` is accepted for symmetry; changes need no rule.
    `incident_keys`: (repo, number) of the incident issues known so far (is_hotfix).
    """
    del rules  # no configurable rule applies to changes
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    is_review = (deliveries["event_type"] == GITHUB_REVIEW).to_numpy()
    reviews = github_reviews(deliveries[is_review])
    inputs, merged, mainline = load_mainline(deliveries[~is_review].reset_index(drop=True))

    merged_days = utc_day(merged["merged_at"])
    merged_w = merged[in_window(merged_days, start, end)].reset_index(drop=True)
    direct_w = mainline[in_window(utc_day(mainline["pushed_at"]), start, end) & mainline["pr_number"].isna()]
    firsts = head_branch_first_commits(inputs, merged_w, mainline)

    changes = pd.concat(
        [_pr_changes(merged_w, mainline, firsts, reviews=reviews), _direct_changes(direct_w)],
        ignore_index=True,
    )
    changes = finish_changes(changes, mainline, incident_keys, start, end)

    rejects = inputs.rejects
    rejects = rejects[in_window(as_day(rejects["partition_day"]), start, end)]
    return changes, quarantine_rows("silver", ASSET, rejects)
