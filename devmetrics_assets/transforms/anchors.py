"""Event anchors for every provider: the time that decides a delivery's Silver partition day.

Readers call `anchor_value(provider, event_type, body)` and parse all values at once with
`payloads.to_utc` (provider time text is normalised so it parses). Each provider's rule is its
`Provider.anchor` (contracts §3 for GitHub, §6 for the others).
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers import PROVIDERS


def anchor_value(provider: str, event_type: str, body: dict) -> Any:
    """Raw anchor (ISO text or epoch) or None when the provider or event has none."""
    found = PROVIDERS.get(provider)
    return found.anchor(event_type, body) if found else None
