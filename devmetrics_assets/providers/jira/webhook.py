"""Jira Cloud webhooks: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (admin webhooks
registered with a secret, WebSub's method=signature form:
https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks); the event type is the
body's `webhookEvent`; the delivery id is the `X-Atlassian-Webhook-Identifier` header (unique per site and
unchanged across Jira's retries, so a retried delivery is stored once).

Choice (not documented by Atlassian): a delivery without that header (an older server, a proxy that drops
it, a hand-replayed body) gets the id `jira:<webhookEvent>:<issue.id>:<timestamp>`, the same for the same
event, so a replay is still stored once. A body without `webhookEvent`, or with neither the header nor
`timestamp` and `issue.id`, is malformed (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import check_prefixed, require_object

SIGNATURE = "X-Hub-Signature"
IDENTIFIER = "x-atlassian-webhook-identifier"


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    check_prefixed(headers.get(SIGNATURE.lower()), SIGNATURE, secret, body)


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    body = require_object(body)
    event = _scalar(body.get("webhookEvent"))
    if event is None or not isinstance(body.get("webhookEvent"), str):
        raise Rejected(400, "malformed: a Jira webhook body needs webhookEvent")
    delivery = (headers.get(IDENTIFIER) or "").strip()
    if not delivery:
        issue = body.get("issue")
        issue_id = _scalar(issue.get("id")) if isinstance(issue, dict) else None
        stamp = _scalar(body.get("timestamp"))
        if issue_id is None or stamp is None:
            raise Rejected(400, "malformed: no X-Atlassian-Webhook-Identifier header, and the body lacks "
                                "timestamp or issue.id to identify the delivery", event_type=event)
        delivery = f"jira:{event}:{issue_id}:{stamp}"
    return Identity(delivery, event)


WEBHOOK = Webhook(
    authenticate=authenticate,
    identify=identify,
    kept_headers=frozenset({"x-hub-signature", IDENTIFIER, "x-atlassian-webhook-retry",
                            "x-atlassian-webhook-flow"}),
)
