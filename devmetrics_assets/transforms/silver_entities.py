"""Dispatch: Bronze rows of every provider → ONE set of Silver entities with the contract columns.

Each Silver model reads the Bronze event types of all providers (`kinds`), and this module splits the
rows by `provider` (rows without the column are GitHub's) and runs each provider's Silver mapping
(`Provider.silver`, providers/<name>/) in registry order. What the providers provide today:
- changes: GitHub's builder unchanged; GitLab's (gitlab.build_changes); generic deployments' `changes`
  lists as direct commits of repos with no push history.
- deployments: every provider is parsed into the same deployment/status shapes and silver_deployments'
  final-status and shipping rules run once over all of them, against the combined main line (GitHub +
  GitLab + generic), so e.g. generic deployments of a GitLab project ship its merge requests.
- incidents: GitHub's builder unchanged; GitLab issues, PagerDuty incidents and generic incidents through
  incident_events.incidents_from_events; short root-cause shas resolve against the combined main line.
Ids are repo-qualified, so providers never collide unless two report the same repo and id: the first
provider in PROVIDERS order keeps the id and the other's row is quarantined with the reason.
Repo names must be unique across providers (a GitHub `acme/api` and a GitLab `acme/api` would be one repo).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers import DEFAULT_PROVIDER, PROVIDERS, issue_trackers
from devmetrics_assets.providers.interface import SilverContext
from devmetrics_assets.transforms.mainline_model import MAINLINE_COLUMNS, empty_mainline
from devmetrics_assets.transforms.normalised import empty_deployments, final_status
from devmetrics_assets.transforms.payloads import UTC_DTYPE, as_day, conform, utc_day
from devmetrics_assets.transforms.quarantine import (
    QUARANTINE_COLUMNS,
    REJECT_COLUMNS,
    empty_rejects,
    in_window,
    quarantine_rows,
)
from devmetrics_assets.transforms.releases import sequence
from devmetrics_assets.transforms.silver_contract import CHANGES_DTYPES, DEPLOYMENTS_DTYPES, INCIDENTS_DTYPES

IncidentKeys = set[tuple[str, int]]


def _names(providers: tuple[str, ...] | None) -> tuple[str, ...]:
    return tuple(PROVIDERS) if providers is None else providers


def event_types(entity: str, providers: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Every Bronze event type the entity reads from these providers (what to ask `read_bronze` for)."""
    seen = {t: None for name in _names(providers) for t in PROVIDERS[name].silver.events_of(entity)}
    return tuple(seen)


