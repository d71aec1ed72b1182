"""Event anchors for every provider: the time that decides a delivery's Silver partition day.

Readers call `anchor_value(provider, event_type, body)` and parse all values at once with
`github_payloads.to_utc`. Providers are added here as their Silver parsers are (docs/contracts.md §3, §6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devmetrics_assets.transforms.github_payloads import event_anchor_value as github_anchor_value

ANCHORS: dict[str, Callable[[str, dict], Any]] = {"github": github_anchor_value}


def anchor_value(provider: str, event_type: str, body: dict) -> Any:
    """Raw anchor (ISO text or epoch) or None when the provider or event has none."""
    anchor = ANCHORS.get(provider)
    return anchor(event_type, body) if anchor else None
