"""The lineage keys a PagerDuty delivery names (transforms/lineage.py).

PagerDuty names no repo (Silver maps its service through the rules) and its numbers are account-wide,
so keys carry repo None. Notes name only the incident's PagerDuty id: a ("ref:pagerduty", None, id) key
resolved through the deliveries of the same read that carry both the id and the number.
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import REF, get, text


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    data = get(body, "event", "data")
    if get(data, "type") == "incident":
        pd_id = text(get(data, "id"))
        number = text(get(data, "number")) or text(get(data, "incident_number"))
        keys: list[LineageKey] = [("incident", None, f"pagerduty-{number}")] if number else []
        return keys + ([(REF + "pagerduty", None, pd_id)] if pd_id else [])
    pd_id = text(get(data, "incident", "id"))
    return [(REF + "pagerduty", None, pd_id)] if pd_id else []