def kinds(entity: str, providers: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """(provider, event_type) pairs the entity reads: `read_bronze` then skips other providers' rows
    that share an event type name (a GitHub `deployment` is not a generic `deployment`)."""
    return tuple((name, t) for name in _names(providers) for t in PROVIDERS[name].silver.events_of(entity))


def issue_tracker_kinds() -> tuple[tuple[str, str], ...]:
    """(provider, event_type) of the incident issues a change's `Closes #N` can name (issue trackers only)."""
    return kinds("incidents", issue_trackers())


def open_ended_incident_kinds(open_ended: bool) -> tuple[tuple[str, str], ...]:
    """Incident kinds of the providers whose incident rows anchor on their received day (or the others)."""
    return kinds("incidents", tuple(n for n, p in PROVIDERS.items()
                                    if p.silver.incidents_open_ended == open_ended))


def deployment_mainline_providers() -> tuple[str, ...]:
    """Providers whose deployment rows also carry main-line facts (a generic deployment's `changes`)."""
    return tuple(n for n, p in PROVIDERS.items() if p.silver.deployments_are_mainline)


def review_kinds() -> list[tuple[str, str]]:
    """(provider, event_type) of every review event (transforms/reviews.py)."""
    return [(n, t) for n, p in PROVIDERS.items() for t in p.silver.review_events]


def _provider_of(rows: pd.DataFrame) -> pd.Series:
    if "provider" in rows:
        return rows["provider"].fillna(DEFAULT_PROVIDER)
    return pd.Series(DEFAULT_PROVIDER, index=rows.index)


def split(rows: pd.DataFrame, entity: str) -> dict[str, pd.DataFrame]:
    """Rows of each provider restricted to that provider's event types for the entity (load order kept)."""
    provider = _provider_of(rows)
    out = {}
    for name, spec in PROVIDERS.items():
        types = spec.silver.events_of(entity)
        if not types:
            continue
        part = rows[(provider == name).to_numpy() & rows["event_type"].isin(types).to_numpy()]
        if len(part):
            out[name] = part.reset_index(drop=True)
    return out


def reviews_of(rows: pd.DataFrame) -> list[pd.DataFrame]:
    """First-review facts of every provider's review rows (transforms/reviews.py)."""
    provider = _provider_of(rows)
    return [spec.silver.reviews(rows[(provider == name).to_numpy()])
            for name, spec in PROVIDERS.items() if spec.silver.reviews is not None]


def review_landing_days(rows: pd.DataFrame, changes: pd.DataFrame) -> set[pd.Timestamp]:
    """Landing days (silver_changes event_day) of the merged changes that these Bronze review rows name.

    A review anchors on its own day, which is the change's landing day or earlier; when a review arrives
    late, the change's own day must be re-run too: runner.late_review_days adds these days to a load's
    changed event days.
    """
    if rows.empty or changes.empty:
        return set()
    found = pd.concat(reviews_of(rows), ignore_index=True)
    prs = changes[changes["pr_number"].notna()][["repo", "pr_number", "event_day"]]
    prs = prs.rename(columns={"pr_number": "number"}).astype({"number": "int64"})
    hits = found[["repo", "number"]].drop_duplicates().merge(prs, on=["repo", "number"])
    return {pd.Timestamp(d) for d in hits["event_day"]}


def _mainlines(parts: dict[str, pd.DataFrame], rules: DoraRules) -> list[pd.DataFrame]:
    """Each provider's main line in registry order; a later one only fills repos the earlier ones lack."""
    frames: list[pd.DataFrame] = []
    known: set[str] = set()
    for name, spec in PROVIDERS.items():
        if name in parts and spec.silver.mainline is not None:
            frame = spec.silver.mainline(parts[name], rules, frozenset(known))
            frames.append(frame)
            known |= set(frame["repo"])
    return frames


def build_mainline(rows: pd.DataFrame, rules: DoraRules | None = None) -> pd.DataFrame:
    """The main line of every repo (MAINLINE_COLUMNS) from main-line rows of every provider (`rules` maps a
    generic deployment's service to its repo). Providers memoise their own."""
    frames = [f for f in _mainlines(split(rows, "mainline"), rules or DoraRules()) if len(f)]
    if not frames:
        return empty_mainline()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).drop_duplicates(["repo", "sha"])[MAINLINE_COLUMNS]


def _known_repos(parts: dict[str, pd.DataFrame], rules: DoraRules) -> Callable[[str], set[str]]:
    """Repos whose main line a provider BEFORE `name` knows, from its rows of the main-line event types."""

    def known(name: str) -> set[str]:
        repos: set[str] = set()
        for other, spec in PROVIDERS.items():
            if other == name:
                break
            if other in parts and spec.silver.mainline is not None:
                rows = parts[other]
                rows = rows[rows["event_type"].isin(spec.silver.events_of("mainline")).to_numpy()]
                repos |= set(spec.silver.mainline(rows.reset_index(drop=True), rules, frozenset())["repo"])
        return repos

    return known


def incident_issue_keys(rows: pd.DataFrame | None, rules: DoraRules) -> IncidentKeys:
    """(repo, number) of every incident issue in these Bronze incident rows (issue trackers only: their
    numbers are what a PR's or MR's `Closes #N` names; other incident systems' never are)."""
    if rows is None or rows.empty:
        return set()
    keys: IncidentKeys = set()
    for name, part in split(rows, "incidents").items():
        if PROVIDERS[name].silver.incident_keys is not None:
            keys |= PROVIDERS[name].silver.incident_keys(part, rules)
    return keys


