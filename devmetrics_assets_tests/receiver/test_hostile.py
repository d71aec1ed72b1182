"""Hostile or broken requests that used to crash a handler (500, traceback) and must now be ordinary
refusals: a client hanging up mid-body, JSON nested 10,000 levels deep, a 5,000-digit number, huge
values quoted back in a reason, header bytes that are not ASCII where a signature or token is expected."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from starlette.testclient import TestClient

from devmetrics_assets.demo.bench.receiver_throughput import serve_in_thread
from devmetrics_assets.receiver import create_app
from devmetrics_assets.receiver.providers import Rejected, authenticate
from devmetrics_assets.sources.registry import sources_from_mapping
from devmetrics_assets_tests.receiver.conftest import (
    PROVIDERS,
    SECRETS,
    build,
    landed,
    rejects,
    sign,
    webhook_sources,
)
from devmetrics_assets_tests.receiver.rawhttp import connect, exchange, head

BIG = 1024 * 1024  # so deep and huge bodies reach the parser instead of the 413


def client_for(settings, environ=SECRETS) -> TestClient:
    return TestClient(create_app(webhook_sources(settings, max_body_bytes=BIG), settings=settings,
                                 environ=environ))


def signed(provider: str, body: bytes, i: int = 1) -> tuple[str, dict[str, str]]:
    d = build(provider, i)
    return d.path, sign(provider, d.headers, body)


# --- a client that hangs up mid-body ---------------------------------------------------------------

def test_a_client_hanging_up_mid_body_is_one_log_line_and_stores_nothing(settings, caplog):
    caplog.set_level("INFO")
    d = build("github", 1)
    app = create_app(webhook_sources(settings), settings=settings, environ=SECRETS)
    with serve_in_thread(app) as url:
        with connect(url) as sock:
            sock.sendall(head(d, content_length=len(d.body) + 500) + d.body[:50])
            time.sleep(0.2)  # let the server start reading the body
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                r.name == "devmetrics.receiver" or r.exc_info for r in caplog.records):
            time.sleep(0.05)
        time.sleep(0.3)  # anything logged late is still caught
    assert not [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")], \
        caplog.text
    assert "Traceback" not in caplog.text and "Exception in ASGI application" not in caplog.text
    [line] = [r.getMessage() for r in caplog.records if r.name == "devmetrics.receiver"]
    assert "cut off: client disconnected after 50 bytes of the body" in line
    assert landed(settings, "github") == []
    [record] = rejects(settings)
    assert record["status"] == 499 and record["reason"].startswith("client disconnected after 50 bytes")


# --- JSON the parser cannot take -------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", [b"[" * 10_000 + b"]" * 10_000,
                                  b'{"a":' * 10_000 + b"1" + b"}" * 10_000], ids=["arrays", "objects"])
def test_json_ten_thousand_levels_deep_is_a_400_naming_depth_and_limit(settings, provider, body):
    path, headers = signed(provider, body)
    with client_for(settings) as client:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == "malformed: the body nests 10000 levels deep; the limit is 128"
    assert landed(settings, provider) == []
    [record] = rejects(settings)
    assert record["status"] == 400 and record["reason"] == response.json()["reason"]
    assert record["body_bytes"] == len(body) and len(record["body_excerpt"]) <= 2048


def test_json_within_the_depth_limit_is_accepted(settings):
    d = build("github", 2)
    body = json.loads(d.body)
    body["deployment"]["payload"] = json.loads("[" * 100 + "]" * 100)
    raw = json.dumps(body).encode()
    with client_for(settings) as client:
        response = client.post(d.path, content=raw, headers=sign("github", d.headers, raw))
    assert response.json() == {"status": "stored", "delivery_id": "gh-2"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_number_too_long_for_python_is_a_400(settings, provider):
    body = b'{"n": ' + b"7" * 5000 + b"}"  # over Python's 4300-digit int conversion limit
    path, headers = signed(provider, body)
    with client_for(settings) as client:
        response = client.post(path, content=body, headers=headers)
    assert response.status_code == 400 and response.json()["reason"].startswith("malformed JSON")
    assert rejects(settings)[0]["status"] == 400


def test_huge_values_are_quoted_short_in_the_reason(settings):
    body = json.dumps({"type": "x" * 100_000, "id": 1}).encode()
    status = json.dumps({**json.loads(build("generic", 3).body), "status": ["y" * 500] * 1000}).encode()
    with client_for(settings) as client:
        answers = [client.post(path, content=raw, headers=headers)
                   for raw in (body, status) for path, headers in [signed("generic", raw)]]
    assert [a.status_code for a in answers] == [400, 400]
    assert all(len(a.json()["reason"]) < 600 for a in answers), [a.json()["reason"] for a in answers]
    assert "got 'xxxxx" in answers[0].json()["reason"] and "got [" in answers[1].json()["reason"]


def test_a_delivery_id_longer_than_the_limit_is_refused(settings):
    d = build("github", 4)
    headers = {**d.headers, "X-GitHub-Delivery": "d" * 2000}
    with client_for(settings) as client:
        response = client.post(d.path, content=d.body, headers=headers)
    assert response.status_code == 400
    assert response.json()["reason"] == "malformed: a delivery id of 2000 characters; the limit is 1024"


# --- header bytes that are not ASCII ---------------------------------------------------------------

NON_ASCII = [
    ("github", "X-Hub-Signature-256", b"sha256=\xe9" + b"0" * 63),
    ("github", "X-Hub-Signature-256", b"sha256=\xc3\x28\xff"),
    ("pagerduty", "X-PagerDuty-Signature", b"v1=\xe9\xe9, v1=\xff"),
    ("generic", "X-Signature-256", b"sha256=\xe9"),
    ("generic", "Authorization", b"Bearer \xe9t\xe9"),
    ("gitlab", "X-Gitlab-Token", b"\xe9\xff\x80"),
]
AUTH_HEADERS = ("X-Hub-Signature-256", "X-PagerDuty-Signature", "X-Signature-256", "Authorization",
                "X-Gitlab-Token")


def unsigned_headers(d) -> dict[str, str]:
    return {k: v for k, v in d.headers.items() if k not in AUTH_HEADERS}


def test_non_ascii_signature_bytes_over_the_wire_are_403(settings):
    answers = []
    with serve_in_thread(create_app(webhook_sources(settings), settings=settings, environ=SECRETS)) as url:
        for i, (provider, header, value) in enumerate(NON_ASCII):
            d = build(provider, 50 + i)
            d = type(d)(d.provider, unsigned_headers(d), d.body, d.delivery_id, d.event_type)
            status, response = exchange(url, head(d, extra={header: value}, close=True) + d.body)
            answers.append((header, value, status, response))
    assert [a[2] for a in answers] == [403] * len(NON_ASCII), answers
    assert all(landed(settings, p) == [] for p in PROVIDERS)
    records = rejects(settings)
    assert [r["status"] for r in records] == [403] * len(NON_ASCII)
    assert all(r["reason"].startswith("forged") for r in records)


@pytest.mark.parametrize(("provider", "header", "value"), NON_ASCII)
def test_non_ascii_signature_bytes_through_the_test_client_are_403(settings, provider, header, value):
    d = build(provider, 6)
    with client_for(settings) as client:
        response = client.post(d.path, content=d.body, headers={**unsigned_headers(d), header: value})
    assert response.status_code == 403, response.text


def test_a_non_ascii_token_sent_as_utf8_matches(settings):
    """GitLab sends a token as UTF-8 bytes; Starlette hands them over decoded as latin-1."""
    token = "gl-t\u00f6k\u00e9n-\u20ac"
    d = build("gitlab", 7)
    d = type(d)(d.provider, unsigned_headers(d), d.body, d.delivery_id, d.event_type)
    app = create_app(webhook_sources(settings), settings=settings, environ={**SECRETS, "GL_TOKEN": token})
    with serve_in_thread(app) as url:
        good, _ = exchange(url, head(d, extra={"X-Gitlab-Token": token.encode("utf-8")}, close=True) + d.body)
        bad, _ = exchange(url, head(d, extra={"X-Gitlab-Token": b"gl-t\xf6k\xe9n-?"}, close=True) + d.body)
    assert (good, bad) == (200, 403)
    assert [line["delivery_id"] for line in landed(settings, "gitlab")] == ["gl-7"]
    assert token not in "".join(p.read_text() for p in settings.landing_dir.rglob("*.jsonl"))


@pytest.mark.parametrize(("provider", "header"), [
    ("github", "x-hub-signature-256"), ("gitlab", "x-gitlab-token"), ("pagerduty", "x-pagerduty-signature"),
    ("generic", "x-signature-256"), ("generic", "authorization"),
])
@pytest.mark.parametrize("value", ["sha256=\ud800", "v1=\udce9", "Bearer \U0001f600", "\u20ac" * 70])
def test_any_str_header_is_compared_as_bytes(provider, header, value):
    """Not only what Starlette produces: lone surrogates and characters above U+00FF are refused too."""
    with pytest.raises(Rejected) as refused:
        authenticate(provider, {header: value}, b"{}", "secret")
    assert refused.value.status in (401, 403)


def test_a_secret_that_is_not_utf8_in_the_environment_still_verifies(settings):
    """os.environ decodes such bytes with surrogateescape: the HMAC key is the original bytes."""
    secret = b"s3cr\xe9t".decode("utf-8", "surrogateescape")
    body = b'{"zen": "x"}'
    signature = "sha256=" + hmac.new(b"s3cr\xe9t", body, hashlib.sha256).hexdigest()
    assert authenticate("github", {"x-hub-signature-256": signature}, body, secret) == "verified"
    spec = sources_from_mapping({"sources": [{"name": "gh", "type": "landing_jsonl", "provider": "github",
                                              "secret_env": "RAW"}]}, settings=settings)
    d = build("github", 8)
    headers = {**d.headers, "X-Hub-Signature-256": "sha256=" + hmac.new(b"s3cr\xe9t", d.body,
                                                                         hashlib.sha256).hexdigest()}
    with TestClient(create_app(spec, settings=settings, environ={"RAW": secret})) as client:
        assert client.post(d.path, content=d.body, headers=headers).json()["status"] == "stored"
