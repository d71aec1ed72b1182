"""The change model every provider builds silver_changes with (transforms/silver_contract.py).

A provider hands its merged pull/merge requests and its main line (mainline_model.py) to `pr_changes` and
`direct_changes`, then `finish_changes` fills the columns every change has; `closing` is the provider's
closing-keyword rule (closing.py). The GitHub rules that give the columns their meaning are documented in
providers/github/changes.py; GitLab's differences in providers/gitlab/changes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.transforms.closing import github_closed_issues, reverted_refs
from devmetrics_assets.transforms.payloads import UTC_DTYPE, ShaIndex, comma_list, conform, utc_day
from devmetrics_assets.transforms.quarantine import in_window
from devmetrics_assets.transforms.reviews import empty_reviews, first_reviews
from devmetrics_assets.transforms.silver_contract import CHANGES_DTYPES

# (texts..., repo=) -> issue numbers a provider's closing pattern references
Closing = Callable[..., list[int]]


IncidentKeys = set[tuple[str, int]]


def commit_messages(mainline: pd.DataFrame) -> dict[str, list[str]]:
    """Main-line commit messages of every PR change, in main-line order."""
    rows = mainline[mainline["pr_number"].notna()]
    out: dict[str, list[str]] = {}
    for cid, message in zip(rows["change_id"].tolist(), rows["message"].tolist(), strict=True):
        out.setdefault(cid, []).append(message if isinstance(message, str) else "")
    return out


def pr_changes(
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
    messages = commit_messages(mainline)
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


def direct_changes(mainline: pd.DataFrame, closing: Closing = github_closed_issues) -> pd.DataFrame:
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
