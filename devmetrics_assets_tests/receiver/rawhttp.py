"""Raw-socket HTTP/1.1 for the hostile-client tests: what `requests` refuses to do on purpose (dribble a
request head, stop half-way through a body, hang up early, send header bytes that are not ASCII)."""

from __future__ import annotations

import select
import selectors
import socket
import time
from urllib.parse import urlsplit

from devmetrics_assets_tests.receiver.conftest import Delivery


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def head(d: Delivery, *, content_length: int | None = None, extra: dict[str, bytes] | None = None,
         close: bool = False) -> bytes:
    """The request line and headers of `d` (Content-Length of its body unless given); `extra` header
    values are raw bytes, sent as they are (non-ASCII included)."""
    length = len(d.body) if content_length is None else content_length
    lines = [f"POST {d.path} HTTP/1.1".encode(), b"Host: 127.0.0.1", f"Content-Length: {length}".encode()]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in d.headers.items() if k not in (extra or {})]
    lines += [k.encode("latin-1") + b": " + v for k, v in (extra or {}).items()]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset); never blocks."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    finally:
        sock.setblocking(True)


def answered(sock: socket.socket) -> bool:
    """True when the server has sent something or closed (nothing is consumed); never blocks."""
    return bool(select.select([sock], [], [], 0)[0])


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection, and whether it did within `timeout`."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return b"".join(chunks), True
        if not data:
            return b"".join(chunks), True
        chunks.append(data)
    return b"".join(chunks), False


def status_of(response: bytes) -> int | None:
    """The status code of the first response in `response`, None if there is none."""
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response.split(b" ", 2)[1])


def exchange(url: str, request: bytes, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """Send one whole request (with `Connection: close`) and return the status and the raw response."""
    with connect(url, timeout) as sock:
        sock.sendall(request)
        response, _ = read_until_closed(sock, timeout)
    return status_of(response), response


def wait_all_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, tuple[float, bytes]]:
    """Wait for the server to close each of `socks`: {socket: (monotonic time it closed, bytes it sent)}
    for those it closed within `timeout`."""
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        received[sock] = b""
    closed: dict[socket.socket, tuple[float, bytes]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(closed) < len(socks) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.1):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    received[sock] += data  # type: ignore[index]
                    continue
                closed[sock] = (time.monotonic(), received[sock])  # type: ignore[index]
                selector.unregister(sock)
    finally:
        selector.close()
    return closed
