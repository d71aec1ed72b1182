"""Dispatch: Bronze rows of every provider → ONE set of Silver entities with the contract columns.

Each Silver model reads the Bronze event types of all providers (`event_types`), and this module splits the
rows by `provider` (rows without the column are GitHub's) and runs each provider's parser:
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

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms import generic, gitlab, pagerduty
from devmetrics_assets.transforms.github_payloads import UTC_DTYPE, as_day, conform, utc_day
from devmetrics_assets.transforms.mainline import MAINLINE_COLUMNS, mainline_from_deliveries
from devmetrics_assets.transforms.normalised import empty_deployments
from devmetrics_assets.transforms.quarantine import (
    QUARANTINE_COLUMNS,
    REJECT_COLUMNS,
    bronze_rejects,
    empty_rejects,
    in_window,
    quarantine_rows,
)
from devmetrics_assets.transforms.reviews import GITHUB_REVIEW, GITLAB_NOTE
from devmetrics_assets.transforms.silver_changes import (
    CHANGES_DTYPES,
    IncidentKeys,
    _direct_changes,
    build_silver_changes,
    finish_changes,
)
from devmetrics_assets.transforms.silver_deployments import (
    DEPLOYMENTS_DTYPES,
    _final_status,
    _ship,
)
from devmetrics_assets.transforms.silver_deployments import _parse as github_parse_deployments
from devmetrics_assets.transforms.silver_incidents import (
    INCIDENTS_DTYPES,
    build_silver_incidents,
    github_incident_keys,
)

PROVIDERS = ("github", "gitlab", "pagerduty", "generic")
GITHUB_MAINLINE = ("push", "pull_request")
# Reviews only fill silver_changes' first_review_at (reviews.py); they never touch the main line.
GITHUB_REVIEWS = (GITHUB_REVIEW,)
GITLAB_REVIEWS = (GITLAB_NOTE,)  # approvals are Merge Request Hooks, already main-line events
EVENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "mainline": {"github": GITHUB_MAINLINE, "gitlab": gitlab.MAINLINE_EVENTS, "generic": ("deployment",)},
    "changes": {
        "github": GITHUB_MAINLINE + GITHUB_REVIEWS,
        "gitlab": gitlab.MAINLINE_EVENTS + GITLAB_REVIEWS,
        "generic": ("deployment",),
    },
    "deployments": {
        "github": ("deployment", "deployment_status"),
        "gitlab": gitlab.DEPLOYMENT_EVENTS,
        "generic": ("deployment",),
    },
    "incidents": {
        "github": ("issues", "issue_comment"),
        "gitlab": gitlab.INCIDENT_EVENTS,
        "pagerduty": pagerduty.EVENTS,
        "generic": ("incident",),
    },
}


def event_types(entity: str, providers: tuple[str, ...] = PROVIDERS) -> tuple[str, ...]:
    """Every Bronze event type the entity reads from these providers (what to ask `read_bronze` for)."""
    seen = {t: None for p, types in EVENTS[entity].items() if p in providers for t in types}
    return tuple(seen)


def kinds(entity: str, providers: tuple[str, ...] = PROVIDERS) -> tuple[tuple[str, str], ...]:
    """(provider, event_type) pairs the entity reads: `read_bronze` then skips other providers' rows
    that share an event type name (a GitHub `deployment` is not a generic `deployment`)."""
    return tuple((p, t) for p, types in EVENTS[entity].items() if p in providers for t in types)


def split(rows: pd.DataFrame, entity: str) -> dict[str, pd.DataFrame]:
    """Rows of each provider restricted to that provider's event types for the entity (load order kept)."""
    provider = (
        rows["provider"].fillna("github") if "provider" in rows else pd.Series("github", index=rows.index)
    )
    out = {}
    for name, types in EVENTS[entity].items():
        part = rows[(provider == name).to_numpy() & rows["event_type"].isin(types).to_numpy()]
        if len(part):
            out[name] = part.reset_index(drop=True)
    return out


def _empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return conform(pd.DataFrame(columns=list(dtypes)), dtypes)


def _no_deliveries() -> pd.DataFrame:
    """No Bronze rows, with the columns GitHub's main-line parser reads."""
    return pd.DataFrame({"event_type": pd.Series([], dtype="str"), "body": pd.Series([], dtype="str")})


