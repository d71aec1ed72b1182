"""First reviews of pull requests and merge requests: the `first_review_at` of silver_changes.

A review is a sign that someone other than the author picked the change up (docs/metrics.md
"Lead-time stages"). Per provider (payload shapes: GitHub's `pull_request_review` webhook, GitLab's Merge
Request Hook and Note Hook):
- GitHub `pull_request_review` with action `submitted`: time `review.submitted_at`, reviewer
  `review.user.login`, author `pull_request.user.login`. Every submitted state counts (`approved`,
  `changes_requested` and a comment-only `commented` review: a reviewer looked at the change); `dismissed`
  and `pending` states and the `edited` / `dismissed` actions never count. A review later dismissed still
  counts with its submission (the pickup happened).
- GitLab Merge Request Hook with action `approved` / `approval`: GitLab sends no approval time, so the
  time is `object_attributes.updated_at` of that event; reviewer `user.id`, author
  `object_attributes.author_id`.
- GitLab Note Hook on a merge request (`object_attributes.noteable_type == "MergeRequest"`, not a
  `system` note): time `object_attributes.created_at`, reviewer `object_attributes.author_id` (else
  `user.id`), author `merge_request.author_id`; number `merge_request.iid`.
Reviews by the change's author never count (compared when both are known). `first_review_at` is the
earliest counted review submitted at or before the merge; a review after the merge is a post-merge review
and is ignored, so a change's Silver row depends only on deliveries anchored on or before its landing day
(reviews anchor on their own time, contracts §3). Deliveries without a repo, number or valid time are
ignored (they can only leave a stage unknown).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.transforms.normalised import parse_times
from devmetrics_assets.transforms.payloads import UTC_DTYPE, json_fields, to_int

GITHUB_REVIEW = "pull_request_review"
GITLAB_MR, GITLAB_NOTE = "Merge Request Hook", "Note Hook"
GITLAB_REVIEW_EVENTS = (GITLAB_MR, GITLAB_NOTE)
GITLAB_APPROVALS = ("approved", "approval")
NOT_REVIEWS = ("dismissed", "pending")
REVIEW_COLUMNS = ["repo", "number", "reviewer", "author", "reviewed_at"]

_GITHUB_PATHS = {
    "repo": "$.repository.full_name",
    "number": "$.pull_request.number",
    "action": "$.action",
    "state": "$.review.state",
    "time": "$.review.submitted_at",
    "reviewer": "$.review.user.login",
    "author": "$.pull_request.user.login",
}
_GITLAB_PATHS = {
    "repo": "$.project.path_with_namespace",
    "mr_iid": "$.object_attributes.iid",
    "action": "$.object_attributes.action",
    "mr_updated": "$.object_attributes.updated_at",
    "mr_author": "$.object_attributes.author_id",
    "user_id": "$.user.id",
    "noteable": "$.object_attributes.noteable_type",
    "system": "$.object_attributes.system",
    "note_created": "$.object_attributes.created_at",
    "note_author": "$.object_attributes.author_id",
    "note_iid": "$.merge_request.iid",
    "note_mr_author": "$.merge_request.author_id",
}


def empty_reviews() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "repo": pd.Series([], dtype="str"),
            "number": pd.Series([], dtype="int64"),
            "reviewer": pd.Series([], dtype="str"),
            "author": pd.Series([], dtype="str"),
            "reviewed_at": pd.Series([], dtype=UTC_DTYPE),
        }
    )


def _finish(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """Counted reviews: usable repo, number and time, not by the author."""
    out = frame.loc[keep, REVIEW_COLUMNS]
    out = out[out["repo"].notna() & out["number"].notna() & out["reviewed_at"].notna()]
    by_author = out["reviewer"].notna() & out["author"].notna() & (out["reviewer"] == out["author"])
    out = out[~by_author]
    if out.empty:
        return empty_reviews()
    return out.assign(number=out["number"].astype("int64")).reset_index(drop=True)


def github_reviews(rows: pd.DataFrame) -> pd.DataFrame:
    """Counted reviews (REVIEW_COLUMNS) of GitHub `pull_request_review` Bronze rows."""
    rows = rows[rows["event_type"] == GITHUB_REVIEW].reset_index(drop=True)
    if rows.empty:
        return empty_reviews()
    f = json_fields(rows["body"], _GITHUB_PATHS)
    f["number"] = to_int(f["number"])
    f["reviewed_at"], _ = parse_times(f["time"])
    state = f["state"].fillna("").str.lower()
    keep = (
        f["_error"].isna() & (f["action"].fillna("") == "submitted") & ~state.isin(NOT_REVIEWS)
    ).to_numpy()
    return _finish(f, keep)


def gitlab_reviews(rows: pd.DataFrame) -> pd.DataFrame:
    """Counted reviews (REVIEW_COLUMNS) of GitLab approval Merge Request Hooks and merge-request notes."""
    rows = rows[rows["event_type"].isin(GITLAB_REVIEW_EVENTS)].reset_index(drop=True)
    if rows.empty:
        return empty_reviews()
    f = json_fields(rows["body"], _GITLAB_PATHS)
    is_note = (rows["event_type"] == GITLAB_NOTE).to_numpy()
    approval = ~is_note & f["action"].fillna("").isin(GITLAB_APPROVALS).to_numpy()
    on_mr = is_note & (f["noteable"].fillna("") == "MergeRequest").to_numpy()
    on_mr &= (f["system"].fillna("false").str.lower() != "true").to_numpy()
    mr_time, _ = parse_times(f["mr_updated"])
    note_time, _ = parse_times(f["note_created"])
    f["number"] = to_int(f["mr_iid"]).where(~is_note, to_int(f["note_iid"]))
    f["reviewed_at"] = mr_time.where(~is_note, note_time)
    f["reviewer"] = f["user_id"].where(~is_note, f["note_author"].fillna(f["user_id"]))
    f["author"] = f["mr_author"].where(~is_note, f["note_mr_author"])
    return _finish(f, f["_error"].isna().to_numpy() & (approval | on_mr))


def first_reviews(reviews: pd.DataFrame, merged: pd.DataFrame) -> pd.Series:
    """Per merged PR (index (repo, number) of `merged`), the earliest counted review at or before its
    merge (`merged_at`); NaT when none."""
    keys = pd.MultiIndex.from_frame(merged[["repo", "number"]].astype({"number": "int64"}))
    if reviews.empty or merged.empty:
        return pd.Series(pd.NaT, index=keys, dtype=UTC_DTYPE)
    when = merged[["repo", "number", "merged_at"]].astype({"number": "int64"})
    when = when.drop_duplicates(["repo", "number"])
    joined = reviews.merge(when, on=["repo", "number"], how="inner")
    joined = joined[joined["reviewed_at"] <= pd.to_datetime(joined["merged_at"], utc=True)]
    first = joined.groupby(["repo", "number"])["reviewed_at"].min()
    return first.reindex(keys).astype(UTC_DTYPE)


