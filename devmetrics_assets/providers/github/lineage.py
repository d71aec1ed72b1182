"""The lineage keys a GitHub delivery names (transforms/lineage.py)."""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import commits, get, text


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    repo = text(get(body, "repository", "full_name"))
    if event_type == "push":
        return commits(repo, get(body, "commits"))
    if event_type == "pull_request":
        number = text(get(body, "pull_request", "number")) or text(get(body, "number"))
        return [("change", repo, number)] if number else []
    if event_type in ("deployment", "deployment_status"):
        dep = text(get(body, "deployment", "id"))
        return [("deployment", repo, dep)] if dep else []
    if event_type in ("issues", "issue_comment"):
        number = text(get(body, "issue", "number"))
        return [("incident", repo, number)] if number else []
    return []
