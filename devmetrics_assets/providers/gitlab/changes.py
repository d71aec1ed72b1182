"""GitLab main line → silver_changes rows with GitHub's columns (contracts §4, §6).

The change rows themselves are GitHub's (silver_changes._pr_changes / _direct_changes / finish_changes over
the main line gitlab_mainline builds); only the issue references differ:
- Merge requests: change_id `<repo>#<iid>`; first_commit_at: earliest commit written for the MR on its
  source branch (branches.py), else the MR's created_at. opened_at: the MR's created_at; first_review_at:
  the earliest approval (`approved` / `approval` Merge Request Hook) or note on the MR by someone other
  than its author, at or before the merge (reviews.py).
- GitLab's default closing pattern (closing.gitlab_closed_issues: Closes/Fixes/Resolves/Implements and
  their forms, lists like `#1, #2 and #3`, `group/project#N` and issue URLs of the same project) in an MR's
  title or description, in the messages of its commits that reach the default branch, or in a direct
  commit's message, fills fixes_issues. is_hotfix: one of them is a known incident issue of the project.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.providers.gitlab.mainline import load_mainline
from devmetrics_assets.transforms.branches import head_branch_first_commits
from devmetrics_assets.transforms.changes_model import (
    IncidentKeys,
    direct_changes,
    finish_changes,
    pr_changes,
)
from devmetrics_assets.transforms.closing import gitlab_closed_issues
from devmetrics_assets.transforms.payloads import as_day, utc_day
from devmetrics_assets.transforms.quarantine import in_window
from devmetrics_assets.transforms.reviews import GITLAB_NOTE, gitlab_reviews


def closed_issue_numbers(*texts: object, repo: str | None = None) -> list[int]:
    """Issue numbers of `repo` GitLab's closing pattern references in any text (closing.py), sorted."""
    return gitlab_closed_issues(*texts, repo=repo)


def build_changes(
    deliveries: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    incident_keys: IncidentKeys | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GitLab changes landed in [start, end), rejects of this window's unusable push/MR deliveries).

    `deliveries`: Push Hook and Merge Request Hook rows, plus Note Hook rows (notes on merge requests are
    reviews; they are kept out of the main line).
    """
    is_note = (deliveries["event_type"] == GITLAB_NOTE).to_numpy()
    reviews = gitlab_reviews(deliveries)
    inputs, merged, mainline = load_mainline(deliveries[~is_note].reset_index(drop=True))
    merged_w = merged[in_window(utc_day(merged["merged_at"]), start, end)].reset_index(drop=True)
    direct_w = mainline[in_window(utc_day(mainline["pushed_at"]), start, end) & mainline["pr_number"].isna()]
    firsts = head_branch_first_commits(inputs, merged_w, mainline)
    prs = pr_changes(merged_w, mainline, firsts, gitlab_closed_issues, reviews=reviews)
    direct = direct_changes(direct_w, gitlab_closed_issues)
    changes = finish_changes(pd.concat([prs, direct], ignore_index=True), mainline, incident_keys, start, end)
    rejects = inputs.rejects[in_window(as_day(inputs.rejects["partition_day"]), start, end)]
    return changes, rejects
