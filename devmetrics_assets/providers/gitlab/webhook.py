"""GitLab webhooks: `X-Gitlab-Token` equals the configured secret token (GitLab does not sign the body);
the event in `X-Gitlab-Event`, the delivery id in `X-Gitlab-Event-UUID` (else `Idempotency-Key`, else
the body's hash)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import check_token, require_object


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    check_token(headers.get("x-gitlab-token"), "X-Gitlab-Token", secret)


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    require_object(body)
    event = headers.get("x-gitlab-event")
    if not event:
        raise Rejected(400, "missing header(s): X-Gitlab-Event")
    delivery = (headers.get("x-gitlab-event-uuid") or headers.get("idempotency-key")
                or "sha256:" + hashlib.sha256(raw).hexdigest())
    return Identity(delivery, event)


WEBHOOK = Webhook(
    authenticate=authenticate,
    identify=identify,
    kept_headers=frozenset({"x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid",
                            "x-gitlab-instance"}),
    native_headers=("X-Gitlab-Event", "X-Gitlab-Event-UUID"),
)
