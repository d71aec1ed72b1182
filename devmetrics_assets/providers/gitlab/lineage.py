"""The lineage keys a GitLab delivery names (transforms/lineage.py)."""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.gitlab.deployments import DEPLOYMENT_EVENTS
from devmetrics_assets.providers.gitlab.incidents import INCIDENT_EVENTS
from devmetrics_assets.providers.gitlab.mainline import MAINLINE_EVENTS
from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import commits, get, text


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    repo = text(get(body, "project", "path_with_namespace"))
    if event_type in MAINLINE_EVENTS and isinstance(get(body, "commits"), list):
        return commits(repo, get(body, "commits"))
    if event_type in DEPLOYMENT_EVENTS:
        dep = text(get(body, "deployment_id")) or text(get(body, "deployable_id"))
        return [("deployment", repo, dep)] if dep else []
    if event_type in MAINLINE_EVENTS:  # merge request hooks
        number = text(get(body, "object_attributes", "iid"))
        return [("change", repo, number)] if number else []
    if event_type in INCIDENT_EVENTS:
        number = text(get(body, "issue", "iid")) if "Note" in event_type else None
        number = number or text(get(body, "object_attributes", "iid"))
        return [("incident", repo, number)] if number else []
    return []
