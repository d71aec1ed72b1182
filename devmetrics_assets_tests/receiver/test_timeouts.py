"""Slow and stalled clients on a real uvicorn server over loopback (raw sockets): the request head must
arrive within the header timeout (else the connection is closed), the body within the body timeout (else
408 and closed), while well-behaved senders keep being served. Timeouts are 1 s here; every margin is
several times larger than the expected delay, so a loaded CI machine does not make them flaky."""

from __future__ import annotations

import time

import pytest
import requests

from devmetrics_assets.demo.bench.receiver_throughput import serve_in_process, serve_in_thread
from devmetrics_assets.receiver import create_app
from devmetrics_assets.receiver.__main__ import parse_args
from devmetrics_assets_tests.receiver.conftest import (
    PROVIDERS,
    SECRETS,
    build,
    landed,
    rejects,
    webhook_sources,
)
from devmetrics_assets_tests.receiver.rawhttp import (
    answered,
    closed_by_server,
    connect,
    head,
    read_until_closed,
    status_of,
    wait_all_closed,
)

TIMEOUT = 1.0
SLACK = 4.0  # how late a close may come on a loaded machine


def protocol_bases() -> list:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    bases = [pytest.param(H11Protocol, id="h11")]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return bases
    return [*bases, pytest.param(HttpToolsProtocol, id="httptools")]


def serving(settings, base=None):
    app = create_app(webhook_sources(settings), settings=settings, environ=SECRETS, body_timeout=TIMEOUT)
    return serve_in_thread(app, header_timeout=TIMEOUT, base=base)


@pytest.fixture
def server(settings):
    """The server as the CLI runs it (uvicorn's default protocol class)."""
    with serving(settings) as url:
        yield url


@pytest.fixture(params=protocol_bases())
def each_server(request, settings):
    """The head deadline is a mixin over uvicorn's protocol classes: every one it can guard."""
    with serving(settings, request.param) as url:
        yield url


def post(url: str, d):
    return requests.post(url + d.path, data=d.body, headers=d.headers, timeout=10)


def dribble_until_closed(sock, data: bytes, interval: float = 0.05, limit: float = TIMEOUT + SLACK,
                         during=None) -> float | None:
    """Send `data` a byte at a time; seconds until the server closed the connection (None: it did not).
    `during()` is called once, a few bytes in, to show others are served meanwhile."""
    started = time.monotonic()
    for i, byte in enumerate(data):
        if time.monotonic() - started > limit:
            return None
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - started
        if i == 3 and during is not None:
            during()
        time.sleep(interval)
        if closed_by_server(sock):
            return time.monotonic() - started
    return None


def test_a_dribbled_request_head_is_cut_off_after_the_header_timeout(each_server, settings):
    d = build("github", 1)
    served = []
    with connect(each_server) as sock:
        # ~330 bytes at 20 per second would take 16 s: the head is never complete in time.
        closed_after = dribble_until_closed(sock, head(d), during=lambda: served.append(post(each_server, d)))
    assert closed_after is not None, "the slow connection was never closed"
    assert TIMEOUT * 0.8 <= closed_after <= TIMEOUT + SLACK
    assert served[0].status_code == 200 and served[0].json()["status"] == "stored"
    assert [line["delivery_id"] for line in landed(settings, "github")] == ["gh-1"]


def test_a_silent_connection_is_closed_after_the_header_timeout(each_server):
    with connect(each_server) as sock:
        started = time.monotonic()
        data, closed = read_until_closed(sock, TIMEOUT + SLACK)
        elapsed = time.monotonic() - started
    assert closed and data == b""
    assert TIMEOUT * 0.8 <= elapsed <= TIMEOUT + SLACK