def _empty_mainline() -> pd.DataFrame:
    return mainline_from_deliveries(_no_deliveries())


def build_mainline(rows: pd.DataFrame, rules: DoraRules | None = None) -> pd.DataFrame:
    """The main line of every repo (mainline.MAINLINE_COLUMNS): GitHub, GitLab, then generic `changes`
    for repos neither knows (`rules` maps a generic deployment's service to its repo). GitHub and GitLab
    are memoised."""
    parts = split(rows, "mainline")
    frames = []
    if "github" in parts:
        frames.append(mainline_from_deliveries(parts["github"]))
    if "gitlab" in parts:
        frames.append(gitlab.load_mainline(parts["gitlab"])[2])
    known = set().union(*(set(f["repo"]) for f in frames)) if frames else set()
    if "generic" in parts:
        deps, _, _, changes = generic.parse_deployments(parts["generic"], rules or DoraRules())
        frames.append(generic.synthetic_mainline(deps, changes, known))
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_mainline()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).drop_duplicates(["repo", "sha"])[MAINLINE_COLUMNS]


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


def incident_issue_keys(rows: pd.DataFrame | None, rules: DoraRules) -> IncidentKeys:
    """(repo, number) of every incident issue in these Bronze incident rows (GitHub and GitLab issues only:
    their numbers are what a PR's or MR's `Closes #N` names; PagerDuty and generic incidents never are)."""
    if rows is None or rows.empty:
        return set()
    parts = split(rows, "incidents")
    keys: IncidentKeys = set()
    if "github" in parts:
        keys |= github_incident_keys(parts["github"], rules)
    if "gitlab" in parts:
        events, _ = gitlab.parse_incident_events(parts["gitlab"].reset_index(drop=True), rules)
        keys |= {(r, int(n)) for r, n in zip(events["repo"], events["number"], strict=True)}
    return keys


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
    keys = incident_issue_keys(incident_rows, rules)
    parts = split(rows, "changes")
    frames: list[tuple[str, pd.DataFrame]] = []
    rejects: list[pd.DataFrame] = []
    if "github" in parts:
        changes, q = build_silver_changes(parts["github"], rules, start, end, keys)
        frames.append(("github", changes))
        rejects.append(q)
    if "gitlab" in parts:
        changes, rej = gitlab.build_changes(parts["gitlab"], start, end, keys)
        frames.append(("gitlab", changes))
        rejects.append(rej)
    if "generic" in parts:
        frames.append(("generic", _generic_changes(parts, rules, start, end)))
    rows_out, collided = _collisions(frames, "change_id", "silver_changes") if frames else (None, None)
    out = _empty(CHANGES_DTYPES) if rows_out is None or rows_out.empty else conform(rows_out, CHANGES_DTYPES)
    out = out.sort_values(["event_day", "landed_at", "change_id"], kind="stable").reset_index(drop=True)
    q = _quarantine("silver_changes", [*rejects, *([collided] if collided is not None else [])], start, end)
    return out, q


def _mainline_only(rows: pd.DataFrame, provider: str) -> pd.DataFrame:
    """A provider's rows of its main-line event types (review rows left out: same memoised main line)."""
    return rows[rows["event_type"].isin(EVENTS["mainline"][provider]).to_numpy()].reset_index(drop=True)


