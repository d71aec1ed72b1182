"""Property tests (hypothesis) for the receiver: whatever a client sends, the answer is never a 5xx but
503, every refusal is in the rejects log with its reason, every acknowledged delivery is in the landing
files exactly once, and no secret reaches a file.

Two levels here: whole requests through Starlette's TestClient (payloads, headers, signatures), and the
ASGI body stream driven directly on the TestClient's event loop (a body cut off by a disconnect or
stalled past the body timeout); the head deadline is fuzzed on a fake clock in test_fuzz_head.py.
Examples given with @example are past failures (the seed corpus): each was a 500, a traceback or a
request held forever before the fix named in its comment.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from devmetrics_assets.receiver import create_app
from devmetrics_assets_tests.receiver.conftest import (
    PROVIDERS,
    SECRETS,
    SOURCE_OF,
    build,
    landed,
    rejects,
    settings_in,
    sign,
    webhook_sources,
)

FUZZ_BODY_LIMIT = 64 * 1024
AUTH_HEADER = {"github": "X-Hub-Signature-256", "gitlab": "X-Gitlab-Token",
               "pagerduty": "X-PagerDuty-Signature", "generic": "Authorization"}
IDENTITY_HEADERS = ("Content-Type", "X-GitHub-Event", "X-GitHub-Delivery", "X-Gitlab-Event",
                    "X-Gitlab-Event-UUID", "Idempotency-Key", "X-Delivery-Id", "X-Signature-256")
# No example database (.hypothesis/): past failures are kept as @example, in the code.
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class Receiver:
    """One app for a whole property (building one per example would dominate the run time), with what
    the checks need: the fsync switch for 503s and the delivery ids acknowledged so far."""

    def __init__(self, root: Path, body_timeout: float | None = 30.0) -> None:
        self.settings = settings_in(root)
        self.fail_fsync = False
        self.acknowledged: set[str] = set()
        self.app = create_app(webhook_sources(self.settings, max_body_bytes=FUZZ_BODY_LIMIT),
                              settings=self.settings, environ=SECRETS, body_timeout=body_timeout,
                              fsync=self._fsync)
        self.client = TestClient(self.app, raise_server_exceptions=True)

    def _fsync(self, fd: int) -> None:
        if self.fail_fsync:
            raise OSError(28, "No space left on device")

    def landed_count(self, delivery_id: str) -> int:
        return sum(line["delivery_id"] == delivery_id for p in PROVIDERS for line in landed(self.settings, p))

    def check(self, status: int, answer: dict[str, Any], rejects_before: int,
              delivery_id: str | None) -> None:
        """The four properties, for one answered request."""
        assert not (500 <= status < 600 and status != 503), (status, answer)
        new = rejects(self.settings)[rejects_before:]
        if 200 <= status < 300:
            assert new == [], new
            self.acknowledged.add(answer["delivery_id"])
            assert self.landed_count(answer["delivery_id"]) == 1
        else:
            [record] = new
            assert record["status"] == status and record["reason"], record
            if status != 503:
                assert record["reason"] == answer["reason"]
            if delivery_id is not None:
                assert self.landed_count(delivery_id) == (1 if delivery_id in self.acknowledged else 0)
        written = "".join(p.read_text(encoding="utf-8") for p in self.settings.landing_dir.rglob("*.jsonl"))
        for secret in SECRETS.values():
            assert secret not in written


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    r = Receiver(tmp_path_factory.mktemp("fuzz"))
    with r.client:
        yield r


# --- strategies ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12)
HEADER_VALUES = st.binary(max_size=80).map(lambda v: v.translate(None, b"\0\r\n"))  # no header injection


def deep(n: int, kind: str) -> bytes:
    return b"[" * n + b"]" * n if kind == "[" else b'{"a":' * n + b"1" + b"}" * n


@st.composite
def mutated(draw: st.DrawFn, provider: str, i: int) -> bytes:
    """The provider's valid payload with one field (top level or one down) replaced or deleted."""
    body = json.loads(build(provider, i).body)
    key = draw(st.sampled_from(sorted(body)))
    target = body
    if isinstance(body[key], dict) and body[key] and draw(st.booleans()):
        target, key = body[key], draw(st.sampled_from(sorted(body[key])))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(JSON_VALUES | st.text(min_size=1000, max_size=20_000))
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def any_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], bytes]:
    """(path, headers, body): mostly near-valid, so refusals happen at every step, not only the first."""
    provider = draw(st.sampled_from(PROVIDERS))
    i = draw(st.integers(0, 30))  # small: redeliveries happen
    d = build(provider, i)
    body = draw(st.one_of(
        st.just(d.body),
        mutated(provider, i),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=600),
        st.builds(deep, st.integers(1, 20_000), st.sampled_from("[{")),
        st.integers(4000, 6000).map(lambda n: b'{"n": ' + b"9" * n + b"}"),
        st.text(max_size=300).map(lambda t: json.dumps({"text": t}, ensure_ascii=False).encode()),
    ))
    headers: dict[str, Any] = {k: v for k, v in d.headers.items() if k != AUTH_HEADER[provider]}
    for name in draw(st.lists(st.sampled_from(IDENTITY_HEADERS), max_size=3, unique=True)):
        if draw(st.booleans()):
            headers.pop(name, None)
        else:
            headers[name] = draw(HEADER_VALUES)
    auth = draw(st.sampled_from(["sign", "sign", "sign", "forge", "none", "garbage"]))
    if auth in ("sign", "forge"):
        headers = sign(provider, headers, body, None if auth == "sign" else "not-the-secret")
    elif auth == "garbage":
        headers[AUTH_HEADER[provider]] = draw(HEADER_VALUES)
    path = draw(st.sampled_from([d.path] * 8 + ["/webhooks/github/nope",
                                 f"/webhooks/{PROVIDERS[(PROVIDERS.index(provider) + 1) % 4]}/"
                                 f"{SOURCE_OF[provider]}"]))
    return path, headers, body