def _map_each(
    parts: dict[str, pd.DataFrame], entity: str, ctx: SilverContext
) -> tuple[list[tuple[str, pd.DataFrame]], list[pd.DataFrame]]:
    """Each provider's rows through its `entity` mapper (changes | incidents): ([(name, rows)], rejects)."""
    frames: list[tuple[str, pd.DataFrame]] = []
    rejects: list[pd.DataFrame] = []
    for name, part in parts.items():
        mapper = getattr(PROVIDERS[name].silver, entity)
        if mapper is None:
            continue
        rows, rej = mapper(part, ctx)
        frames.append((name, rows))
        rejects.append(rej)
    return frames, rejects


def build_changes(
    rows: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
    incident_rows: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver_changes rows landed in [start, end) of all providers, quarantine rows for the window).

    `incident_rows`: Bronze incident deliveries known so far; an issue they make an incident turns the
    changes that close it into hotfixes (is_hotfix).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    parts = split(rows, "changes")
    keys = incident_issue_keys(incident_rows, rules)
    ctx = SilverContext(rules=rules, start=start, end=end, incident_keys=keys,
                        known_repos=_known_repos(parts, rules))
    frames, rejects = _map_each(parts, "changes", ctx)
    rows_out, collided = _collisions(frames, "change_id", "silver_changes") if frames else (None, None)
    out = _empty(CHANGES_DTYPES) if rows_out is None or rows_out.empty else conform(rows_out, CHANGES_DTYPES)
    out = out.sort_values(["event_day", "landed_at", "change_id"], kind="stable").reset_index(drop=True)
    q = _quarantine("silver_changes", [*rejects, *([collided] if collided is not None else [])], start, end)
    return out, q


def build_deployments(
    rows: pd.DataFrame,
    mainline_rows: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver_deployments created in [start, end) of all providers, quarantine rows for the window).

    `rows`: Bronze deployment rows of all providers with event_day < end + 1 day (GitLab statuses anchor on
    their own time, so a deployment crossing midnight needs the next day); each provider cuts its own rows
    (`SilverMapping.deployments`). `mainline_rows`: main-line rows of all providers (event_day < end).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    parts = split(rows, "deployments")
    mainline = build_mainline(mainline_rows, rules)
    deps_all, stats_all, rejects = [], [], []
    for name, part in parts.items():
        mapper = PROVIDERS[name].silver.deployments
        if mapper is None:
            continue
        deps, stats, rej = mapper(part, rules, end)
        deps_all.append((name, deps))
        stats_all.append(stats)
        rejects.append(rej)
    if not deps_all:
        return _empty(DEPLOYMENTS_DTYPES), _quarantine("silver_deployments", rejects, start, end)
    deps = _unique_deployments(deps_all, rejects)
    stats = pd.concat(stats_all, ignore_index=True) if stats_all else empty_deployments()[1]
    deps = final_status(deps, stats)
    deps["deployment_id"] = deps["repo"] + ":" + deps["dep_id"].astype("str")
    deps = sequence(deps, mainline, rules)
    deps["created_at"] = pd.to_datetime(deps["created_at"], utc=True).astype(UTC_DTYPE)
    deps["finished_at"] = pd.to_datetime(deps["finished_at"], utc=True).astype(UTC_DTYPE)
    deps["event_day"] = utc_day(deps["created_at"])
    out = deps[in_window(deps["event_day"], start, end)]
    out = conform(
        out.sort_values(["event_day", "created_at", "deployment_id"], kind="stable"), DEPLOYMENTS_DTYPES
    )
    return out, _quarantine("silver_deployments", rejects, start, end)


