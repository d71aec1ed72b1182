"""GitLab main line → silver_changes rows with GitHub's columns (contracts §4, §6).

The change rows themselves are GitHub's (silver_changes._pr_changes / _direct_changes over the main line
gitlab_mainline builds); only the issue references differ:
- Merge requests: change_id `<repo>#<iid>`; first_commit_at: earliest commit pushed to the source branch,
  else the MR's created_at.
- `Closes/Fixes/Resolves/Implements #N` (GitLab's default closing pattern, lists like `#1, #2 and #3`) in
  an MR's title or description, or in a direct commit's message, fill fixes_issues; `group/project#N` is
  another project and ignored.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from devmetrics_assets.transforms.github_payloads import as_day, comma_list, conform, utc_day
from devmetrics_assets.transforms.gitlab_mainline import load_mainline
from devmetrics_assets.transforms.mainline import head_branch_first_commits
from devmetrics_assets.transforms.quarantine import in_window
from devmetrics_assets.transforms.silver_changes import CHANGES_DTYPES, _direct_changes, _pr_changes

_CLAUSE = re.compile(
    r"\b(?:clos(?:e[sd]?|ing)|fix(?:e[sd]|ing)?|resolv(?:e[sd]?|ing)|implement(?:s|ing|ed)?):?\s+"
    r"((?:(?:issues?\s+)?[\w./-]*#\d+(?:\s*,\s*and\s+|\s*,\s*|\s+and\s+)?)+)",
    re.IGNORECASE,
)
_LOCAL_REF = re.compile(r"(?<![\w./-])#(\d+)")


def closed_issue_numbers(*texts: Any) -> list[int]:
    """Issue numbers a GitLab closing pattern references in any text (same project only), sorted."""
    found: set[int] = set()
    for text in texts:
        if isinstance(text, str) and text:
            for clause in _CLAUSE.findall(text):
                found.update(int(n) for n in _LOCAL_REF.findall(clause))
    return sorted(found)


def build_changes(
    deliveries: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GitLab changes landed in [start, end), rejects of this window's unusable push/MR deliveries)."""
    inputs, merged, mainline = load_mainline(deliveries)
    merged_w = merged[in_window(utc_day(merged["merged_at"]), start, end)].reset_index(drop=True)
    direct_w = mainline[in_window(utc_day(mainline["pushed_at"]), start, end) & mainline["pr_number"].isna()]
    firsts = head_branch_first_commits(inputs, merged_w)
    prs = _pr_changes(merged_w, mainline, firsts)
    prs["fixes_issues"] = [
        comma_list(closed_issue_numbers(t, b))
        for t, b in zip(merged_w["title"], merged_w["body"], strict=True)
    ]
    direct = _direct_changes(direct_w)
    direct["fixes_issues"] = [comma_list(closed_issue_numbers(m)) for m in direct_w["message"]]
    changes = pd.concat([prs, direct], ignore_index=True)
    changes["landed_at"] = pd.to_datetime(changes["landed_at"], utc=True)
    changes["event_day"] = utc_day(changes["landed_at"])
    changes["is_hotfix"] = changes["fixes_issues"] != ""
    changes = changes[in_window(changes["event_day"], start, end)]
    changes = changes.sort_values(["event_day", "landed_at", "change_id"], kind="stable")
    rejects = inputs.rejects[in_window(as_day(inputs.rejects["partition_day"]), start, end)]
    return conform(changes.drop_duplicates("change_id"), CHANGES_DTYPES), rejects
