"""Opsgenie outgoing webhooks (Webhook integration, https://docs.opsgenie.com/docs/webhook-integration).

Opsgenie does not sign bodies, but the integration can add custom headers: configure
`Authorization: Bearer <secret>` and it is compared in constant time with the source's secret.
The event type is the body's `action` (Create, Acknowledge, Close, AddNote, ...). No header carries a
delivery id, so it is derived: `opsgenie:<alert.alertId>:<action>:<alert.updatedAt>` (updatedAt changes
with every action and is the same on a redelivery of the same action); a body without updatedAt gets
`opsgenie:sha256=<hash of the raw body>`, so a byte-identical redelivery still dedupes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import require_object, same

HEADER = "Authorization"


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    value = headers.get("authorization", "")
    token = value[7:].strip() if value[:7].lower() == "bearer " else ""
    if not token:
        raise Rejected(
            401,
            "unsigned: Authorization: Bearer <token> header missing (add it as a custom "
            "header of the Opsgenie webhook integration)",
        )
    if not same(secret, token):
        raise Rejected(403, "forged: the Authorization bearer token does not match the configured secret")


def _version(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    payload = require_object(body)
    action = payload.get("action")
    alert = payload.get("alert")
    alert_id = alert.get("alertId") if isinstance(alert, dict) else None
    if not (isinstance(action, str) and action.strip() and isinstance(alert_id, str) and alert_id.strip()):
        raise Rejected(400, "malformed: an Opsgenie webhook body needs action and alert.alertId")
    version = _version(alert.get("updatedAt"))
    if version is None:
        return Identity("opsgenie:sha256=" + hashlib.sha256(raw).hexdigest()[:32], action.strip())
    return Identity(f"opsgenie:{alert_id.strip()}:{action.strip()}:{version}", action.strip())


# Authorization carries the secret: never stored. Nothing else Opsgenie sends is needed later.
WEBHOOK = Webhook(authenticate=authenticate, identify=identify, kept_headers=frozenset())
