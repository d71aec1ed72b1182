"""A small JSON-over-HTTP GET client for provider APIs (urllib only: no new dependency).

Why each behaviour:
- Transient failures (5xx, 408, timeouts, connection resets, a truncated or non-JSON 2xx body) are
  retried with exponential backoff and FULL jitter (`uniform(0, min(max_delay, base * 2**n))`), so
  many pullers hitting one API after an outage do not retry in lockstep. Retries are bounded twice:
  `max_attempts` and `max_total_delay` (the sum of every wait of one request). When a bound is hit the
  request fails with `HttpError` naming the URL, the attempts and the last error.
- Rate limits are waited out exactly as the server asks, never guessed: `Retry-After` (seconds or an
  HTTP date) on 429/403/503; GitHub's primary limit (`X-RateLimit-Remaining: 0` + `X-RateLimit-Reset`
  epoch) and GitLab's (`RateLimit-Remaining` / `RateLimit-Reset`); GitHub's secondary limit (403/429
  whose body says "secondary rate limit", without headers) waits `secondary_rate_limit_wait` (GitHub
  asks for at least a minute). A 2xx that says the budget is exhausted makes the NEXT request wait for
  the reset. A wait longer than the remaining budget fails at once (`RateLimitError`, with the reset
  time) instead of sleeping and failing anyway.
- Conditional requests: with an ETag cache, `use_cache=True` sends `If-None-Match`; a 304 returns the
  cached body (`from_cache=True`). GitHub does not count 304s against the rate limit.
- Other 4xx fail at once (retrying a 401/404 cannot help).
- Credentials live only in request headers; they are dropped on a redirect to another origin and never
  appear in an error message.
- `sleep`, `clock` and `rng` are injectable, so tests are fast and can assert the exact schedule
  (`client.sleeps` records every wait).
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

AUTH_HEADERS = ("Authorization", "Private-token")


class HttpError(RuntimeError):
    """A request that failed for good: names the URL, the attempts made and the last error."""

    def __init__(self, url: str, attempts: int, detail: str, status: int | None = None) -> None:
        super().__init__(f"GET {url} failed after {attempts} attempt(s): {detail}")
        self.url = url
        self.attempts = attempts
        self.detail = detail
        self.status = status


class RateLimitError(HttpError):
    """The server asked to wait longer than the retry budget allows."""


class ETagCache(Protocol):
    def get(self, url: str) -> tuple[str, bytes] | None: ...

    def put(self, url: str, etag: str, body: bytes) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_total_delay: float = 600.0
    timeout: float = 30.0
    secondary_rate_limit_wait: float = 60.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> RetryPolicy:
        """From a source's `retry:` option block; unknown keys or bad values fail naming the key."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"retry: unknown option(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for key, value in options.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"retry.{key} must be a non-negative number, got {value!r}")
            values[key] = int(value) if key == "max_attempts" else float(value)
        policy = cls(**values)
        if policy.max_attempts < 1:
            raise ValueError("retry.max_attempts must be at least 1")
        return policy


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: dict[str, str]
    data: Any
    from_cache: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def with_params(url: str, params: Mapping[str, Any] | None) -> str:
    """`url` with `params` appended (lists repeat the key, as `statuses[]=a&statuses[]=b`)."""
    if not params:
        return url
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    query = urllib.parse.urlencode(pairs)
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


class _SafeRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry credentials to another origin."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 (urllib API)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for name in AUTH_HEADERS:
                new.remove_header(name)
        return new


def _lower_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    return {str(k).lower(): str(v) for k, v in headers.items()}


