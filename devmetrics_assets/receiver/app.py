"""The webhook receiver: an ASGI (Starlette) app that lands verified deliveries durably.

POST /webhooks/{provider}/{source}  — one endpoint per source of sources.yaml (providers/<name>/webhook.py
                                      says how each provider is authenticated and identified)
GET  /healthz                                                — liveness and counters

A delivery is answered 2xx only after its envelope line (docs/contracts.md §6) is appended to
`landing/<source>/<received day>.jsonl` and fsynced (store.py, group commit). Every refusal says why:
404 unknown source, 413 too large, 415 not JSON, 401 unsigned, 403 forged, 400 malformed or missing
headers or JSON nested deeper than bounded_json.MAX_JSON_DEPTH (128), 408 body not received within
`body_timeout` (default 30 s, then the connection is closed), 503 not stored (retry). Refusals are written
to the rejects log without secrets and never loaded; so are 503s, and bodies cut off by a client that
disconnects (status 499, nginx's "client closed request": nobody gets the answer, the log has the trace).
Secrets come from the environment variables named in sources.yaml and are never logged.

The body deadline is the app's because only the app knows a request is still being read; the deadline
for the request HEAD (slowloris clients that never finish their headers) is the server's: server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devmetrics_assets import bounded_json
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
# The whole body must arrive within this many seconds of the request head: a GitHub payload at its 25 MB
# cap needs about 0.9 MB/s, and real deliveries take milliseconds.
DEFAULT_BODY_TIMEOUT = 30.0
# nginx's status for "client closed request": logged in the rejects log, never sent (nobody listens).
CLIENT_CLOSED = 499


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


async def read_body(request: Request, limit: int, timeout: float | None = None) -> bytes:
    """The raw body, refusing (413) as soon as it is known to exceed `limit`, before reading it all.

    The whole body must arrive within `timeout` seconds (408 otherwise), so a client that sends its
    headers and then trickles or withholds the body cannot hold a connection and its buffer forever.
    A client that disconnects mid-body is Rejected(499), not an error: nothing is stored either way.
    """
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
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise Rejected(413, f"body exceeds this source's limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise Rejected(408, f"body not received within {timeout:g} s ({size} bytes arrived"
                            f"{'' if declared is None else f' of {declared}'})") from None
    except ClientDisconnect:
        raise Rejected(CLIENT_CLOSED, f"client disconnected after {size} bytes of the body"
                                      f"{'' if declared is None else f' (of {declared})'}") from None
    return b"".join(chunks)


def parse_json(raw: bytes, content_type: str) -> object:
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        raise Rejected(415, "form-encoded payload: set the webhook's content type to application/json")
    try:
        return bounded_json.loads(raw.decode("utf-8"), what="the body")
    except UnicodeDecodeError:
        raise Rejected(400, "malformed: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise Rejected(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except bounded_json.JsonTooDeepError as exc:
        raise Rejected(400, f"malformed: {exc}") from None
    except (ValueError, RecursionError) as exc:
        # ValueError: an integer of more than 4300 digits (Python's int conversion limit). RecursionError
        # cannot happen under the depth bound; kept so a parser change can never turn into a 500.
        raise Rejected(400, f"malformed JSON: {str(exc)[:200]}") from None


def create_app(
    sources: list[SourceSpec],
    *,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
    fsync: Callable[[int], None] = os.fsync,
) -> Starlette:
    """The receiver for the webhook sources among `sources` (types landing_jsonl, github_jsonl).

    `body_timeout` (seconds, None for none) bounds how long a request's body may take to arrive.
    """
    if body_timeout is not None and body_timeout <= 0:
        raise ReceiverConfigError(f"body_timeout must be positive, got {body_timeout}")
    settings = settings or Settings.from_env()
    endpoints = resolve_endpoints(sources, environ, max_body_bytes)
    rejects_dir = Path(settings.landing_dir) / REJECTS_DIR
    store = LandingStore({n: e.spec.landing_dir for n, e in endpoints.items()}, rejects_dir, fsync=fsync)

    def record(request: Request, provider: str, source: str, received_at: datetime, exc: Rejected,
               raw: bytes | None) -> None:
        store.reject({
            "received_at": received_at.isoformat(), "source": source, "provider": provider,
            "status": exc.status, "reason": exc.reason, "delivery_id": exc.delivery_id,
            "event_type": exc.event_type, "client": request.client.host if request.client else None,
            "headers": kept_headers(request.headers),
            "body_bytes": None if raw is None else len(raw),
            "body_excerpt": None if raw is None else raw[:REJECT_EXCERPT_BYTES].decode("utf-8", "replace"),
        })

    def refuse(request: Request, provider: str, source: str, received_at: datetime, exc: Rejected,
               raw: bytes | None) -> JSONResponse:
        record(request, provider, source, received_at, exc, raw)
        if exc.status == CLIENT_CLOSED:  # the sender's problem, not ours: no traceback, one line
            log.info("%r delivery for source %r cut off: %s", provider, source, exc.reason)
        else:
            log.warning("refused %r delivery for source %r: %s %s", provider, source, exc.status, exc.reason)
        # After a 408 the rest of the body may still be on its way: close rather than parse it as a request.
        headers = {"Connection": "close"} if exc.status == 408 else None
        return JSONResponse({"status": "rejected", "reason": exc.reason}, status_code=exc.status,
                            headers=headers)

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
            raw = await read_body(request, endpoint.max_body_bytes, body_timeout)
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
        except StoreError as exc:  # already logged by the store
            record(request, provider, source, received_at,
                   Rejected(503, str(exc), identity.delivery_id, identity.event_type), raw)
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
