"""GitHub's event anchors: the time that decides a delivery's Silver partition day (contracts §3)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.transforms.payloads import dig, parse_ts

# The anchor rule as data (first present path wins), shared by the Python and the SQL readers.
ANCHOR_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "push": (("repository", "pushed_at"),),
    "pull_request": (("pull_request", "merged_at"), ("pull_request", "updated_at")),
    "deployment": (("deployment", "created_at"),),
    "deployment_status": (("deployment", "created_at"),),
    "issues": (("issue", "created_at"),),
    "issue_comment": (("issue", "created_at"),),
    # A review anchors on its own time (at or before the merge it counts for): silver_changes of the
    # landing day reads it (reviews.py).
    "pull_request_review": (("review", "submitted_at"), ("pull_request", "updated_at")),
}


def event_anchor_value(event_type: str, body: dict) -> Any:
    """The raw anchor field (ISO text or epoch) that decides a delivery's Silver partition day (contracts §3).

    push: repository.pushed_at; pull_request: merged_at when set, else updated_at; deployment and
    deployment_status: deployment.created_at; issues and issue_comment: issue.created_at;
    pull_request_review: review.submitted_at (else pull_request.updated_at).
    Anything else gives None (the caller uses the received day). Parse many at once with `to_utc`.
    """
    if not isinstance(body, dict):
        return None
    for path in ANCHOR_PATHS.get(event_type, ()):
        value = dig(body, *path)
        if value:
            return value
    return None


def event_anchor(event_type: str, body: dict) -> pd.Timestamp | None:
    """`event_anchor_value` parsed to a UTC Timestamp; None if missing or unparseable."""
    return parse_ts(event_anchor_value(event_type, body))
