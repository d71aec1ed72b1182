"""GitHub Actions webhooks (events `workflow_run`, `workflow_job`, and GitHub's `ping`): signed exactly like
every GitHub webhook, `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, with the event in
`X-GitHub-Event` and the delivery id in `X-GitHub-Delivery` (kept on redelivery).
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import check_prefixed, identity_from_headers, require_object

# What a github_actions source stores; any other GitHub event belongs on a `github` source, and is refused
# here so a wrongly configured hook shows failed deliveries instead of silently feeding nothing.
EVENTS = ("workflow_run", "workflow_job", "ping")


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    check_prefixed(headers.get("x-hub-signature-256"), "X-Hub-Signature-256", secret, body)


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    require_object(body)
    identity = identity_from_headers(headers, "X-GitHub-Event", "X-GitHub-Delivery")
    event, delivery = identity.event_type, identity.delivery_id
    if event not in EVENTS:
        raise Rejected(400, f"event {event!r} is not a GitHub Actions event ({', '.join(EVENTS)}): send it "
                            "to a source with provider github", delivery, event)
    if event != "ping" and not isinstance(body.get(event), dict):
        raise Rejected(400, f"malformed {event}: the body has no {event} object", delivery, event)
    return identity


WEBHOOK = Webhook(
    authenticate=authenticate,
    identify=identify,
    kept_headers=frozenset({"x-github-event", "x-github-delivery", "x-github-hook-id",
                            "x-github-hook-installation-target-id", "x-github-hook-installation-target-type",
                            "x-hub-signature-256"}),
    native_headers=("X-GitHub-Event", "X-GitHub-Delivery"),
)
