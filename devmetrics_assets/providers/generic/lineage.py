"""The lineage keys a generic delivery names (transforms/lineage.py)."""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import commits, get, text
from devmetrics_assets.transforms.normalised import id_number


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    repo = text(get(body, "repo")) or text(get(body, "repository"))
    number = id_number(get(body, "id"))
    if number is None:
        return []
    if event_type == "deployment":
        keys: list[LineageKey] = [("deployment", repo, str(number))]
        changes = get(body, "changes")
        items = [{"id": c} if isinstance(c, str) else {"id": get(c, "sha") or get(c, "id")}
                 for c in (changes if isinstance(changes, list) else [])]
        return keys + commits(repo, items)
    if event_type == "incident":
        return [("incident", repo, f"generic-{number}")]
    return []