def signed(provider: str, body: bytes | None = None, i: int = 1, **extra: Any) -> tuple[str, dict, bytes]:
    """A request for the examples: `provider`'s delivery `i`, its body replaced, signed, `extra` headers."""
    d = build(provider, i)
    body = d.body if body is None else body
    return d.path, {**sign(provider, d.headers, body), **extra}, body


# --- whole requests --------------------------------------------------------------------------------

@FUZZ
@given(req=any_requests(), fail_fsync=st.sampled_from([False] * 9 + [True]))
# Defect 3 (parse_json): 10,000 levels of JSON raised RecursionError: a 500.
@example(req=signed("github", deep(10_000, "[")), fail_fsync=False)
@example(req=signed("generic", deep(10_000, "{")), fail_fsync=False)
# parse_json: a 5,000-digit number raised ValueError (Python's int conversion limit): a 500.
@example(req=signed("pagerduty", b'{"n": ' + b"9" * 5000 + b"}"), fail_fsync=False)
# generic.validate quoted a huge value whole in the reason (and so in the log and the rejects log).
@example(req=signed("generic", b'{"type":"' + b"x" * 30_000 + b'"}'), fail_fsync=False)
# Defect 4 (providers._same): non-ASCII signature and token bytes must be 403, never a TypeError.
@example(req=signed("github", i=2, **{"X-Hub-Signature-256": b"sha256=\xe9"}), fail_fsync=False)
@example(req=signed("gitlab", i=2, **{"X-Gitlab-Token": b"\xe9\xff"}), fail_fsync=False)
@example(req=signed("generic", i=2, Authorization=b"Bearer \xe9"), fail_fsync=False)
# A store failure was answered 503 without a rejects record.
@example(req=signed("pagerduty", i=29), fail_fsync=True)
def test_any_request_gets_a_recorded_answer_and_lands_at_most_once(receiver, req, fail_fsync):
    path, headers, body = req
    before = len(rejects(receiver.settings))
    receiver.fail_fsync = fail_fsync
    try:
        response = receiver.client.post(path, content=body, headers=headers)
    finally:
        receiver.fail_fsync = False
    delivery = next((build(p, 0) for p in PROVIDERS if path == build(p, 0).path), None)
    candidate = None if delivery is None else _delivery_id_of(delivery.provider, headers, body)
    event(f"{response.status_code} {response.json().get('status')}")  # --hypothesis-show-statistics
    receiver.check(response.status_code, response.json(), before, candidate)


