"""What each provider's webhook must carry, and how its authenticity is checked. Pure: no HTTP framework.

- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`; event in `X-GitHub-Event`,
  delivery id in `X-GitHub-Delivery` (kept on redelivery).
- GitLab: `X-Gitlab-Token` equals the configured secret token (GitLab does not sign the body); event
  in `X-Gitlab-Event`, delivery id in `X-Gitlab-Event-UUID` (else `Idempotency-Key`, else the body hash).
- PagerDuty v3: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256>[,v1=<hex>...]` (several during a secret
  rotation; one match suffices); event `event.event_type`, delivery id `event.id` in the body.
- Generic: `X-Signature-256: sha256=<hex HMAC-SHA256>` or `Authorization: Bearer <secret>`
  (`options.generic_auth`: either | hmac | bearer); body validated by receiver/generic.py.

Every comparison with a secret is constant-time (`hmac.compare_digest`) and compares BYTES: the
header's bytes as they came over the wire (ASGI gives bytes; Starlette decodes them as latin-1, so
encoding back to latin-1 restores them) against the secret's UTF-8 bytes. A header with non-ASCII
bytes is then simply a mismatch (403), never a TypeError (compare_digest refuses non-ASCII `str`), and
a non-ASCII token sent as UTF-8 matches. Headers are passed as a mapping with lower-case
names (what ASGI servers give).

Delivery ids longer than MAX_DELIVERY_ID_CHARS are refused: they key the landing index and no provider
sends more than a few dozen characters.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devmetrics_assets.receiver import generic

PROVIDERS = ("github", "gitlab", "pagerduty", "generic")
MAX_DELIVERY_ID_CHARS = 1024
# Headers worth keeping with a delivery. An allow-list, so a credential header (X-Gitlab-Token,
# Authorization, cookies, a proxy's API key) can never reach the landing files or the rejects log.
KEPT_HEADERS = frozenset({
    "content-type", "user-agent", "x-github-event", "x-github-delivery", "x-github-hook-id",
    "x-github-hook-installation-target-id", "x-github-hook-installation-target-type",
    "x-hub-signature-256", "x-gitlab-event", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid",
    "x-gitlab-instance", "idempotency-key", "x-pagerduty-signature", "x-webhook-id",
    "x-delivery-id", "x-signature-256",
})


class Rejected(Exception):
    """A delivery refused with an HTTP status and a reason safe to show the sender."""

    def __init__(self, status: int, reason: str, delivery_id: str | None = None,
                 event_type: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.delivery_id = delivery_id
        self.event_type = event_type


@dataclass(frozen=True)
class Identity:
    delivery_id: str
    event_type: str


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}


def secret_bytes(secret: str) -> bytes:
    """The secret's bytes: UTF-8, and an environment value that was not UTF-8 (os.environ decodes it
    with surrogateescape) gets its original bytes back instead of raising."""
    try:
        return secret.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that did not come from os.environ
        return secret.encode("utf-8", "surrogatepass")


def wire_bytes(value: str) -> bytes:
    """A header value's bytes as received (Starlette decodes header bytes as latin-1: lossless)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from an ASGI server: any str is still comparable, never an error
        return value.encode("utf-8", "surrogatepass")


def hmac_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret_bytes(secret), body, hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(secret_bytes(expected), wire_bytes(given.strip()))


def authenticate(provider: str, headers: Mapping[str, str], body: bytes, secret: str | None,
                 options: Mapping[str, Any] | None = None) -> str:
    """The delivery's `signature_status` (verified | unchecked), or Rejected 401 (unsigned) / 403 (forged).

    Without a secret the receiver only runs when the source sets `allow_unsigned: true`; deliveries are
    then stored as `unchecked`.
    """
    if secret is None:
        return "unchecked"
    if provider == "github":
        _check_prefixed(headers.get("x-hub-signature-256"), "X-Hub-Signature-256", secret, body)
    elif provider == "gitlab":
        token = headers.get("x-gitlab-token")
        if not token:
            raise Rejected(401, "unsigned: X-Gitlab-Token header missing")
        if not _same(secret, token):
            raise Rejected(403, "forged: X-Gitlab-Token does not match the configured secret token")
    elif provider == "pagerduty":
        _check_pagerduty(headers.get("x-pagerduty-signature"), secret, body)
    elif provider == "generic":
        _check_generic(headers, secret, body, (options or {}).get("generic_auth", "either"))
    else:
        raise Rejected(404, f"unknown provider {provider!r}")
    return "verified"


