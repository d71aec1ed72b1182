"""Small readers every provider's lineage keys are made of (transforms/lineage.py explains the keys)."""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey

# A key kind starting with REF names another system's id, resolved through deliveries carrying both.
REF = "ref:"


def get(body: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list) or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def commits(repo: str | None, items: Any) -> list[LineageKey]:
    if not isinstance(items, list):
        return []
    shas = [text(get(c, "id")) for c in items]
    return [("commit", repo, sha.lower()) for sha in shas if sha]
