"""PagerDuty v3 webhooks: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256>[,v1=<hex>...]` (several during a
secret rotation; one match suffices); the event type in `event.event_type`, the delivery id `event.id`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import hmac_hex, require_object, same


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    value = headers.get("x-pagerduty-signature")
    signatures = [s.strip() for s in (value or "").split(",") if s.strip().startswith("v1=")]
    if not signatures:
        raise Rejected(401, "unsigned: X-PagerDuty-Signature header missing or without a v1= signature")
    expected = "v1=" + hmac_hex(secret, body)
    # Compare against every signature (no early exit) so timing does not reveal which one matched.
    matches = [same(expected, s) for s in signatures]
    if not any(matches):
        raise Rejected(403, "forged: no X-PagerDuty-Signature v1 signature verifies with the "
                            "configured secret")


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    event = require_object(body).get("event")
    event_id = event.get("id") if isinstance(event, dict) else None
    event_type = event.get("event_type") if isinstance(event, dict) else None
    if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type):
        raise Rejected(400, "malformed: a PagerDuty v3 body needs event.id and event.event_type")
    return Identity(event_id, event_type)


WEBHOOK = Webhook(authenticate=authenticate, identify=identify,
                  kept_headers=frozenset({"x-pagerduty-signature", "x-webhook-id"}))