def _check_prefixed(value: str | None, header: str, secret: str, body: bytes) -> None:
    if not value:
        raise Rejected(401, f"unsigned: {header} header missing")
    if not _same("sha256=" + hmac_hex(secret, body), value):
        raise Rejected(403, f"forged: {header} does not verify with the configured secret")


def _check_pagerduty(value: str | None, secret: str, body: bytes) -> None:
    signatures = [s.strip() for s in (value or "").split(",") if s.strip().startswith("v1=")]
    if not signatures:
        raise Rejected(401, "unsigned: X-PagerDuty-Signature header missing or without a v1= signature")
    expected = "v1=" + hmac_hex(secret, body)
    # Compare against every signature (no early exit) so timing does not reveal which one matched.
    matches = [_same(expected, s) for s in signatures]
    if not any(matches):
        raise Rejected(403, "forged: no X-PagerDuty-Signature v1 signature verifies with the "
                            "configured secret")


def _check_generic(headers: Mapping[str, str], secret: str, body: bytes, mode: str) -> None:
    signature = headers.get("x-signature-256")
    authorization = headers.get("authorization", "")
    bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
    if signature and mode in ("either", "hmac"):
        _check_prefixed(signature, "X-Signature-256", secret, body)
    elif bearer and mode in ("either", "bearer"):
        if not _same(secret, bearer):
            raise Rejected(403, "forged: the bearer token does not match the configured secret")
    else:
        wanted = {"either": "X-Signature-256 or Authorization: Bearer", "hmac": "X-Signature-256",
                  "bearer": "Authorization: Bearer"}[mode]
        raise Rejected(401, f"unsigned: {wanted} header missing")


def identify(provider: str, headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    """Delivery id and event type (contracts §6), or Rejected 400 naming what is missing or too long.

    Looks at the top of the body only (no recursion), so any body bounded_json accepts is safe here.
    """
    identity = _identify(provider, headers, body, raw)
    for what, value in (("delivery id", identity.delivery_id), ("event type", identity.event_type)):
        if len(value) > MAX_DELIVERY_ID_CHARS:
            raise Rejected(400, f"malformed: a {what} of {len(value)} characters; the limit is "
                                f"{MAX_DELIVERY_ID_CHARS}")
    return identity


def _identify(provider: str, headers: Mapping[str, str], body: Any, raw: bytes) -> Identity:
    if not isinstance(body, dict):
        raise Rejected(400, "malformed: the body is JSON but not an object")
    if provider == "github":
        event, delivery = headers.get("x-github-event"), headers.get("x-github-delivery")
        missing = [h for h, v in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)) if not v]
        if missing:
            raise Rejected(400, f"missing header(s): {', '.join(missing)}", delivery, event)
        return Identity(delivery, event)
    if provider == "gitlab":
        event = headers.get("x-gitlab-event")
        if not event:
            raise Rejected(400, "missing header(s): X-Gitlab-Event")
        delivery = (headers.get("x-gitlab-event-uuid") or headers.get("idempotency-key")
                    or "sha256:" + hashlib.sha256(raw).hexdigest())
        return Identity(delivery, event)
    if provider == "pagerduty":
        event = body.get("event")
        event_id = event.get("id") if isinstance(event, dict) else None
        event_type = event.get("event_type") if isinstance(event, dict) else None
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type):
            raise Rejected(400, "malformed: a PagerDuty v3 body needs event.id and event.event_type")
        return Identity(event_id, event_type)
    if provider == "generic":
        event_type, problems = generic.validate(body)
        if problems:
            raise Rejected(400, "malformed generic record: " + "; ".join(problems), event_type=event_type)
        return Identity(headers.get("x-delivery-id") or generic.delivery_id(body), event_type)
    raise Rejected(404, f"unknown provider {provider!r}")
