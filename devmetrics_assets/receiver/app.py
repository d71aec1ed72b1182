"""The webhook receiver: an ASGI (Starlette) app that lands verified deliveries durably.

POST /webhooks/{github|gitlab|pagerduty|generic}/{source}  — one endpoint per source of sources.yaml
GET  /healthz                                                — liveness and counters

A delivery is answered 2xx only after its envelope line (docs/contracts.md §6) is appended to
`landing/<source>/<received day>.jsonl` and fsynced (store.py, group commit). Every refusal says why:
404 unknown source, 413 too large, 415 not JSON, 401 unsigned, 403 forged, 400 malformed or missing
headers, 503 not stored (retry). Refusals are written to the rejects log without secrets and never
loaded. Secrets come from the environment variables named in sources.yaml and are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devmetrics_assets.config import Settings
from devmetrics_assets.receiver.providers import Rejected, authenticate, identify, kept_headers
from devmetrics_assets.receiver.store import REJECTS_DIR, LandingStore, Pending, StoreError
from devmetrics_assets.sources.landing_files import encode_line, envelope
from devmetrics_assets.sources.registry import SourceSpec

log = logging.getLogger("devmetrics.receiver")

# GitHub caps webhook payloads at 25 MB; a source can set a lower `options.max_body_bytes`.
DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
# Source types whose Bronze reader reads the receiver's envelopes.
WEBHOOK_TYPES = ("landing_jsonl", "github_jsonl")
REJECT_EXCERPT_BYTES = 2048


class ReceiverConfigError(ValueError):
    """The receiver cannot start safely (a webhook source without a secret, no webhook source)."""


@dataclass(frozen=True)
class Endpoint:
    spec: SourceSpec
    max_body_bytes: int
    secret: str | None = field(default=None, repr=False)


def webhook_sources(sources: list[SourceSpec]) -> list[SourceSpec]:
    return [s for s in sources if s.type in WEBHOOK_TYPES]


def resolve_endpoints(
    sources: list[SourceSpec], environ: Mapping[str, str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> dict[str, Endpoint]:
    """One endpoint per webhook source, with its secret read from the environment.

    Fails closed: a source whose secret variable is unset refuses to start unless it declares
    `options.allow_unsigned: true` (then its deliveries are stored as `unchecked`).
    """
    environ = os.environ if environ is None else environ
    endpoints: dict[str, Endpoint] = {}
    for spec in webhook_sources(sources):
        secret = environ.get(spec.secret_env) if spec.secret_env else None
        if not secret and not spec.options.get("allow_unsigned", False):
            wanted = f"set the environment variable {spec.secret_env}" if spec.secret_env else (
                "name the environment variable holding its secret in secret_env")
            raise ReceiverConfigError(
                f"source {spec.name!r}: no webhook secret: {wanted}, or set options.allow_unsigned: true "
                "to accept unverified deliveries")
        limit = int(spec.options.get("max_body_bytes", max_body_bytes))
        endpoints[spec.name] = Endpoint(spec=spec, max_body_bytes=limit, secret=secret or None)
    if not endpoints:
        raise ReceiverConfigError(f"no webhook source: declare a source of type {' or '.join(WEBHOOK_TYPES)}")
    return endpoints


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it is known to exceed `limit`, before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise Rejected(400, "malformed: Content-Length is not a number") from None
        if length > limit:
            raise Rejected(413, f"body of {length} bytes exceeds this source's limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"body exceeds this source's limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes, content_type: str) -> object:
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        raise Rejected(415, "form-encoded payload: set the webhook's content type to application/json")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Rejected(400, "malformed: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Rejected(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def create_app(
    sources: list[SourceSpec],
    *,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    fsync: Callable[[int], None] = os.fsync,
) -> Starlette:
    """The receiver for the webhook sources among `sources` (types landing_jsonl, github_jsonl)."""
    settings = settings or Settings.from_env()
    endpoints = resolve_endpoints(sources, environ, max_body_bytes)
    rejects_dir = Path(settings.landing_dir) / REJECTS_DIR
    store = LandingStore({n: e.spec.landing_dir for n, e in endpoints.items()}, rejects_dir, fsync=fsync)

    def refuse(request: Request, provider: str, source: str, received_at: datetime, exc: Rejected,
               raw: bytes | None) -> JSONResponse:
        store.reject({
            "received_at": received_at.isoformat(), "source": source, "provider": provider,
            "status": exc.status, "reason": exc.reason, "delivery_id": exc.delivery_id,
            "event_type": exc.event_type, "client": request.client.host if request.client else None,
            "headers": kept_headers(request.headers),
            "body_bytes": None if raw is None else len(raw),
            "body_excerpt": None if raw is None else raw[:REJECT_EXCERPT_BYTES].decode("utf-8", "replace"),
        })
        log.warning("refused %s delivery for source %r: %s %s", provider, source, exc.status, exc.reason)
        return JSONResponse({"status": "rejected", "reason": exc.reason}, status_code=exc.status)

    async def receive(request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        provider = request.path_params["provider"]
        source = request.path_params["source"]
        raw: bytes | None = None
        try:
            endpoint = endpoints.get(source)
            if endpoint is None:
                raise Rejected(404, f"no webhook source named {source!r}")
            if endpoint.spec.provider != provider:
                raise Rejected(404, f"source {source!r} receives {endpoint.spec.provider} webhooks: "
                                    f"POST to /webhooks/{endpoint.spec.provider}/{source}")
            raw = await read_body(request, endpoint.max_body_bytes)
            status = authenticate(provider, request.headers, raw, endpoint.secret, endpoint.spec.options)
            body = parse_json(raw, request.headers.get("content-type", ""))
            identity = identify(provider, request.headers, body, raw)
        except Rejected as exc:
            return refuse(request, provider, source, received_at, exc, raw)
        line = encode_line(envelope(
            received_at=received_at, delivery_id=identity.delivery_id, provider=provider,
            event_type=identity.event_type, signature_status=status, headers=kept_headers(request.headers),
            # The exact bytes received (and signed), so Bronze keeps the payload whole.
            body_raw=raw.decode("utf-8")))
        try:
            result = await store.put(source, Pending(identity.delivery_id, received_at, line))
        except StoreError:
            return JSONResponse({"status": "error", "reason": "delivery not stored; retry later"},
                                status_code=503)
        return JSONResponse({"status": result, "delivery_id": identity.delivery_id})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "sources": len(endpoints), **store.stats.as_dict()})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.close()

    app = Starlette(
        routes=[Route("/webhooks/{provider}/{source}", receive, methods=["POST"]),
                Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.endpoints = endpoints
    return app
