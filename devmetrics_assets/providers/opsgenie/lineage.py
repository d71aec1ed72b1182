"""The lineage keys an Opsgenie delivery names (transforms/lineage.py).

Opsgenie names no repo (Silver maps details/teams through the rules), so keys carry repo None: the
incident key `opsgenie-<number>` (Silver's number: the tinyId) and a ("ref:opsgenie", None, alertId)
key tying every action of an alert to the delivery that carries its number.
"""

from __future__ import annotations

from typing import Any

from devmetrics_assets.providers.interface import LineageKey
from devmetrics_assets.providers.lineage_keys import REF, get, text
from devmetrics_assets.transforms.normalised import id_number


def lineage_keys(event_type: str, body: Any) -> list[LineageKey]:
    alert = get(body, "alert")
    alert_id = text(get(alert, "alertId"))
    # The same number Silver gives the incident (incidents.py): tinyId, else a stable number of the id.
    number = id_number(get(alert, "tinyId")) or (id_number(alert_id) if alert_id else None)
    keys: list[LineageKey] = [("incident", None, f"opsgenie-{number}")] if number else []
    return keys + ([(REF + "opsgenie", None, alert_id)] if alert_id else [])
