"""Generic webhooks: `X-Signature-256: sha256=<hex HMAC-SHA256>` or `Authorization: Bearer <secret>`
(`options.generic_auth`: either | hmac | bearer); the body is validated by schema.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers.generic import schema
from devmetrics_assets.providers.interface import Identity, Rejected, Webhook
from devmetrics_assets.providers.webhook_auth import check_prefixed, require_object, same


def authenticate(headers: Mapping[str, str], body: bytes, secret: str, options: Mapping[str, Any]) -> None:
    mode = options.get("generic_auth", "either")
    signature = headers.get("x-signature-256")
    authorization = headers.get("authorization", "")
    bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
    if signature and mode in ("either", "hmac"):
        check_prefixed(signature, "X-Signature-256", secret, body)
    elif bearer and mode in ("either", "bearer"):
        if not same(secret, bearer):
            raise Rejected(403, "forged: the bearer token does not match the configured secret")
    else:
        wanted = {"either": "X-Signature-256 or Authorization: Bearer", "hmac": "X-Signature-256",
                  "bearer": "Authorization: Bearer"}[mode]
        raise Rejected(401, f"unsigned: {wanted} header missing")


def identify(headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    event_type, problems = schema.validate(require_object(body))
    if problems:
        raise Rejected(400, "malformed generic record: " + "; ".join(problems), event_type=event_type)
    return Identity(headers.get("x-delivery-id") or schema.delivery_id(body), event_type)


WEBHOOK = Webhook(authenticate=authenticate, identify=identify,
                  kept_headers=frozenset({"x-delivery-id", "x-signature-256"}))
