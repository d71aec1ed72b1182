"""Opsgenie webhook bodies in the documented shape, for the provider's tests.

Shape from the alert action data documentation (https://docs.opsgenie.com/docs/marid-alert-action-data,
used by the Webhook integration https://docs.opsgenie.com/docs/webhook-integration):
{"source": {"name": "web", "type": "API"}, "alert": {"updatedAt": 1420452193166002000, "tags": [...],
"teams": [...], "recipients": [...], "message": "test alert", "username": "fili@ifountain.com",
"alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c", "source": "fili@ifountain.com", "alias": "aliastest",
"tinyId": "23", "createdAt": 1420452191104, "userId": "...", "entity": ""}, "action": "Create",
"integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d", "integrationName": "Integration1"}
createdAt is epoch milliseconds, updatedAt epoch nanoseconds (as in the documented example); description
and details are sent with Create (and custom) actions, `note` with AddNote.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def ms(iso: str) -> int:
    return int(pd.Timestamp(iso).value // 1_000_000)


def ns(iso: str) -> int:
    return int(pd.Timestamp(iso).value)


def og(
    action: str,
    alert_id: str,
    tiny: str,
    created: str,
    at: str | None = None,
    *,
    priority: str = "P1",
    tags: list[str] | None = None,
    teams: list[str] | None = None,
    message: str = "Checkout 500s",
    description: str | None = None,
    details: dict[str, str] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One webhook body: `at` (ISO) becomes alert.updatedAt in nanoseconds (default: the creation)."""
    alert: dict[str, Any] = {
        "updatedAt": ns(at or created),
        "tags": tags or [],
        "teams": teams or [],
        "recipients": [],
        "message": message,
        "username": "fili@ifountain.com",
        "alertId": alert_id,
        "source": "fili@ifountain.com",
        "alias": f"alias-{alert_id}",
        "tinyId": tiny,
        "createdAt": ms(created),
        "userId": "daed1180-0ce8-438b-8f8e-57e1a5920a2d",
        "entity": "",
        "priority": priority,
    }
    if description is not None:
        alert["description"] = description
    if details is not None:
        alert["details"] = details
    if note is not None:
        alert["note"] = note
    return {
        "source": {"name": "web", "type": "API"},
        "alert": alert,
        "action": action,
        "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
        "integrationName": "Integration1",
    }
