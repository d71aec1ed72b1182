"""The generic JSON format (docs/generic-format.md) and the normalised forms all non-GitHub providers share.

Every provider other than GitHub is translated into two normalised shapes before Silver rules apply, so
the rules exist once:
- deployments: `deps` (repo, dep_id, sha, environment, created_at) and `stats` (repo, dep_id, status_id,
  state in GitHub's vocabulary, created_at). silver_deployments' final-status and shipping rules then run
  over all providers together (providers.build_deployments), so a repo's deployments form one sequence
  whatever system reported them.
- incident events (EVENT_COLUMNS): one row per state change or note of a repo-qualified incident;
  `incidents_from_events` turns them into silver_incidents rows.

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

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.github_payloads import (
    UTC_DTYPE,
    ShaIndex,
    conform,
    int_or_none,
    parse_bodies,
    root_cause_mentions,
    text_or_none,
    to_utc,
    utc_day,
)
from devmetrics_assets.transforms.mainline import MainlineInputs, build_mainline
from devmetrics_assets.transforms.quarantine import bronze_rejects, empty_rejects, in_window
from devmetrics_assets.transforms.silver_incidents import INCIDENTS_DTYPES

PROVIDER = "generic"
SYNTHETIC_BASE = 10**12
EVENT_COLUMNS = [
    "row",
    "repo",
    "number",
    "time",
    "opened_at",
    "action",
    "state",
    "resolved_at",
    "title",
    "text",
    "note_id",
    "note_deleted",
    "received_at",
]
DEP_COLUMNS = ["row", "repo", "dep_id", "sha", "environment", "created_at", "is_event"]
STAT_COLUMNS = ["row", "repo", "dep_id", "status_id", "state", "created_at"]
# Generic / provider status words → GitHub deployment_status states (silver_deployments vocabulary).
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
_UTC_WORD = re.compile(r"\s+UTC$", re.IGNORECASE)


# --------------------------------------------------------------------------- small shared helpers
def normalise_time(value: Any) -> Any:
    """Provider time text that `to_utc` reads: GitLab's trailing ` UTC` becomes `+00:00`."""
    if isinstance(value, str):
        return _UTC_WORD.sub("+00:00", value.strip())
    return value


def parse_times(values: Any) -> tuple[pd.Series, np.ndarray]:
    """`to_utc` after `normalise_time` (ISO, GitLab `... UTC` / `... +0200`, epoch)."""
    return to_utc([normalise_time(v) for v in values])


def id_number(value: Any) -> int | None:
    """Silver number for a provider id: integers as is, other text as a stable number >= 10^12."""
    number = int_or_none(value)
    if number is not None:
        return number if number >= 1 else None
    text = text_or_none(value)
    if text is None:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SYNTHETIC_BASE + int(digest[:15], 16) % SYNTHETIC_BASE


