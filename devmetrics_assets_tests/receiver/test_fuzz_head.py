"""Property test (hypothesis) for the request-head deadline (receiver/server.py), on a fake clock: a
request head split at random points and delivered with random delays is served when it is complete
before the header timeout, and otherwise its connection is closed exactly at the timeout, without an
answer; with either of uvicorn's protocol classes. No sockets and no sleeping: uvicorn's protocol is
driven directly, with a loop whose timers fire when the test moves the clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from devmetrics_assets_tests.receiver.conftest import build

HEADER_TIMEOUT = 1.0
HEAD = build("github", 1)
HEAD_BYTES = (f"POST {HEAD.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(HEAD.body)}\r\n"
              + "".join(f"{k}: {v}\r\n" for k, v in HEAD.headers.items()) + "\r\n").encode()


class FakeTimer:
    def __init__(self, when: float, callback: Any, args: tuple) -> None:
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeTask:
    def add_done_callback(self, callback: Any) -> None:
        pass


class FakeLoop:
    """Just what uvicorn's protocols and the head deadline use: timers on a clock the test moves, and
    tasks that never run (the app is not under test here: a started request stays in service)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def call_later(self, delay: float, callback: Any, *args: Any) -> FakeTimer:
        timer = FakeTimer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    def create_task(self, coro: Any, **kwargs: Any) -> FakeTask:
        coro.close()
        return FakeTask()

    def advance(self, to: float) -> None:
        """Fire every timer due up to `to` (inclusive), in order."""
        while due := sorted((t for t in self.timers if not t.cancelled and t.when <= to),
                            key=lambda t: t.when):
            self.timers.remove(due[0])
            self.now = due[0].when
            due[0].callback(*due[0].args)
        self.now = max(self.now, to)


class FakeTransport:
    def __init__(self, loop: FakeLoop) -> None:
        self.loop, self.closed_at, self.written = loop, None, b""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8787), "peername": ("127.0.0.1", 40000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = self.loop.now

    def is_closing(self) -> bool:
        return self.closed_at is not None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def protocol_bases() -> list[type]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return [H11Protocol]
    return [H11Protocol, HttpToolsProtocol]


def connection(base: type) -> tuple[Any, FakeLoop, FakeTransport]:
    import uvicorn
    from uvicorn.server import ServerState

    from devmetrics_assets.receiver.server import guarded_protocol

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called: tasks do not run
        raise AssertionError

    cls = guarded_protocol(HEADER_TIMEOUT, base)
    config = uvicorn.Config(app, http=cls, ws="none", log_config=None, lifespan="off")
    config.load()
    loop = FakeLoop()
    protocol = cls(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    transport = FakeTransport(loop)
    protocol.connection_made(transport)
    return protocol, loop, transport


@settings(max_examples=80, deadline=None, database=None)
@given(base=st.sampled_from(protocol_bases()),
       cuts=st.lists(st.integers(1, len(HEAD_BYTES) - 1), unique=True, max_size=12),
       gaps=st.lists(st.floats(0, 0.5), min_size=13, max_size=13), complete=st.booleans())
# Defect 1 (server.HeadDeadline): a head dribbled a byte every 50 ms, or never finished, held the
# connection forever.
@example(base=protocol_bases()[-1], cuts=list(range(1, 13)), gaps=[0.05] * 13, complete=False)
@example(base=protocol_bases()[0], cuts=[], gaps=[0.0] * 13, complete=False)
def test_a_head_is_served_if_complete_in_time_else_the_connection_closes_at_the_deadline(
        base, cuts, gaps, complete):
    data = HEAD_BYTES if complete else HEAD_BYTES[:-2]
    edges = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    protocol, loop, transport = connection(base)
    at = 0.0
    for chunk, gap in zip(chunks, gaps, strict=False):
        at += gap
        loop.advance(at)
        if transport.is_closing():
            break
        protocol.data_received(chunk)
    last = at
    loop.advance(last + 100 * HEADER_TIMEOUT)
    if complete and last < HEADER_TIMEOUT:
        assert transport.closed_at is None  # in service: the body deadline is the app's
    else:
        assert transport.closed_at == pytest.approx(HEADER_TIMEOUT)
    assert transport.written == b""  # closed without an answer: there is no request to answer


@pytest.mark.parametrize("base", protocol_bases(), ids=lambda b: b.__name__)
def test_a_head_larger_than_the_bound_is_refused_at_once(base):
    protocol, loop, transport = connection(base)
    protocol.data_received(HEAD_BYTES[:-2])
    for _ in range(80):
        if transport.is_closing():
            break
        protocol.data_received(b"X-Padding: " + b"p" * 1000 + b"\r\n")
    assert transport.is_closing() and loop.now == 0.0
    assert transport.written.split(b" ", 2)[1] in (b"400", b"431")  # h11's own bound, or ours


def respond(protocol: Any, status: int) -> None:
    """What the app does when it refuses a request before reading its body (413 on Content-Length)."""
    for message in ({"type": "http.response.start", "status": status, "headers": []},
                    {"type": "http.response.body", "body": b"", "more_body": False}):
        with pytest.raises(StopIteration):
            protocol.cycle.send(message).send(None)  # never suspends: nothing to wait for


@pytest.mark.parametrize("base", protocol_bases(), ids=lambda b: b.__name__)
def test_the_rest_of_a_body_refused_early_is_bounded_without_a_second_answer(base):
    protocol, loop, transport = connection(base)
    head = HEAD_BYTES.replace(f"Content-Length: {len(HEAD.body)}".encode(), b"Content-Length: 1000000")
    protocol.data_received(head)
    respond(protocol, 413)
    answered = transport.written
    assert answered.startswith(b"HTTP/1.1 413") and not transport.is_closing()
    for _ in range(200):
        if transport.is_closing():
            break
        protocol.data_received(b"b" * 1000)
    assert transport.is_closing() and loop.now == 0.0
    assert transport.written == answered  # closed past the bound, no 431 after the 413
