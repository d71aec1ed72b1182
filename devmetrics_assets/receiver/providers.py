"""What a webhook must carry, and how its authenticity is checked: dispatch to the provider's own rules
(providers/<name>/webhook.py) through the registry. Pure: no HTTP framework.

Headers are passed as a mapping with lower-case names (what ASGI servers give). Delivery ids longer than
MAX_DELIVERY_ID_CHARS are refused: they key the landing index and no provider sends more than a few
dozen characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.providers.interface import Identity, Rejected, Webhook

MAX_DELIVERY_ID_CHARS = 1024
# Headers worth keeping with a delivery. An allow-list, so a credential header (X-Gitlab-Token,
# Authorization, cookies, a proxy's API key) can never reach the landing files or the rejects log.
KEPT_HEADERS = frozenset({"content-type", "user-agent", "idempotency-key"}).union(
    *(p.webhook.kept_headers for p in PROVIDERS.values())
)

__all__ = ["KEPT_HEADERS", "MAX_DELIVERY_ID_CHARS", "Identity", "Rejected", "authenticate", "identify",
           "kept_headers"]


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}


def _webhook(provider: str) -> Webhook:
    found = PROVIDERS.get(provider)
    if found is None:
        raise Rejected(404, f"unknown provider {provider!r}")
    return found.webhook


def authenticate(provider: str, headers: Mapping[str, str], body: bytes, secret: str | None,
                 options: Mapping[str, Any] | None = None) -> str:
    """The delivery's `signature_status` (verified | unchecked), or Rejected 401 (unsigned) / 403 (forged).

    Without a secret the receiver only runs when the source sets `allow_unsigned: true`; deliveries are
    then stored as `unchecked`.
    """
    webhook = _webhook(provider)
    if secret is None:
        return "unchecked"
    webhook.authenticate(headers, body, secret, options or {})
    return "verified"


def identify(provider: str, headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    """Delivery id and event type (contracts §6), or Rejected 400 naming what is missing or too long.

    Looks at the top of the body only (no recursion), so any body bounded_json accepts is safe here.
    """
    identity = _webhook(provider).identify(headers, body, raw)
    for what, value in (("delivery id", identity.delivery_id), ("event type", identity.event_type)):
        if len(value) > MAX_DELIVERY_ID_CHARS:
            raise Rejected(400, f"malformed: a {what} of {len(value)} characters; the limit is "
                                f"{MAX_DELIVERY_ID_CHARS}")
    return identity
