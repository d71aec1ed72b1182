"""A real HTTP API on 127.0.0.1 for the pull tests (http.server in a thread, no mocks of the client).

Routes map a path to a handler `(request) -> Reply`; helpers build the providers' listing styles
(GitHub/GitLab `Link: rel="next"` pages, PagerDuty offset/limit/more) with ETags. Faults are scripted
per path and consumed in order before the route answers: an HTTP status (with headers/body), a sleep
beyond the client's timeout, a connection reset, or a malformed body.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devmetrics_assets.sources.pull.http import HttpClient, RetryPolicy


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Fault:
    kind: str  # status | sleep | reset | body
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b'{"message": "boom"}') -> Fault:
    return Fault("status", status=code, headers=headers or {}, body=body)


def sleep(seconds: float) -> Fault:
    return Fault("sleep", seconds=seconds)


def reset() -> Fault:
    return Fault("reset")


def malformed(body: bytes = b'[{"id": 1, "trunc') -> Fault:
    return Fault("body", body=body)


def json_reply(
    data: Any, *, etag: bool = False, request: Request | None = None, headers: dict[str, str] | None = None
) -> Reply:
    body = json.dumps(data).encode("utf-8")
    out = dict(headers or {})
    out["Content-Type"] = "application/json"
    if etag:
        tag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        out["ETag"] = tag
        if request is not None and request.headers.get("if-none-match") == tag:
            return Reply(304, out, b"")
    return Reply(200, out, body)


class FakeApi:
    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Request], Reply]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[tuple[Request, int]] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                api._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # a client that timed out closed the socket
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, path: str, handler: Callable[[Request], Reply]) -> None:
        self.routes[path] = handler

    def fault(self, path: str, *faults: Fault) -> None:
        with self._lock:
            self.faults.setdefault(path, []).extend(faults)

    def requests_to(self, path: str) -> list[tuple[Request, int]]:
        return [(r, s) for r, s in self.log if r.path == path]

    # ------------------------------------------------------------------ listing styles
    def link_pages(
        self, path: str, items_for: Callable[[Request], list[Any]], *, page_size: int, etag: bool = False
    ) -> None:
        """GitHub/GitLab style: `?page=N&per_page=M`, `Link: <...page=N+1>; rel="next"`."""

        def handler(request: Request) -> Reply:
            items = items_for(request)
            size = min(page_size, int(request.arg("per_page", str(page_size))))
            page = int(request.arg("page", "1"))
            chunk = items[(page - 1) * size : page * size]
            headers = {}
            if page * size < len(items):
                query = {k: v for k, v in request.query.items() if k != "page"}
                query["page"] = [str(page + 1)]
                nxt = f"{self.base_url}{path}?{urllib.parse.urlencode(query, doseq=True)}"
                last_q = {**query, "page": [str((len(items) + size - 1) // size)]}
                last = f"{self.base_url}{path}?{urllib.parse.urlencode(last_q, doseq=True)}"
                headers["Link"] = f'<{nxt}>; rel="next", <{last}>; rel="last"'
            return json_reply(chunk, etag=etag, request=request, headers=headers)

        self.route(path, handler)

    def offset_pages(self, path: str, key: str, items_for: Callable[[Request], list[Any]]) -> None:
        """PagerDuty style: `?offset=&limit=`, body `{key: [...], limit, offset, more}`."""

        def handler(request: Request) -> Reply:
            items = items_for(request)
            limit, offset = int(request.arg("limit", "25")), int(request.arg("offset", "0"))
            chunk = items[offset : offset + limit]
            return json_reply(
                {
                    key: chunk,
                    "limit": limit,
                    "offset": offset,
                    "more": offset + limit < len(items),
                    "total": None,
                }
            )

        self.route(path, handler)

    # ------------------------------------------------------------------ serving
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        request = Request(
            parts.path, urllib.parse.parse_qs(parts.query), {k.lower(): v for k, v in handler.headers.items()}
        )
        with self._lock:
            queue = self.faults.get(request.path)
            fault = queue.pop(0) if queue else None
        reply: Reply
        if fault is not None and fault.kind == "reset":
            self.log.append((request, 0))
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "sleep":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            reply = Reply(fault.status, {"Content-Type": "application/json", **fault.headers}, fault.body)
        elif fault is not None and fault.kind == "body":
            reply = Reply(200, {"Content-Type": "application/json"}, fault.body)
        elif request.path in self.routes:
            reply = self.routes[request.path](request)
        else:
            reply = Reply(404, {"Content-Type": "application/json"}, b'{"message": "Not Found"}')
        self.log.append((request, reply.status))
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        except OSError:
            pass


class FakeTime:
    """A clock that only moves when the client sleeps: waits are recorded and instantaneous."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_client(
    fake_time: FakeTime, *, seed: int = 7, cache: Any = None, headers: dict | None = None, **policy: Any
) -> HttpClient:
    defaults = {
        "max_attempts": 6,
        "base_delay": 1.0,
        "max_delay": 8.0,
        "max_total_delay": 60.0,
        "timeout": 2.0,
    }
    return HttpClient(
        headers=headers,
        policy=RetryPolicy(**{**defaults, **policy}),
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        rng=random.Random(seed),
        cache=cache,
    )