def _delivery_id_of(provider: str, headers: dict[str, Any], body: bytes) -> str | None:
    """The delivery id a request would have, where it is simple to tell (for the at-most-once check)."""
    if provider == "github":
        value = headers.get("X-GitHub-Delivery")
        return value if isinstance(value, str) else None
    if provider == "pagerduty":
        try:
            value = json.loads(body)["event"]["id"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return None
        return value if isinstance(value, str) else None
    return None


@settings(max_examples=25, deadline=None, database=None)
@given(provider=st.sampled_from(PROVIDERS), i=st.integers(100, 110), fail_fsync=st.booleans())
def test_a_store_failure_is_503_recorded_and_a_retry_lands_once(receiver, provider, i, fail_fsync):
    d = build(provider, i)
    before = len(rejects(receiver.settings))
    receiver.fail_fsync = fail_fsync
    try:
        response = receiver.client.post(d.path, content=d.body, headers=d.headers)
    finally:
        receiver.fail_fsync = False
    if d.delivery_id in receiver.acknowledged:
        assert response.status_code == 200 and response.json()["status"] == "duplicate"
    else:
        assert response.status_code == (503 if fail_fsync else 200)
    receiver.check(response.status_code, response.json(), before, d.delivery_id)


# --- the body stream -------------------------------------------------------------------------------

STREAM_BODY_TIMEOUT = 0.2


@pytest.fixture(scope="module")
def slow_receiver(tmp_path_factory) -> Iterator[Receiver]:
    r = Receiver(tmp_path_factory.mktemp("stream"), body_timeout=STREAM_BODY_TIMEOUT)
    with r.client:
        yield r


async def drive(app: Any, path: str, headers: dict[str, str], chunks: list[bytes], ending: str
                ) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Call the ASGI app the way uvicorn does, with the body in `chunks`, then `ending`: "complete",
    "disconnect" (the client hung up) or "stall" (the client never sends the rest)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8787), "state": {}}
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    if ending == "complete":
        messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if ending == "disconnect":
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # stalled for good: only the body timeout ends this
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers_out = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])}
    return start["status"], headers_out, json.loads(body)


@settings(max_examples=40, deadline=None, database=None)
@given(provider=st.sampled_from(PROVIDERS), i=st.integers(0, 20),
       splits=st.lists(st.integers(0, 400), max_size=6), cut=st.integers(0, 400),
       ending=st.sampled_from(["complete", "complete", "disconnect", "stall"]))
# Defect 2 (app.read_body): a client hanging up mid-body raised ClientDisconnect: a traceback per request.
@example(provider="github", i=1, splits=[], cut=50, ending="disconnect")
# Defect 1 (app.read_body): a body that never arrives held the request open forever; now 408.
@example(provider="gitlab", i=1, splits=[5], cut=10, ending="stall")
def test_a_body_cut_off_or_stalled_is_refused_and_recorded(slow_receiver, provider, i, splits, cut, ending):
    d = build(provider, i)
    body = d.body if ending == "complete" else d.body[:min(cut, len(d.body) - 1)]
    edges = sorted({0, len(body), *(s for s in splits if s < len(body))})
    chunks = [body[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    before = len(rejects(slow_receiver.settings))
    status, headers, answer = slow_receiver.client.portal.call(
        drive, slow_receiver.app, d.path, {**d.headers, "Content-Length": str(len(d.body))}, chunks, ending)
    expected = {"complete": 200, "disconnect": 499, "stall": 408}[ending]
    assert status == expected, answer
    if ending == "stall":
        assert headers.get("connection") == "close"
    slow_receiver.check(status, answer, before, d.delivery_id)
