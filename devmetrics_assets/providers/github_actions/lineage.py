"""The lineage keys a GitHub Actions delivery names (transforms/lineage.py).

A workflow_run names its deployment (`<repo>:<run id>`, the Silver id) and the commit it ran on; a
workflow_job names the run it belongs to, so a job is linked to the same deployment.
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import get, text


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    repo = text(get(body, "repository", "full_name"))
    if event_type == "workflow_run":
        run = text(get(body, "workflow_run", "id"))
        sha = text(get(body, "workflow_run", "head_sha"))
        keys: list[LineageKey] = [("deployment", repo, run)] if run else []
        return keys + ([("commit", repo, sha.lower())] if sha else [])
    if event_type == "workflow_job":
        run = text(get(body, "workflow_job", "run_id"))
        return [("deployment", repo, run)] if run else []
    return []
