"""The API reader types (`<provider>_api`, from each `Provider.api`): pull, land, then read the window back.

A read of Bronze window [start, end) for an API source:
1. For each (resource, repo/project) unit, `cursors.plan_pull` gives the provider-time range to pull
   (live window: from the cursor minus the overlap; past window: exactly the window = a backfill).
2. The provider module turns API records into webhook-shaped deliveries; those whose version time is in
   the range are appended to the landing files (`landing_io.land`, fsynced) with
   `received_at = max(version time, start)`: a record lands in the Bronze day its change happened, and a
   record caught up from before the window (a late arrival) in the window's first day.
3. Only then the unit's cursor advances (`PullState.advance`). A unit that fails (an `HttpError` after
   its retries, a broken listing) lands nothing and keeps its cursor; the other units still land, and
   the read raises `PullError` naming every failure, so the Bronze run fails visibly.
4. The Bronze rows are the landing envelopes received in [start, end) (`landing_io.read_landed`), so a
   re-run or an overlapping pull gives the same delivery ids and Bronze stores each once.

Tokens come from the environment variable named by `token_env` (never from the options themselves);
`secret` (the webhook secret) is not used by API sources.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from devmetrics_assets.clock import utc_now
from devmetrics_assets.providers import api_sources
from devmetrics_assets.providers.interface import ApiPull
from devmetrics_assets.sources.pull.cursors import PullState, next_watermark, plan_pull
from devmetrics_assets.sources.pull.http import HttpClient, HttpError, RetryPolicy
from devmetrics_assets.sources.pull.landing_io import envelope, land, read_landed, source_lock
from devmetrics_assets.sources.pull.pagination import PaginationError
from devmetrics_assets.sources.pull.records import PullDataError
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.time_bounds import TimeBounds
from devmetrics_assets.timeutil import as_utc

log = logging.getLogger(__name__)
STATE_FILE = "_pull_state.sqlite3"
COMMON_OPTIONS = {
    "base_url",
    "token_env",
    "allow_anonymous",
    "resources",
    "overlap_minutes",
    "page_size",
    "max_pages",
    "retry",
    "state_path",
}


# Keys of `options` that belong to the registry / receiver, not to pulls: accepted and ignored here.
FOREIGN_OPTIONS = {"max_body_bytes", "allow_unsigned", "generic_auth"}


def _api(spec: SourceSpec) -> ApiPull:
    """The API a source of type `<provider>_api` pulls (its provider's `Provider.api`)."""
    provider = api_sources().get(spec.type)
    if provider is None or provider.api is None:
        raise ValueError(f"source {spec.name!r}: {spec.type!r} is not an API source type; known: "
                         f"{sorted(api_sources())}")
    return provider.api


class PullError(RuntimeError):
    """Some units of a pull failed; their cursors did not move (the others landed and advanced)."""

    def __init__(self, source: str, failures: list[str]) -> None:
        super().__init__(
            f"source {source!r}: {len(failures)} pull(s) failed, their cursors did not move:\n  "
            + "\n  ".join(failures)
        )
        self.failures = failures


@dataclass(frozen=True)
class ApiOptions:
    base_url: str
    token_env: str
    allow_anonymous: bool
    resources: tuple[str, ...]
    scopes: tuple[str, ...]
    group: str | None
    overlap: timedelta
    page_size: int
    max_pages: int
    retry: RetryPolicy
    state_path: Path
    extra: dict[str, Any]


def api_options(spec: SourceSpec) -> ApiOptions:
    """Validated options of an API source; a bad option fails naming the source and the key.

    What to pull comes from `spec.scope` (sources.yaml `scope:`: github repos/org, gitlab projects/group,
    pagerduty services) and/or the same keys in `options`; the token variable from `spec.token_env`,
    else `options.token_env`, else the provider default.
    """
    config = _api(spec)
    opts = {k: v for k, v in dict(spec.options or {}).items() if k not in FOREIGN_OPTIONS}
    scope = dict(getattr(spec, "scope", None) or {})
    where = f"source {spec.name!r} ({spec.type})"
    known = COMMON_OPTIONS | set(config.extra) | {k for k in (config.scope_option, config.group_option) if k}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; known: {sorted(known)}")

    def number(key: str, default: float, minimum: float) -> float:
        value = opts.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ValueError(f"{where}: {key} must be a number >= {minimum}, got {value!r}")
        return value

    def names(key: str, default: list[str]) -> tuple[str, ...]:
        value = opts.get(key, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str | int) and str(v) for v in value):
            raise ValueError(f"{where}: {key} must be a list of names, got {value!r}")
        return tuple(str(v) for v in value)

    resources = names("resources", list(config.resources))
    bad = sorted(set(resources) - set(config.resources))
    if bad:
        raise ValueError(f"{where}: unknown resource(s) {bad}; known: {list(config.resources)}")
    scopes: tuple[str, ...] = ("all",)
    group = None
    if config.scope_option:
        listed = [*names(config.scope_option, []), *[str(v) for v in scope.get(config.scope_option) or []]]
        scopes = tuple(dict.fromkeys(listed))
        group = opts.get(config.group_option) or scope.get(config.group_option)
        if group is not None and (not isinstance(group, str | int) or not str(group).strip()):
            raise ValueError(f"{where}: {config.group_option} must be a name, got {group!r}")
        if not scopes and group is None:
            raise ValueError(
                f"{where}: {config.scope_option!r} (a list) or {config.group_option!r} is required, "
                "in scope or options"
            )
    extra: dict[str, Any] = {}
    for key, default in config.extra.items():
        if isinstance(default, bool):
            value = opts.get(key, default)
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
            extra[key] = value
        elif isinstance(default, list):
            extra[key] = list(names(key, default))
            if not extra[key] and key in config.extra_from_scope:  # e.g. PagerDuty service_ids ← services
                extra[key] = [str(v) for v in scope.get(config.extra_from_scope[key]) or []]
        else:
            extra[key] = number(key, default, 0)
    try:
        retry = RetryPolicy.from_options(opts.get("retry"))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    allow_anonymous = opts.get("allow_anonymous", False)
    if not isinstance(allow_anonymous, bool):
        raise ValueError(f"{where}: allow_anonymous must be true or false")
    state_path = Path(opts["state_path"]) if opts.get("state_path") else spec.landing_dir / STATE_FILE
    return ApiOptions(
        base_url=str(opts.get("base_url") or config.base_url),
        token_env=str(getattr(spec, "token_env", None) or opts.get("token_env") or config.token_env),
        allow_anonymous=allow_anonymous,
        resources=resources,
        scopes=scopes,
        group=None if group is None else str(group),
        overlap=timedelta(minutes=number("overlap_minutes", 10, 0)),
        page_size=int(number("page_size", 100, 1)),
        max_pages=int(number("max_pages", 1000, 1)),
        retry=retry,
        state_path=state_path,
        extra=extra,
    )


