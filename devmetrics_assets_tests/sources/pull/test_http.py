"""The HTTP client against a real local server: retries, backoff schedule, rate limits, ETags."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.http import HttpError, RateLimitError, RetryPolicy
from devmetrics_assets_tests.sources.pull.fake_api import (
    FakeApi,
    FakeTime,
    Reply,
    json_reply,
    make_client,
    malformed,
    reset,
    sleep,
    status,
)

ITEMS = [{"id": 1}, {"id": 2}]


def _ok(api: FakeApi, path: str = "/items", *, etag: bool = False) -> str:
    api.route(path, lambda req: json_reply(ITEMS, etag=etag, request=req))
    return api.base_url + path


def test_5xx_burst_is_retried_with_full_jitter_exponential_backoff(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", status(503), status(502), status(500))
    client = make_client(fake_time, seed=11, base_delay=1.0, max_delay=8.0)

    response = client.get(url)

    assert response.data == ITEMS
    assert [s for _, s in api.requests_to("/items")] == [503, 502, 500, 200]
    expected_rng = random.Random(11)
    expected = [expected_rng.uniform(0, ceiling) for ceiling in (1.0, 2.0, 4.0)]
    assert client.sleeps == pytest.approx(expected)  # full jitter: uniform(0, base * 2**n)
    assert fake_time.slept == pytest.approx(expected)
    assert all(0 <= s <= c for s, c in zip(client.sleeps, (1.0, 2.0, 4.0), strict=True))
    assert len(set(client.sleeps)) == 3 and client.sleeps != [1.0, 2.0, 4.0]


def test_backoff_ceiling_is_capped_by_max_delay(fake_time: FakeTime) -> None:
    class Ceiling(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    client = make_client(fake_time, base_delay=1.0, max_delay=5.0)
    client._rng = Ceiling()
    assert [client.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_persistent_failure_fails_clearly_with_url_and_attempts(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", *[status(502)] * 10)
    client = make_client(fake_time, max_attempts=4)

    with pytest.raises(HttpError) as info:
        client.get(url, {"since": "2025-03-01T00:00:00Z"})

    message = str(info.value)
    assert f"{url}?since=2025-03-01T00%3A00%3A00Z" in message
    assert "after 4 attempt(s)" in message and "HTTP 502" in message
    assert info.value.attempts == 4 and info.value.status == 502
    assert len(client.sleeps) == 3 and len(api.requests_to("/items")) == 4


def test_total_delay_budget_stops_retries_before_max_attempts(api: FakeApi, fake_time: FakeTime) -> None:
    class Ceiling(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    url = _ok(api)
    api.fault("/items", *[status(503)] * 10)
    client = make_client(fake_time, max_attempts=10, base_delay=1.0, max_delay=60.0, max_total_delay=5.0)
    client._rng = Ceiling()

    with pytest.raises(HttpError, match=r"retry budget exhausted \(max_total_delay=5s\)") as info:
        client.get(url)

    assert client.sleeps == [1.0, 2.0]  # the next wait (4s) would pass the 5s budget
    assert sum(client.sleeps) <= 5.0 and info.value.attempts == 3


def test_retry_after_on_429_is_waited_exactly(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", status(429, {"Retry-After": "7"}))
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS
    assert client.sleeps == [7.0]


def test_retry_after_as_http_date(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", status(503, {"Retry-After": formatdate(fake_time.now + 12, usegmt=True)}))
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS
    assert client.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_github_primary_rate_limit_waits_until_reset(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    reset_at = int(fake_time.now) + 30
    api.fault(
        "/items",
        status(
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at)},
            b'{"message": "API rate limit exceeded"}',
        ),
    )
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS
    assert client.sleeps == [pytest.approx(31.0)]  # until the reset, plus one second


def test_github_secondary_rate_limit_with_and_without_retry_after(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    body = b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'
    api.fault("/items", status(403, {"Retry-After": "15"}, body), status(403, {}, body))
    client = make_client(fake_time, max_total_delay=200.0, secondary_rate_limit_wait=60.0)
    assert client.get(url).data == ITEMS
    assert client.sleeps == [15.0, 60.0]


def test_gitlab_ratelimit_headers(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault(
        "/items", status(429, {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(fake_time.now) + 9)})
    )
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS
    assert client.sleeps == [pytest.approx(10.0)]


def test_exhausted_budget_on_a_success_makes_the_next_request_wait(api: FakeApi, fake_time: FakeTime) -> None:
    reset_at = int(fake_time.now) + 20
    api.route(
        "/items",
        lambda req: json_reply(
            ITEMS, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset_at)}
        ),
    )
    client = make_client(fake_time)
    client.get(api.base_url + "/items")
    assert client.sleeps == []
    client.get(api.base_url + "/items")
    assert client.sleeps == [pytest.approx(21.0)]


def test_rate_limit_longer_than_the_budget_fails_at_once(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", status(429, {"Retry-After": "3600"}))
    client = make_client(fake_time, max_total_delay=120.0)
    with pytest.raises(RateLimitError, match="asks to wait 3600s") as info:
        client.get(url)
    assert "run again later" in str(info.value) and url in str(info.value)
    assert client.sleeps == []


def test_timeout_is_retried(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", sleep(0.6))
    client = make_client(fake_time, timeout=0.2)
    assert client.get(url).data == ITEMS
    assert len(client.sleeps) == 1 and client.requests == 2


def test_persistent_timeouts_fail_naming_the_timeout(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", sleep(0.5), sleep(0.5))
    client = make_client(fake_time, timeout=0.15, max_attempts=2)
    with pytest.raises(HttpError, match=r"after 2 attempt\(s\): .*(timed out|Timeout)"):
        client.get(url)


def test_connection_reset_is_retried(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", reset(), reset())
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS
    assert len(client.sleeps) == 2


def test_malformed_json_is_retried_then_fails_clearly(api: FakeApi, fake_time: FakeTime) -> None:
    url = _ok(api)
    api.fault("/items", malformed())
    client = make_client(fake_time)
    assert client.get(url).data == ITEMS  # a truncated body once: retried

    api.fault("/items", *[malformed()] * 5)
    client = make_client(fake_time, max_attempts=3)
    with pytest.raises(HttpError, match=r"after 3 attempt\(s\): HTTP 200 with a body that is not valid JSON"):
        client.get(url)


def test_client_errors_are_not_retried(api: FakeApi, fake_time: FakeTime) -> None:
    client = make_client(fake_time)
    with pytest.raises(HttpError, match=r"after 1 attempt\(s\): HTTP 404 \(not retryable\)") as info:
        client.get(api.base_url + "/missing")
    assert info.value.status == 404 and client.sleeps == []


def test_etag_revalidation_returns_the_cached_body_on_304(
    api: FakeApi, fake_time: FakeTime, tmp_path
) -> None:
    url = _ok(api, etag=True)
    cache = PullState(tmp_path / "state.sqlite3")
    first = make_client(fake_time, cache=cache).get(url, use_cache=True)
    # A new client (a later run) shares only the durable cache.
    second = make_client(fake_time, cache=PullState(tmp_path / "state.sqlite3")).get(url, use_cache=True)

    assert not first.from_cache and second.from_cache and second.data == first.data == ITEMS
    (req1, status1), (req2, status2) = api.requests_to("/items")
    assert status1 == 200 and "if-none-match" not in req1.headers
    assert status2 == 304 and req2.headers["if-none-match"] == first.header("etag")


def test_credentials_are_not_sent_to_another_origin_on_redirect(api: FakeApi, fake_time: FakeTime) -> None:
    other = FakeApi()
    try:
        other.route("/landing", lambda req: json_reply(ITEMS))
        api.route("/moved", lambda req: Reply(302, {"Location": other.base_url + "/landing"}, b""))
        client = make_client(fake_time, headers={"Authorization": "Bearer s3cret"})
        assert client.get(api.base_url + "/moved").data == ITEMS
        ((req, _),) = other.requests_to("/landing")
        assert "authorization" not in req.headers
        ((first, _),) = api.requests_to("/moved")
        assert first.headers["authorization"] == "Bearer s3cret"
    finally:
        other.close()


def test_retry_policy_from_options_validates() -> None:
    assert RetryPolicy.from_options({"max_attempts": 3, "base_delay": 0.5}).max_attempts == 3
    with pytest.raises(ValueError, match="unknown option"):
        RetryPolicy.from_options({"attempts": 3})
    with pytest.raises(ValueError, match="retry.max_delay must be a non-negative number"):
        RetryPolicy.from_options({"max_delay": "soon"})