def stable_id(*parts: Any) -> int:
    """A 62-bit integer from the parts (synthetic deployment-status ids, dedupe on natural keys)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return int(digest[:15], 16)


def repo_for_service(service: Any, rules: DoraRules) -> tuple[str | None, str | None]:
    """(repo, None) for a service configured on exactly one repo (case-insensitive), else (None, reason).

    A service spelled like a configured repo name maps to that repo.
    """
    name = text_or_none(service)
    if name is None:
        return None, "no repo and no service to map it from"
    key = name.strip().lower()
    repos = {r.lower(): r for r in rules.repo_owners}
    if key in repos:
        return repos[key], None
    hits = sorted(r for r, o in rules.repo_owners.items() if str(o.get("service", "")).strip().lower() == key)
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return None, f"service '{name}' is configured on several repos {hits}: name the repo explicitly"
    return None, f"service '{name}' maps to no repo: set repos.<repo>.service in rules.yaml or send repo"


def empty_events() -> pd.DataFrame:
    dtypes = {
        "row": "int64",
        "number": "int64",
        "time": UTC_DTYPE,
        "opened_at": UTC_DTYPE,
        "resolved_at": UTC_DTYPE,
        "received_at": UTC_DTYPE,
        "note_deleted": "bool",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes.get(c, object)) for c in EVENT_COLUMNS})


def empty_deployments() -> tuple[pd.DataFrame, pd.DataFrame]:
    deps = pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            "repo": pd.Series([], dtype="str"),
            "dep_id": pd.Series([], dtype="int64"),
            "sha": pd.Series([], dtype="str"),
            "environment": pd.Series([], dtype="str"),
            "created_at": pd.Series([], dtype=UTC_DTYPE),
            "is_event": pd.Series([], dtype=bool),
        }
    )
    stats = pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            "repo": pd.Series([], dtype="str"),
            "dep_id": pd.Series([], dtype="int64"),
            "status_id": pd.Series([], dtype="int64"),
            "state": pd.Series([], dtype="str"),
            "created_at": pd.Series([], dtype=UTC_DTYPE),
        }
    )
    return deps, stats


def received(frame: pd.DataFrame) -> pd.Series:
    if "received_at" in frame:
        return pd.to_datetime(frame["received_at"], utc=True, errors="coerce").reset_index(drop=True)
    return pd.Series(pd.NaT, index=range(len(frame)), dtype=UTC_DTYPE)


# --------------------------------------------------------------------------- incidents (shared)
def _root_cause(states: list[dict], notes: list[dict]) -> str | None:
    """Last `root cause:` mention in time: latest description (timed when that text first appeared) and the
    latest version of every non-deleted note (timed at its creation); a note wins a tie."""
    candidates: list[tuple[pd.Timestamp, int, int, str]] = []
    if states:
        latest = states[-1]["text"]
        mentions = root_cause_mentions(latest)
        if mentions:
            since = min(s["time"] for s in states if s["text"] == latest)
            candidates += [(since, 0, k, raw) for k, raw in enumerate(mentions)]
    versions: dict[str, list[dict]] = {}
    for n in notes:
        versions.setdefault(n["note_id"], []).append(n)
    for vs in versions.values():
        if vs[-1]["note_deleted"]:
            continue
        created = min(v["time"] for v in vs)
        candidates += [(created, 1, k, raw) for k, raw in enumerate(root_cause_mentions(vs[-1]["text"]))]
    return max(candidates, key=lambda c: c[:3])[3] if candidates else None


def _summary(repo: str, number: int, group: list[dict]) -> dict:
    states = [e for e in group if e["action"] != "note"]
    notes = [e for e in group if e["action"] == "note" and isinstance(e["note_id"], str)]
    state, reopened, closes = "open", 0, []
    for e in states:
        new = e["state"] or {"close": "closed", "open": "open", "reopen": "open"}.get(e["action"], state)
        if new == "open" and state == "closed":
            reopened += 1
        if new == "closed" and (state != "closed" or e["action"] == "close"):
            closes.append(e["resolved_at"] if not pd.isna(e["resolved_at"]) else e["time"])
        state = new
    titles = [e["title"] for e in group if isinstance(e["title"], str) and e["title"]]
    opened = [e["opened_at"] for e in group if not pd.isna(e["opened_at"])]
    return {
        "incident_id": f"{repo}#{number}",
        "repo": repo,
        "number": number,
        "title": titles[-1] if titles else "",
        "opened_at": min(opened) if opened else min(e["time"] for e in group),
        "resolved_at": max(closes) if state == "closed" and closes else pd.NaT,
        "reopened_count": reopened,
        "is_open": state != "closed",
        "root_cause_raw": _root_cause(states, notes),
    }


def incidents_from_events(
    events: pd.DataFrame, mainline: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """silver_incidents rows opened in [start, end) from normalised incident events (EVENT_COLUMNS).

    Events are ordered by (time, received_at, row) and deduplicated on their natural key (the same state
    change or note version delivered by webhook and by API pull counts once). reopened_count counts
    closed → open transitions; resolved_at is the last close while the final state is closed.
    """
    if events.empty:
        return conform(pd.DataFrame(columns=list(INCIDENTS_DTYPES)), INCIDENTS_DTYPES)
    ev = events.sort_values(["time", "received_at", "row"], na_position="first", kind="stable")
    ev = ev.drop_duplicates(["repo", "number", "action", "state", "time", "note_id", "text"])
    groups: dict[tuple[str, int], list[dict]] = {}
    for e in ev.to_dict("records"):
        groups.setdefault((e["repo"], int(e["number"])), []).append(e)
    rows = [_summary(repo, number, g) for (repo, number), g in groups.items()]
    out = pd.DataFrame(rows, columns=list(INCIDENTS_DTYPES)[:-2])
    index = ShaIndex(mainline["repo"], mainline["sha"])
    out["root_cause_sha"] = [
        (index.resolve(r, raw) or raw) if isinstance(raw, str) else None
        for r, raw in zip(out["repo"], out["root_cause_raw"], strict=True)
    ]
    out["opened_at"] = pd.to_datetime(out["opened_at"], utc=True)
    out["event_day"] = utc_day(out["opened_at"])
    out = out[in_window(out["event_day"], start, end)]
    out = out.sort_values(["event_day", "opened_at", "incident_id"], kind="stable")
    return conform(out, INCIDENTS_DTYPES)


# --------------------------------------------------------------------------- generic parsing
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
    return (events if len(events) else empty_events()), pd.Series(reasons, index=frame.index, dtype=object)


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(generic incidents opened in [start, end), rejects of this window's unusable deliveries)."""
    frame = deliveries.reset_index(drop=True)
    events, reasons = parse_incidents(frame, rules)
    return incidents_from_events(events, mainline, start, end), bronze_rejects(frame, reasons)


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
        return deps, stats, pd.Series(reasons, index=frame.index, dtype=object), []
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
    return deps, stats, pd.Series(reasons, index=frame.index, dtype=object), changes


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


__all__ = [
    "EVENT_COLUMNS",
    "PROVIDER",
    "build_incidents",
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