def build_client(spec: SourceSpec, options: ApiOptions | None = None, **kwargs: Any) -> HttpClient:
    """The HTTP client of a source: token from the environment, retry policy from the options.
    `kwargs` (sleep, clock, rng) are passed to HttpClient (tests)."""
    options = options or api_options(spec)
    token = os.environ.get(options.token_env) or None
    if token is None and not options.allow_anonymous:
        raise ValueError(
            f"source {spec.name!r}: the API token environment variable {options.token_env} is not "
            "set (set it, or allow_anonymous: true for public data)"
        )
    return HttpClient(
        headers=_api(spec).auth_headers(token),
        policy=options.retry,
        cache=PullState(options.state_path),
        **kwargs,
    )


def _puller(spec: SourceSpec, client: HttpClient, options: ApiOptions) -> Any:
    return _api(spec).make_puller(client, options)


@dataclass
class PullReport:
    """What one pull did, per unit: landed deliveries, rejects, the range and the cursor after."""

    units: dict[str, dict[str, Any]] = field(default_factory=dict)


def unit_key(resource: str, scope: str) -> str:
    return resource if scope == "all" else f"{resource}@{scope}"


def pull_source(
    spec: SourceSpec,
    *,
    start: datetime,
    end: datetime,
    client: HttpClient | None = None,
    now: datetime | None = None,
) -> PullReport:
    """Pull every unit of an API source for window [start, end), land the records, advance cursors."""
    options = api_options(spec)
    start, end = as_utc(start), as_utc(end)
    now = as_utc(now) if now is not None else utc_now()
    client = client or build_client(spec, options)
    state = PullState(options.state_path)
    puller = _puller(spec, client, options)
    report = PullReport()
    failures: list[str] = []
    scopes = list(options.scopes)
    if options.group is not None:
        try:
            scopes = list(dict.fromkeys([*scopes, *puller.members(options.group)]))
        except (HttpError, PaginationError, PullDataError) as exc:
            failures.append(f"listing {options.group}: {exc}")
    with source_lock(spec.landing_dir):
        for scope in scopes:
            for resource in options.resources:
                key = unit_key(resource, scope)
                plan = plan_pull(start, end, state.watermark(spec.name, key), options.overlap, now)
                if plan is None:
                    continue
                try:
                    result = puller.pull(resource, scope, plan.lower, plan.upper)
                except (HttpError, PaginationError, PullDataError) as exc:
                    failures.append(f"{key} [{plan.lower.isoformat()}, {plan.upper.isoformat()}): {exc}")
                    log.warning("pull %s %s failed: %s", spec.name, key, exc)
                    continue
                kept = [d for d in result.deliveries if plan.lower <= d.version_at < plan.upper]
                envelopes = [(envelope(d, max(d.version_at, start)), d.version_at.date()) for d in kept]
                written = land(spec.landing_dir, envelopes, result.rejects, reject_day=start.date())
                cursor = state.watermark(spec.name, key)
                if plan.advances:
                    cursor = state.advance(spec.name, key, next_watermark(plan, [d.version_at for d in kept]))
                report.units[key] = {
                    "lower": plan.lower,
                    "upper": plan.upper,
                    "pulled": len(kept),
                    "landed": written,
                    "rejects": len(result.rejects),
                    "cursor": cursor,
                    "delivery_ids": [d.delivery_id for d in kept],
                }
                log.info(
                    "pull %s %s [%s, %s): pulled=%d landed=%d rejects=%d cursor=%s",
                    spec.name,
                    key,
                    plan.lower,
                    plan.upper,
                    len(kept),
                    written,
                    len(result.rejects),
                    cursor,
                )
    if failures:
        raise PullError(spec.name, failures)
    return report


def read_api(
    spec: SourceSpec,
    *,
    start: datetime,
    end: datetime,
    load_batch_id: str,
    client: HttpClient | None = None,
    now: datetime | None = None,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pull then read the landed window back as (Bronze rows, rejects)."""
    pull_source(spec, start=start, end=end, client=client, now=now)
    return read_landed(
        spec.landing_dir,
        source=spec.name,
        provider=api_sources()[spec.type].name,
        start=as_utc(start),
        end=as_utc(end),
        load_batch_id=load_batch_id,
        bounds=bounds,
    )


def read_api_source(
    spec: SourceSpec,
    *,
    start: datetime,
    end: datetime,
    secret: str | None,
    load_batch_id: str,
    client: HttpClient | None = None,
    now: datetime | None = None,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reader of every API source type (`github_api`, `gitlab_api`, ...): pulls, then reads the window's
    Bronze rows back. `secret` is unused: API sources authenticate with token_env, no webhook signature."""
    del secret
    _api(spec)  # a non-API type fails here, naming the known ones
    return read_api(spec, start=start, end=end, load_batch_id=load_batch_id, client=client, now=now,
                    bounds=bounds)
