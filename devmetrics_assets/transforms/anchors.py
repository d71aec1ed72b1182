"""Event anchors for every provider: the time that decides a delivery's Silver partition day.

Readers call `anchor_value(provider, event_type, body)` and parse all values at once with
`github_payloads.to_utc` (provider time text is normalised so it parses). Contracts §3 (GitHub) and §6:
gitlab Push Hook → first commit timestamp, Merge Request Hook → merged_at / updated_at, Deployment Hook →
status_changed_at, Issue Hook → issue created_at, Note Hook → its issue's created_at; pagerduty → the
incident's created_at (notes carry none: received day); generic → `created_at` / `opened_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devmetrics_assets.transforms import generic, gitlab, pagerduty
from devmetrics_assets.transforms.github_payloads import event_anchor_value as github_anchor_value


def generic_anchor_value(event_type: str, body: dict) -> Any:
    """generic deployment → created_at; generic incident → opened_at (created_at accepted)."""
    if not isinstance(body, dict):
        return None
    if event_type == "deployment":
        return generic.normalise_time(body.get("created_at"))
    if event_type == "incident":
        return generic.normalise_time(body.get("opened_at") or body.get("created_at"))
    return None


def pagerduty_anchor_value(event_type: str, body: dict) -> Any:
    return (
        generic.normalise_time(pagerduty.anchor_value(event_type, body)) if isinstance(body, dict) else None
    )


ANCHORS: dict[str, Callable[[str, dict], Any]] = {
    "github": github_anchor_value,
    "gitlab": gitlab.anchor_value,
    "pagerduty": pagerduty_anchor_value,
    "generic": generic_anchor_value,
}


def anchor_value(provider: str, event_type: str, body: dict) -> Any:
    """Raw anchor (ISO text or epoch) or None when the provider or event has none."""
    anchor = ANCHORS.get(provider)
    return anchor(event_type, body) if anchor else None