def test_the_next_request_on_a_keep_alive_connection_has_the_same_deadline(each_server, settings):
    first, second = build("gitlab", 2), build("gitlab", 3)
    with connect(each_server) as sock:
        sock.sendall(head(first) + first.body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        assert status_of(answer) == 200
        # uvicorn's keep-alive timer (5 s) is cancelled by the first byte; the head deadline is not.
        closed_after = dribble_until_closed(sock, head(second))
    assert closed_after is not None and closed_after <= TIMEOUT + SLACK
    assert [line["delivery_id"] for line in landed(settings, "gitlab")] == ["gl-2"]


@pytest.mark.parametrize("mode", ["stalled", "trickled"])
def test_a_body_that_does_not_arrive_in_time_gets_408_and_is_closed(server, settings, mode):
    d = build("pagerduty", 4)
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(head(d) + d.body[:10])
        if mode == "trickled":  # progress does not extend the deadline: it bounds the whole body
            for byte in d.body[10:40]:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if answered(sock):
                    break
        response, closed = read_until_closed(sock, TIMEOUT + SLACK)
        elapsed = time.monotonic() - started
    assert closed and TIMEOUT * 0.8 <= elapsed <= TIMEOUT + SLACK
    if mode == "stalled":
        assert status_of(response) == 408 and b"body not received within 1 s" in response
    else:  # a byte sent as the server closes makes its kernel reset the connection: the 408 may be lost
        assert status_of(response) in (408, None)
    assert landed(settings, "pagerduty") == []
    [record] = rejects(settings)
    assert record["status"] == 408 and record["source"] == "pd" and record["body_bytes"] is None
    assert record["reason"].startswith("body not received within 1 s")


def test_two_hundred_slow_clients_are_all_cut_off_while_deliveries_go_on(server, settings):
    opened = []  # (socket, kind, monotonic time opened)
    try:
        for i in range(200):
            kind = ("silent", "partial head", "partial body")[i % 3]
            d = build(PROVIDERS[i % 4], 1000 + i)
            sock = connect(server)
            if kind == "partial head":
                sock.sendall(head(d)[:40])
            elif kind == "partial body":
                sock.sendall(head(d) + d.body[:5])
            opened.append((sock, kind, time.monotonic()))
        good = [post(server, build(p, 500)) for p in PROVIDERS]  # during the attack
        closed = wait_all_closed([s for s, _, _ in opened], TIMEOUT + SLACK + 4)
    finally:
        for sock, _, _ in opened:
            sock.close()
    assert [r.status_code for r in good] == [200] * 4
    assert len(closed) == 200, f"{200 - len(closed)} slow connections still open"
    for sock, kind, at in opened:
        when, sent = closed[sock]
        assert when - at >= TIMEOUT * 0.8, kind
        assert status_of(sent) == (408 if kind == "partial body" else None), kind
    after = post(server, build("generic", 501))
    assert after.status_code == 200 and after.json()["status"] == "stored"
    for provider in PROVIDERS:
        expected = [build(provider, 500).delivery_id] + ([build(provider, 501).delivery_id]
                                                         if provider == "generic" else [])
        assert [line["delivery_id"] for line in landed(settings, provider)] == expected
    assert sorted({r["status"] for r in rejects(settings)}) == [408]


def test_an_endless_request_head_is_refused_without_waiting(each_server):
    d = build("github", 5)
    with connect(each_server) as sock:
        started = time.monotonic()
        sock.sendall(head(d)[:-2])  # no blank line: the head goes on
        try:
            for _ in range(100):
                sock.sendall(b"X-Padding: " + b"p" * 1000 + b"\r\n")
        except OSError:
            pass  # closed while sending: what is being tested
        response, closed = read_until_closed(sock, SLACK)
    assert closed and time.monotonic() - started < TIMEOUT + SLACK
    assert status_of(response) in (400, 431)  # h11 refuses a head over 16 KiB itself; 431 is ours


def test_cli_flags_set_both_timeouts(tmp_path):
    defaults = parse_args([])
    assert (defaults.header_timeout, defaults.body_timeout) == (10.0, 30.0)
    with pytest.raises(SystemExit):
        parse_args(["--header-timeout", "0"])
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: gh\n    type: landing_jsonl\n    provider: github\n"
                       "    secret_env: GH_SECRET\n")
    env = {"DEVMETRICS_HOME": str(tmp_path), "DEVMETRICS_LANDING": str(tmp_path / "landing"), **SECRETS}
    d = build("github", 6)
    with serve_in_process(sources, env, args=("--header-timeout", "1", "--body-timeout", "1")) as url:
        with connect(url) as dribbling, connect(url) as stalled:
            dribbling.sendall(head(d)[:20])
            stalled.sendall(head(d) + d.body[:5])
            closed = wait_all_closed([dribbling, stalled], TIMEOUT + SLACK)
            assert post(url, d).status_code == 200
    assert set(closed) == {dribbling, stalled}
    assert status_of(closed[stalled][1]) == 408 and closed[dribbling][1] == b""
