"""How the receiver is served: uvicorn with a deadline for the request head, which uvicorn lacks.

uvicorn only times out IDLE keep-alive connections (`timeout_keep_alive`, between requests). A client
that connects and sends nothing, or sends its request head a byte at a time (slowloris), holds a
connection open forever: a few hundred of them exhaust file descriptors and memory while sending almost
nothing. `guarded_protocol(header_timeout)` is uvicorn's HTTP/1.1 protocol (httptools when installed,
as uvicorn's own default, else h11) with a head deadline:

- the clock starts when the connection is accepted and, on a keep-alive connection, at the first byte
  after the previous response (until then uvicorn's keep-alive timer closes an idle connection);
- it stops when the parser has a whole request head and the app starts: from there the BODY deadline
  is the app's (`create_app(body_timeout=...)`, answered 408, see app.py);
- when it fires while no request is being served, the connection is closed without an answer (there
  is no request to answer) and one INFO line is logged.

Bytes received while no request is being served are also bounded (MAX_HEAD_BYTES, answered 431): h11
refuses heads over 16 KiB by itself, httptools has no bound at all. They include the rest of a body the
app refused before reading it (413 on its declared Content-Length): such a client is cut off after
64 KiB more instead of being read to the end. WebSocket upgrades are switched off (`ws="none"`):
the receiver has no WebSocket route, and an upgraded connection would escape the deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn

log = logging.getLogger("devmetrics.receiver")

DEFAULT_HEADER_TIMEOUT = 10.0
MAX_HEAD_BYTES = 64 * 1024
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
              b"content-length: 25\r\nconnection: close\r\n\r\nrequest head is too large")


def _base_protocol() -> type[asyncio.Protocol]:
    """The class uvicorn's `http="auto"` would pick: httptools if installed (faster), else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional (uvicorn[standard])
        from uvicorn.protocols.http.h11_impl import H11Protocol
        return H11Protocol
    return HttpToolsProtocol


class HeadDeadline:
    """Mixin over uvicorn's H11Protocol / HttpToolsProtocol (both keep the request in service in
    `self.cycle` and call `on_response_complete`): close connections that do not deliver a request head
    within `header_timeout` seconds. Timer handles only, no task per connection."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_head_bytes: int = MAX_HEAD_BYTES
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes: int = 0
    # Provided by the uvicorn protocol class this is mixed into.
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None

    def _serving(self) -> bool:
        """A request's head is complete and its response is not finished yet."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._head_bytes = 0

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._serving() or self.transport.is_closing():
            return
        log.info("closed the connection from %s: no complete request head within %gs (%d bytes received)",
                 self.client[0] if self.client else "?", self.header_timeout, self._head_bytes)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if not self._serving():
            self._arm_head_timer()
            self._head_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        if self._serving():
            self._disarm_head_timer()
        elif self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            log.info("closed the connection from %s: %d bytes without a complete request head",
                     self.client[0] if self.client else "?", self._head_bytes)
            if self.cycle is None or not self.cycle.more_body:
                # Else these bytes are the rest of a body already refused early (413 on its declared
                # length): that request has its answer, a second one would confuse the client.
                self.transport.write(_TOO_LARGE)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._serving():  # a pipelined request started at once
            self._disarm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]


def guarded_protocol(header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                     base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (or `base`) with the head deadline; pass it as uvicorn's `http`."""
    if header_timeout <= 0:
        raise ValueError(f"header_timeout must be positive, got {header_timeout}")
    base = base or _base_protocol()
    return type(f"HeadDeadline{base.__name__}", (HeadDeadline, base), {"header_timeout": header_timeout})


def server_config(app: Any, *, host: str = "127.0.0.1", port: int = 8787,
                  header_timeout: float = DEFAULT_HEADER_TIMEOUT, base: type[asyncio.Protocol] | None = None,
                  **options: Any) -> uvicorn.Config:
    """The uvicorn configuration the receiver runs with (CLI, bench, tests): head deadline, no WebSockets.

    `base` picks uvicorn's protocol class to guard (default: httptools if installed, else h11); `options`
    go to uvicorn.Config as they are (log_level, access_log, timeout_graceful_shutdown...).
    """
    return uvicorn.Config(app, host=host, port=port, http=guarded_protocol(header_timeout, base), ws="none",
                          **options)
