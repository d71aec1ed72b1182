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

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.mainline import load_mainline
from devmetrics_assets.transforms.branches import head_branch_first_commits
from devmetrics_assets.transforms.changes_model import (
    IncidentKeys,
    direct_changes,
    finish_changes,
    pr_changes,
)
from devmetrics_assets.transforms.payloads import (
    as_day,
    utc_day,
)
from devmetrics_assets.transforms.quarantine import in_window, quarantine_rows
from devmetrics_assets.transforms.reviews import (
    GITHUB_REVIEW,
    github_reviews,
)

ASSET = "silver_changes"


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
        [pr_changes(merged_w, mainline, firsts, reviews=reviews), direct_changes(direct_w)],
        ignore_index=True,
    )
    changes = finish_changes(changes, mainline, incident_keys, start, end)

    rejects = inputs.rejects
    rejects = rejects[in_window(as_day(rejects["partition_day"]), start, end)]
    return changes, quarantine_rows("silver", ASSET, rejects)
