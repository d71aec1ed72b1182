"""GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`; the event in
`X-GitHub-Event`, the delivery id in `X-GitHub-Delivery` (kept on redelivery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.interface import Identity, Webhook
from devmetrics_assets.providers.webhook_auth import check_prefixed, identity_from_headers, require_object


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    check_prefixed(headers.get("x-hub-signature-256"), "X-Hub-Signature-256", secret, body)


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    require_object(body)
    return identity_from_headers(headers, "X-GitHub-Event", "X-GitHub-Delivery")


WEBHOOK = Webhook(
    authenticate=authenticate,
    identify=identify,
    kept_headers=frozenset({"x-github-event", "x-github-delivery", "x-github-hook-id",
                            "x-github-hook-installation-target-id", "x-github-hook-installation-target-type",
                            "x-hub-signature-256"}),
    native_headers=("X-GitHub-Event", "X-GitHub-Delivery"),
)
