"""Recorded webhook deliveries of any provider, as the provider sent them, turned into landing envelopes.

`devmetrics load` accepts two line shapes for every provider:
- the landing envelope the receiver and the pullers write (`provider`, `event_type`, `signature_status`,
  `body_raw`; docs/contracts.md §6), whose signature was judged when it was received;
- a recorded delivery `{"received_at", "delivery_id"?, "headers", "body" | "body_raw"}`, the form GitHub's
  and GitLab's "recent deliveries" pages and most capture tools give. Its event type and delivery id come
  from the provider's own headers, and its authenticity is checked here exactly as the receiver checks it
  (receiver/providers.py: X-Hub-Signature-256, X-Gitlab-Token, X-PagerDuty-Signature, generic HMAC or
  bearer) with the source's secret, so a recorded file is never trusted more than a live delivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from devmetrics_assets import bounded_json
from devmetrics_assets.receiver.providers import Rejected, authenticate, identify, kept_headers

LANDING_KEYS = ("event_type", "signature_status")


def is_recorded(envelope: Mapping[str, Any]) -> bool:
    """A recorded delivery carries the provider's headers and no landing-envelope verdict."""
    return not any(key in envelope for key in LANDING_KEYS) and "headers" in envelope


def payload_bytes(envelope: Mapping[str, Any]) -> bytes | None:
    """The bytes the provider signed: `body_raw` when recorded, else the compact JSON of `body`."""
    raw = envelope.get("body_raw")
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    body = envelope.get("body")
    if isinstance(body, dict):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return None


def as_landing(envelope: Mapping[str, Any], provider: str, secret: str | None,
               options: Mapping[str, Any] | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(landing envelope, None), or (None, the reason the recorded delivery cannot be loaded)."""
    headers = envelope.get("headers")
    if not isinstance(headers, dict):
        return None, "headers is missing or not an object"
    lower = {str(k).lower(): v if isinstance(v, str) else json.dumps(v) for k, v in headers.items()}
    raw = payload_bytes(envelope)
    if raw is None:
        return None, "body (an object) or body_raw (text) is missing"
    try:
        status = authenticate(provider, lower, raw, secret, options or {})
        body = bounded_json.loads(raw, what="body")
        identity = identify(provider, lower, body, raw)
    except Rejected as exc:
        return None, exc.reason
    except ValueError as exc:  # too deep, not JSON, not UTF-8, a number past Python's digit limit
        return None, f"body is not usable JSON: {str(exc)[:200]}"
    delivery_id = envelope.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id:
        delivery_id = identity.delivery_id
    return {
        "received_at": envelope.get("received_at"),
        "delivery_id": delivery_id,
        "provider": provider,
        "event_type": identity.event_type,
        "signature_status": status,
        "headers": kept_headers(lower),
        "body_raw": raw.decode("utf-8", errors="surrogateescape"),
    }, None
