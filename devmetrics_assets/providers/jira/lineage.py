"""The lineage keys a Jira delivery names (transforms/lineage.py).

Jira names no repo (Silver maps components / fields through the rules), so the key carries repo None and
the native id `jira-<issue id>`, the tail of incident_id `<repo>#jira-<issue id>`.
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import get, text


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    issue_id = text(get(body, "issue", "id"))
    return [("incident", None, f"jira-{issue_id}")] if issue_id and issue_id.isdigit() else []