def _generic_changes(
    parts: dict[str, pd.DataFrame], rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Direct-commit changes of the synthetic main line built from generic deployments' `changes`."""
    known: set[str] = set()
    if "github" in parts:
        known |= set(mainline_from_deliveries(_mainline_only(parts["github"], "github"))["repo"])
    if "gitlab" in parts:
        known |= set(gitlab.load_mainline(_mainline_only(parts["gitlab"], "gitlab"))[2]["repo"])
    deps, _, _, changes = generic.parse_deployments(parts["generic"], rules)
    ml = generic.synthetic_mainline(deps, changes, known)
    direct = _direct_changes(ml[in_window(utc_day(ml["pushed_at"]), start, end)])
    # A generic tool has no issue tracker: its `Fixes #N` can name no incident (never a hotfix here).
    return finish_changes(direct, ml, set(), start, end)


def build_deployments(
    rows: pd.DataFrame,
    mainline_rows: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver_deployments created in [start, end) of all providers, quarantine rows for the window).

    `rows`: Bronze deployment rows of all providers with event_day < end + 1 day (GitLab statuses anchor on
    their own time, so a deployment crossing midnight needs the next day); GitHub and generic rows are
    used up to `end` exactly as before. `mainline_rows`: main-line rows of all providers (event_day < end).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    parts = split(rows, "deployments")
    mainline = build_mainline(mainline_rows, rules)
    deps_all, stats_all, rejects = [], [], []
    for provider, part in parts.items():
        deps, stats, rej = _provider_deployments(provider, part, rules, end)
        deps_all.append((provider, deps))
        stats_all.append(stats)
        rejects.append(rej)
    if not deps_all:
        return _empty(DEPLOYMENTS_DTYPES), _quarantine("silver_deployments", rejects, start, end)
    deps = _unique_deployments(deps_all, rejects)
    stats = pd.concat(stats_all, ignore_index=True) if stats_all else empty_deployments()[1]
    deps = _final_status(deps, stats)
    deps["deployment_id"] = deps["repo"] + ":" + deps["dep_id"].astype("str")
    deps = _ship(deps, mainline, rules)
    deps["created_at"] = pd.to_datetime(deps["created_at"], utc=True).astype(UTC_DTYPE)
    deps["finished_at"] = pd.to_datetime(deps["finished_at"], utc=True).astype(UTC_DTYPE)
    deps["event_day"] = utc_day(deps["created_at"])
    out = deps[in_window(deps["event_day"], start, end)]
    out = conform(
        out.sort_values(["event_day", "created_at", "deployment_id"], kind="stable"), DEPLOYMENTS_DTYPES
    )
    return out, _quarantine("silver_deployments", rejects, start, end)


def _provider_deployments(
    provider: str, rows: pd.DataFrame, rules: DoraRules, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(deps, stats, rejects) of one provider's deployment rows in the normalised shapes.

    GitHub and generic rows count up to `end`; GitLab statuses anchor on their own time, so its rows run
    one day longer and its deployments are cut on created_at instead.
    """
    if provider == "gitlab":
        deps, stats, reasons = gitlab.parse_deployments(rows)
        return deps[utc_day(deps["created_at"]) < end], stats, bronze_rejects(rows, reasons)
    if "event_day" in rows:
        rows = rows[as_day(rows["event_day"]) < end].reset_index(drop=True)
    if provider == "github":
        deps, stats, reasons = github_parse_deployments(rows)
    else:
        deps, stats, reasons, _ = generic.parse_deployments(rows, rules)
    return deps, stats, bronze_rejects(rows, reasons)


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


def build_incidents(
    rows: pd.DataFrame,
    mainline_rows: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(silver_incidents opened in [start, end) of all providers, quarantine rows for the window).

    `rows`: incident rows with start <= event_day < end, plus PagerDuty rows from start onwards (notes
    anchor on their received day); `mainline_rows`: main-line rows of all providers (event_day < end).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    parts = split(rows, "incidents")
    frames: list[tuple[str, pd.DataFrame]] = []
    rejects: list[pd.DataFrame] = []
    if "github" in parts:
        gh_mainline = split(mainline_rows, "mainline").get("github")
        if gh_mainline is None:
            gh_mainline = _no_deliveries()
        incidents, q = build_silver_incidents(parts["github"], gh_mainline, rules, start, end)
        frames.append(("github", incidents))
        rejects.append(q)
    others = [p for p in ("gitlab", "pagerduty", "generic") if p in parts]
    mainline = build_mainline(mainline_rows, rules) if others else None
    builders = {
        "gitlab": gitlab.build_incidents,
        "pagerduty": pagerduty.build_incidents,
        "generic": generic.build_incidents,
    }
    for provider in others:
        incidents, rej = builders[provider](parts[provider], mainline, rules, start, end)
        frames.append((provider, incidents))
        rejects.append(rej)
    if not frames:
        return _empty(INCIDENTS_DTYPES), _quarantine("silver_incidents", rejects, start, end)
    rows_out, collided = _collisions(frames, "incident_id", "silver_incidents")
    out = conform(rows_out, INCIDENTS_DTYPES) if len(rows_out) else _empty(INCIDENTS_DTYPES)
    out = out.sort_values(["event_day", "opened_at", "incident_id"], kind="stable").reset_index(drop=True)
    return out, _quarantine("silver_incidents", [*rejects, collided], start, end)