class HttpClient:
    """GET JSON with bounded, jittered retries, rate-limit waits and ETag revalidation."""

    def __init__(
        self,
        *,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        cache: ETagCache | None = None,
    ) -> None:
        self.headers = {
            "User-Agent": "devmetrics-assets-pull",
            "Accept": "application/json",
            **dict(headers or {}),
        }
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.cache = cache
        self.sleeps: list[float] = []
        self.requests = 0
        self._blocked_until: float | None = None
        self._opener = urllib.request.build_opener(_SafeRedirect)

    # ------------------------------------------------------------------ waits
    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**(attempt-1))]."""
        ceiling = min(self.policy.max_delay, self.policy.base_delay * (2 ** (attempt - 1)))
        return self._rng.uniform(0.0, ceiling)

    def _retry_after(self, value: str) -> float | None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - self._clock())
        except (TypeError, ValueError):
            return None

    def _rate_limit_wait(self, status: int, headers: dict[str, str], body: bytes) -> tuple[float, str] | None:
        """(wait, why) when the response is a rate-limit answer, else None."""
        if status not in (403, 429, 503):
            return None
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            wait = self._retry_after(retry_after)
            if wait is not None:
                return wait, f"HTTP {status} with Retry-After: {retry_after}"
        if status == 503:
            return None
        for prefix in ("x-ratelimit-", "ratelimit-"):
            remaining, reset = headers.get(prefix + "remaining"), headers.get(prefix + "reset")
            if remaining is not None and remaining.strip() == "0" and reset is not None:
                try:
                    wait = max(0.0, float(reset) - self._clock()) + 1.0
                except ValueError:
                    continue
                return wait, f"HTTP {status}: rate limit exhausted until epoch {reset}"
        if b"secondary rate limit" in body.lower():
            return self.policy.secondary_rate_limit_wait, f"HTTP {status}: secondary rate limit"
        return None

    def _note_budget(self, headers: dict[str, str]) -> None:
        """A response saying the budget is spent makes the next request wait for the reset."""
        for prefix in ("x-ratelimit-", "ratelimit-"):
            remaining, reset = headers.get(prefix + "remaining"), headers.get(prefix + "reset")
            if remaining is not None and reset is not None:
                try:
                    exhausted = int(remaining.strip()) <= 0
                    until = float(reset) + 1.0
                except ValueError:
                    continue
                self._blocked_until = until if exhausted else None
                return

    # ------------------------------------------------------------------ requests
    def _once(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, headers=headers, method="GET")
        self.requests += 1
        try:
            with self._opener.open(request, timeout=self.policy.timeout) as resp:
                return resp.status, _lower_headers(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            try:
                body = err.read() if err.fp is not None else b""
            finally:
                err.close()
            return err.code, _lower_headers(err.headers), body

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, use_cache: bool = False) -> Response:
        """GET `url` (+ `params`) and decode JSON; retried and rate-limited as described above."""
        full_url = with_params(url, params)
        cached = self.cache.get(full_url) if (use_cache and self.cache is not None) else None
        headers = dict(self.headers)
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            if self._blocked_until is not None and self._blocked_until > self._clock():
                wait = self._blocked_until - self._clock()
                self._check_budget(
                    full_url,
                    attempt - 1,
                    waited,
                    wait,
                    "rate limit exhausted by a previous response",
                    rate_limited=True,
                )
                self._wait(wait)
                waited += wait
            self._blocked_until = None
            status: int | None = None
            try:
                status, resp_headers, body = self._once(full_url, headers)
            except (OSError, http.client.HTTPException) as exc:
                detail = f"{type(exc).__name__}: {exc}"
                delay, rate_limited = self.backoff(attempt), False
            else:
                self._note_budget(resp_headers)
                if 200 <= status < 300:
                    try:
                        data = json.loads(body.decode("utf-8")) if body.strip() else None
                    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                        detail = f"HTTP {status} with a body that is not valid JSON ({exc})"
                        delay, rate_limited = self.backoff(attempt), False
                    else:
                        etag = resp_headers.get("etag")
                        if use_cache and self.cache is not None and etag:
                            self.cache.put(full_url, etag, body)
                        return Response(full_url, status, resp_headers, data)
                elif status == 304 and cached is not None:
                    try:
                        data = json.loads(cached[1].decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        # A damaged cache entry: ask again without the validator.
                        cached = None
                        headers.pop("If-None-Match", None)
                        detail, delay, rate_limited = "HTTP 304 with an unreadable cached body", 0.0, False
                    else:
                        return Response(full_url, 200, resp_headers, data, from_cache=True)
                else:
                    limited = self._rate_limit_wait(status, resp_headers, body)
                    if limited is not None:
                        delay, detail = limited
                        rate_limited = True
                    elif status >= 500 or status == 408 or status == 429:
                        detail = f"HTTP {status}"
                        delay, rate_limited = self.backoff(attempt), False
                    else:
                        snippet = body[:200].decode("utf-8", "replace").strip()
                        raise HttpError(
                            full_url, attempt, f"HTTP {status} (not retryable): {snippet}", status
                        )
            if attempt >= self.policy.max_attempts:
                raise HttpError(
                    full_url, attempt, f"{detail} (max_attempts={self.policy.max_attempts})", status
                )
            self._check_budget(
                full_url, attempt, waited, delay, detail, rate_limited=rate_limited, status=status
            )
            self._wait(delay)
            waited += delay

    def _check_budget(
        self,
        url: str,
        attempts: int,
        waited: float,
        wait: float,
        detail: str,
        *,
        rate_limited: bool,
        status: int | None = None,
    ) -> None:
        left = self.policy.max_total_delay - waited
        if wait <= left:
            return
        if rate_limited:
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock() + wait))
            raise RateLimitError(
                url,
                attempts,
                f"{detail}; the server asks to wait {wait:.0f}s (until {until}), "
                f"more than the {left:.0f}s left of max_total_delay: run again later",
                status,
            )
        raise HttpError(
            url,
            attempts,
            f"{detail}; retry budget exhausted (max_total_delay={self.policy.max_total_delay:g}s)",
            status,
        )

    def _wait(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._sleep(seconds)
