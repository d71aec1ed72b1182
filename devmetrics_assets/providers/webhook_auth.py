"""Constant-time checks every provider's webhook authentication is built from. Pure: no HTTP framework.

Every comparison with a secret is constant-time (`hmac.compare_digest`) and compares BYTES: the
header's bytes as they came over the wire (ASGI gives bytes; Starlette decodes them as latin-1, so
encoding back to latin-1 restores them) against the secret's UTF-8 bytes. A header with non-ASCII
bytes is then simply a mismatch (403), never a TypeError (compare_digest refuses non-ASCII `str`), and
a non-ASCII token sent as UTF-8 matches.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from devmetrics_assets.providers.interface import Identity, Rejected


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


def same(expected: str, given: str) -> bool:
    """Constant-time equality of a secret-derived value and a header value, as bytes."""
    return hmac.compare_digest(secret_bytes(expected), wire_bytes(given.strip()))


def check_prefixed(value: str | None, header: str, secret: str, body: bytes) -> None:
    """`<header>: sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's scheme, reused by generic senders)."""
    if not value:
        raise Rejected(401, f"unsigned: {header} header missing")
    if not same("sha256=" + hmac_hex(secret, body), value):
        raise Rejected(403, f"forged: {header} does not verify with the configured secret")


def check_token(value: str | None, header: str, secret: str) -> None:
    """A shared token sent as a header (GitLab's X-Gitlab-Token; systems that do not sign the body)."""
    if not value:
        raise Rejected(401, f"unsigned: {header} header missing")
    if not same(secret, value):
        raise Rejected(403, f"forged: {header} does not match the configured secret token")


def identity_from_headers(headers: Mapping[str, str], event_header: str, delivery_header: str) -> Identity:
    """Event type and delivery id from two headers (GitHub's scheme: X-GitHub-Event, X-GitHub-Delivery),
    or Rejected 400 naming the missing ones."""
    event, delivery = headers.get(event_header.lower()), headers.get(delivery_header.lower())
    missing = [h for h, v in ((event_header, event), (delivery_header, delivery)) if not v]
    if missing:
        raise Rejected(400, f"missing header(s): {', '.join(missing)}", delivery, event)
    return Identity(str(delivery), str(event))


def require_object(body: object) -> dict:
    if not isinstance(body, dict):
        raise Rejected(400, "malformed: the body is JSON but not an object")
    return body
