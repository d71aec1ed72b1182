"""GitLab webhook bodies → the same Silver entities as GitHub (contracts §4, §6): the GitLab entry point.

Event types (`X-Gitlab-Event`): Push Hook, Merge Request Hook, Deployment Hook, Issue Hook, Note Hook
(and the Confidential Issue/Note Hook variants). The repo is `project.path_with_namespace`.

providers.py and anchors.py only need what is here: the event types each Silver entity reads, each
event's anchor, and one entry per entity. The rules, and where they differ from GitHub, sit with their
code:
- gitlab_mainline.py: the main line from pushes and merge requests (push times, merge methods);
- gitlab_changes.py: silver_changes rows and GitLab's closing pattern (`Closes #N`);
- gitlab_deployments.py: Deployment Hook statuses in the normalised deployment shapes;
- gitlab_incidents.py: incident issues and their notes as normalised incident events.
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.gitlab.changes import build_changes, closed_issue_numbers
from devmetrics_assets.providers.gitlab.deployments import (
    DEPLOY,
    DEPLOYMENT_EVENTS,
    STATE_MAP,
    parse_deployments,
)
from devmetrics_assets.providers.gitlab.incidents import (
    CONFIDENTIAL_ISSUE,
    CONFIDENTIAL_NOTE,
    INCIDENT_EVENTS,
    ISSUE,
    NOTE,
    build_incidents,
    parse_incident_events,
)
from devmetrics_assets.providers.gitlab.mainline import (
    MAINLINE_EVENTS,
    MR,
    PUSH,
    load_mainline,
    parse_mainline,
)
from devmetrics_assets.transforms.normalised import normalise_time
from devmetrics_assets.transforms.payloads import dig

PROVIDER = "gitlab"


def anchor_value(event_type: str, body: dict) -> Any:
    """Raw anchor (contracts §6): push → first commit timestamp; MR → merged_at / updated_at; deployment →
    status_changed_at; issue → created_at; note on an issue → the issue's created_at; note on a merge
    request → the note's created_at. GitLab's `... UTC` text is normalised so `payloads.to_utc`
    parses it."""
    if not isinstance(body, dict):
        return None
    attrs = body.get("object_attributes")
    if event_type == PUSH:
        commits = body.get("commits")
        value = dig(commits[0], "timestamp") if isinstance(commits, list) and commits else None
    elif event_type == MR:
        value = dig(attrs, "merged_at") or dig(attrs, "updated_at")
    elif event_type == DEPLOY:
        value = body.get("status_changed_at")
    elif event_type in (ISSUE, CONFIDENTIAL_ISSUE):
        value = dig(attrs, "created_at")
    elif event_type in (NOTE, CONFIDENTIAL_NOTE):
        # A note on an issue lives in its issue's day; a note on a merge request (a review, reviews.py)
        # anchors on its own time, at or before the merge it counts for.
        value = dig(body, "issue", "created_at") or (
            dig(attrs, "created_at") if isinstance(body.get("merge_request"), dict) else None
        )
    else:
        value = None
    return normalise_time(value)


__all__ = [
    "DEPLOYMENT_EVENTS",
    "INCIDENT_EVENTS",
    "MAINLINE_EVENTS",
    "PROVIDER",
    "STATE_MAP",
    "anchor_value",
    "build_changes",
    "build_incidents",
    "closed_issue_numbers",
    "load_mainline",
    "parse_deployments",
    "parse_incident_events",
    "parse_mainline",
]