def build_incidents(
    rows: pd.DataFrame,
    mainline_rows: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver_incidents opened in [start, end) of all providers, quarantine rows for the window).

    `rows`: incident rows with start <= event_day < end, plus the rows of open-ended providers from start
    onwards (PagerDuty notes anchor on their received day); `mainline_rows`: main-line rows of all
    providers (event_day < end): short root-cause shas resolve against them.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    parts = split(rows, "incidents")
    combined: list[pd.DataFrame] = []

    def mainline() -> pd.DataFrame:
        if not combined:
            combined.append(build_mainline(mainline_rows, rules))
        return combined[0]

    ctx = SilverContext(rules=rules, start=start, end=end, mainline_rows=split(mainline_rows, "mainline"),
                        mainline=mainline)
    frames, rejects = _map_each(parts, "incidents", ctx)
    if not frames:
        return _empty(INCIDENTS_DTYPES), _quarantine("silver_incidents", rejects, start, end)
    rows_out, collided = _collisions(frames, "incident_id", "silver_incidents")
    out = conform(rows_out, INCIDENTS_DTYPES) if len(rows_out) else _empty(INCIDENTS_DTYPES)
    out = out.sort_values(["event_day", "opened_at", "incident_id"], kind="stable").reset_index(drop=True)
    return out, _quarantine("silver_incidents", [*rejects, collided], start, end)


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return conform(pd.DataFrame(columns=list(dtypes)), dtypes)


def _collisions(
    frames: list[tuple[str, pd.DataFrame]], key: str, asset: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate providers' rows; a key already taken by an earlier provider is quarantined instead."""
    kept, rejected, taken = [], [], set()
    for provider, frame in frames:
        dup = frame[key].isin(taken).to_numpy()
        if dup.any():
            bad = frame[dup]
            refs = bad[key].astype("str").to_numpy()
            days = as_day(bad["event_day"]).to_numpy()
            rejected.append(
                _already_reported(provider, bad, refs, days, f"{key} already reported by another provider")
            )
        kept.append(frame[~dup])
        taken.update(frame.loc[~dup, key])
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()
    rej = quarantine_rows("silver", asset, pd.concat(rejected, ignore_index=True)) if rejected else None
    return rows, rej if rej is not None else quarantine_rows("silver", asset, empty_rejects())


def _already_reported(
    provider: str, bad: pd.DataFrame, refs: np.ndarray, days: np.ndarray, reason: str
) -> pd.DataFrame:
    """Reject rows for a provider's rows whose id an earlier provider already reported (record: the row)."""
    return pd.DataFrame(
        {
            "source": provider,
            "record_ref": refs,
            "partition_day": days,
            "reason": reason,
            "record": [json.dumps(r, default=str) for r in bad.to_dict("records")],
        }
    )


def _quarantine(
    asset: str, parts: list[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Quarantine rows of all providers (rejects or quarantine frames) with a partition day in the window."""
    frames = [p[REJECT_COLUMNS] for p in parts if len(p)]
    if not frames:
        return quarantine_rows("silver", asset, empty_rejects())
    rej = pd.concat(frames, ignore_index=True)
    rej = rej[in_window(as_day(rej["partition_day"]), start, end)]
    return quarantine_rows("silver", asset, rej)[QUARANTINE_COLUMNS]


def _unique_deployments(
    deps_all: list[tuple[str, pd.DataFrame]], rejects: list[pd.DataFrame]
) -> pd.DataFrame:
    """Concatenate providers' deployments; a (repo, id) an earlier provider reported is quarantined."""
    kept, taken = [], set()
    for provider, deps in deps_all:
        keys = list(zip(deps["repo"], deps["dep_id"], strict=True))
        dup = np.array([k in taken for k in keys], dtype=bool)
        if dup.any():
            bad = deps[dup]
            refs = (bad["repo"] + ":" + bad["dep_id"].astype("str")).to_numpy()
            days = utc_day(bad["created_at"]).to_numpy()
            reason = "deployment id already reported by another provider"
            rejects.append(_already_reported(provider, bad, refs, days, reason))
        kept.append(deps[~dup])
        taken.update(k for k, d in zip(keys, dup, strict=True) if not d)
    out = pd.concat(kept, ignore_index=True)
    return out.astype({"dep_id": "int64", "is_event": bool})
