"""The generic JSON format (docs/generic-format.md): deployments and incidents from any other tool.

A generic body is translated into the normalised shapes all non-GitHub providers share (normalised.py), so
the Silver rules run once over every provider (providers.py, incident_events.py).

Generic rules:
- A generic body is a snapshot of one deployment or incident; several snapshots of the same id are its
  history. Ids: an integer (or digit string) is used as is; any other text becomes a stable number
  >= 10^12 (`id_number`), because Silver ids are `<repo>:<n>` / `<repo>#<n>`.
- `repo` names the repository; without it `service` is mapped to the one repo configured with that
  service in rules.yaml (`repo_for_service`); no or several candidates is a quarantine reason.
- Times: ISO-8601 (offset or Z), GitLab's `2015-05-17 18:08:09 UTC`, or epoch seconds.
- A deployment's `changes` (list of commit shas or `{sha, timestamp, message}` objects, oldest first) make
  a synthetic main line for repos that have no push history from GitHub or GitLab (`synthetic_mainline`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.incident_events import build_incidents_with, incidents_from_events
from devmetrics_assets.transforms.mainline_model import MainlineInputs, build_mainline
from devmetrics_assets.transforms.normalised import (
    DEP_COLUMNS,
    EVENT_COLUMNS,
    STAT_COLUMNS,
    SYNTHETIC_BASE,
    empty_deployments,
    empty_events,
    id_number,
    normalise_time,
    parse_times,
    reason_series,
    received,
    repo_for_service,
    stable_id,
)
from devmetrics_assets.transforms.payloads import UTC_DTYPE, parse_bodies, text_or_none
from devmetrics_assets.transforms.quarantine import empty_rejects

PROVIDER = "generic"
# Generic / provider status words → GitHub deployment_status states (silver_deployments vocabulary).
# The receiver validates generic bodies against the same words (schema.py).
DEPLOY_STATES = {
    "success": "success",
    "succeeded": "success",
    "successful": "success",
    "ok": "success",
    "failure": "failure",
    "failed": "failure",
    "error": "error",
    "errored": "error",
    "canceled": "inactive",
    "cancelled": "inactive",
    "inactive": "inactive",
    "skipped": "inactive",
    "pending": "pending",
    "created": "pending",
    "queued": "queued",
    "waiting": "waiting",
    "blocked": "waiting",
    "running": "in_progress",
    "in_progress": "in_progress",
    "started": "in_progress",
}
TERMINAL = {"success", "failure", "error", "inactive"}
CLOSED_STATUSES = ("resolved", "closed")


def _repo_of(body: dict, rules: DoraRules) -> tuple[str | None, str | None]:
    repo = text_or_none(body.get("repo") or body.get("repository"))
    if repo is not None:
        return repo.strip(), None
    return repo_for_service(body.get("service"), rules)


def parse_incidents(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """Generic `incident` snapshots → (normalised events, reasons aligned with frame rows)."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = received(frame)
    rows: list[dict] = []
    times: list[tuple[Any, Any, Any, Any]] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        number = id_number(body.get("id"))
        repo, why = _repo_of(body, rules)
        opened_raw = body.get("opened_at") or body.get("created_at")
        if number is None:
            reasons[i] = "incident.id missing"
            continue
        if repo is None:
            reasons[i] = f"incident repo unknown: {why}"
            continue
        if not opened_raw:
            reasons[i] = "incident.opened_at missing"
            continue
        status = str(body.get("status") or "").strip().lower()
        # `status` decides (a reopen snapshot may still carry the old resolved_at); without one, resolved_at.
        closed = status in CLOSED_STATUSES if status else bool(body.get("resolved_at"))
        text = body.get("description") if isinstance(body.get("description"), str) else ""
        rc = text_or_none(body.get("root_cause_sha"))
        if rc:
            text = f"{text}\nroot cause: {rc.strip()}"
        rows.append(
            {
                "row": i,
                "repo": repo,
                "number": number,
                "action": "close" if closed else "open",
                "state": "closed" if closed else "open",
                "title": text_or_none(body.get("title")) or "",
                "text": text,
                "note_id": None,
                "note_deleted": False,
                "received_at": got.iloc[i],
            }
        )
        times.append((opened_raw, body.get("resolved_at"), body.get("updated_at"), closed))
    events = pd.DataFrame(
        rows, columns=[c for c in EVENT_COLUMNS if c not in ("time", "opened_at", "resolved_at")]
    )
    opened, bad_o = parse_times([t[0] for t in times])
    resolved, bad_r = parse_times([t[1] for t in times])
    updated, bad_u = parse_times([t[2] for t in times])
    is_closed = pd.Series([t[3] for t in times], dtype=bool)
    events["opened_at"], events["resolved_at"] = opened.to_numpy(), resolved.to_numpy()
    events["time"] = updated.fillna(resolved.where(is_closed)).fillna(opened).to_numpy()
    for mask, why in (
        (bad_o, "incident.opened_at is not a valid timestamp"),
        (bad_r, "incident.resolved_at is not a valid timestamp"),
        (bad_u, "incident.updated_at is not a valid timestamp"),
    ):
        for row in events.loc[mask, "row"]:
            reasons[row] = reasons[row] or why
    bad = np.asarray(bad_o | bad_r | bad_u, dtype=bool)
    events = events[~bad].reset_index(drop=True)
    return (events if len(events) else empty_events()), reason_series(reasons, frame.index)


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(generic incidents opened in [start, end), rejects of this window's unusable deliveries)."""
    return build_incidents_with(parse_incidents, deliveries, mainline, rules, start, end, PROVIDER)


def _changes_list(value: Any) -> list[tuple[str, Any, str]]:
    """[(sha, timestamp, message)] from a `changes` list of shas or {sha|id, timestamp, message} objects."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append((item.strip().lower(), None, ""))
        elif isinstance(item, dict):
            sha = text_or_none(item.get("sha") or item.get("id"))
            if sha:
                ts = item.get("timestamp") or item.get("committed_at") or item.get("first_commit_at")
                msg = item.get("message") if isinstance(item.get("message"), str) else ""
                out.append((sha.strip().lower(), ts, msg))
    return out


def parse_deployments(
    frame: pd.DataFrame, rules: DoraRules
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, list[list[tuple[str, Any, str]]]]:
    """Generic `deployment` snapshots → (deps, stats, reasons, changes per deps row).

    Each snapshot is one status observation: its time is finished_at for a terminal status, else
    updated_at or created_at. A terminal status without finished_at (or updated_at) is unusable.
    """
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    recs: list[dict] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        dep_id = id_number(body.get("id"))
        repo, why = _repo_of(body, rules)
        sha = text_or_none(body.get("sha"))
        env = text_or_none(body.get("environment"))
        raw_state = str(body.get("status") or "").strip().lower()
        state = DEPLOY_STATES.get(raw_state)
        missing = [
            n
            for n, v in (
                ("id", dep_id),
                ("sha", sha),
                ("environment", env),
                ("created_at", body.get("created_at")),
            )
            if v in (None, "")
        ]
        end_raw = body.get("finished_at") or body.get("updated_at")
        if repo is None:
            reasons[i] = f"deployment repo unknown: {why}"
        elif missing:
            reasons[i] = "deployment." + "/".join(missing) + " missing"
        elif state is None:
            reasons[i] = f"unknown deployment status '{raw_state}'"
        elif state in TERMINAL and not end_raw:
            reasons[i] = f"deployment status '{raw_state}' without finished_at"
        if reasons[i] is not None:
            continue
        recs.append(
            {
                "row": i,
                "repo": repo,
                "dep_id": dep_id,
                "sha": sha.strip(),
                "environment": env.strip(),
                "created_raw": body.get("created_at"),
                "state": state,
                "at_raw": end_raw
                if state in TERMINAL
                else (body.get("updated_at") or body.get("created_at")),
                "changes": _changes_list(body.get("changes")),
            }
        )
    if not recs:
        deps, stats = empty_deployments()
        return deps, stats, reason_series(reasons, frame.index), []
    r = pd.DataFrame(recs)
    r["created_at"], bad_c = parse_times(r["created_raw"])
    r["at"], bad_a = parse_times(r["at_raw"])
    for row in r.loc[bad_c, "row"]:
        reasons[row] = "deployment.created_at is not a valid timestamp"
    for row in r.loc[bad_a & ~bad_c, "row"]:
        reasons[row] = "deployment.finished_at/updated_at is not a valid timestamp"
    r = r[~(bad_c | bad_a)]
    r = r.assign(is_event=True, received_at=received(frame).iloc[r["row"]].to_numpy())
    first = r.sort_values(["received_at", "row"], kind="stable").drop_duplicates(["repo", "dep_id"])
    with_changes = (
        r[r["changes"].map(len) > 0].drop_duplicates(["repo", "dep_id"]).set_index(["repo", "dep_id"])
    )
    keys = list(zip(first["repo"], first["dep_id"], strict=True))
    changes = [with_changes["changes"].get(k, []) for k in keys]
    deps = first[DEP_COLUMNS].reset_index(drop=True)
    stats = r.assign(
        status_id=[
            stable_id(a, b, c, d)
            for a, b, c, d in zip(r["repo"], r["dep_id"], r["state"], r["at"], strict=True)
        ]
    )
    stats = stats.drop(columns="created_at").rename(columns={"at": "created_at"})[STAT_COLUMNS]
    stats = stats.drop_duplicates(["repo", "status_id"]).reset_index(drop=True)
    return deps, stats, reason_series(reasons, frame.index), changes


def synthetic_mainline(
    deps: pd.DataFrame, changes: list[list[tuple[str, Any, str]]], exclude_repos: set[str]
) -> pd.DataFrame:
    """Main line (mainline.MAINLINE_COLUMNS) from deployments' `changes`, for repos without push history.

    Each deployment listing changes acts as one push to `main` at its created_at; commits keep their
    listed order, a commit already listed by an earlier deployment keeps its first position.
    """
    keep = [
        i
        for i, (repo, ch) in enumerate(zip(deps["repo"], changes, strict=True))
        if ch and repo not in exclude_repos
    ]
    pushes = deps.iloc[keep].reset_index(drop=True)
    pushes = pushes.assign(
        push_key=np.arange(len(pushes)),
        ref="refs/heads/main",
        default_branch="main",
        branch="main",
        before=None,
        after=pushes["sha"],
        pushed_at=pushes["created_at"],
        received_at=pushes["created_at"],
    )
    items = [(k, pos, s, ts, msg) for k, i in enumerate(keep) for pos, (s, ts, msg) in enumerate(changes[i])]
    commits = pd.DataFrame(items, columns=["push_key", "pos", "sha", "ts", "message"])
    commits["commit_at"], _ = parse_times(commits["ts"])
    commits = commits.astype({"push_key": "int64", "pos": "int64"}).drop(columns="ts")
    prs = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("repo", "merge_commit_sha", "number")})
    prs["merged_at"] = pd.Series([], dtype=UTC_DTYPE)
    return build_mainline(MainlineInputs(pushes, commits, prs, empty_rejects()), merged=prs)


# The shared normalised names stay importable from here (anchors.py, receiver and tests use them).
__all__ = [
    "CLOSED_STATUSES",
    "DEPLOY_STATES",
    "DEP_COLUMNS",
    "EVENT_COLUMNS",
    "PROVIDER",
    "STAT_COLUMNS",
    "SYNTHETIC_BASE",
    "TERMINAL",
    "build_incidents",
    "empty_deployments",
    "empty_events",
    "id_number",
    "incidents_from_events",
    "normalise_time",
    "parse_deployments",
    "parse_incidents",
    "parse_times",
    "repo_for_service",
    "stable_id",
    "synthetic_mainline",
]
