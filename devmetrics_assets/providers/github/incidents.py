"""silver_incidents: one row per repo-qualified incident issue, anchored on its opening day.

Rules (contracts §2, §4, §5):
- An issue is an incident when a label of its latest known state, or the label of any `labeled`
  event, matches rules.is_incident_label (case-insensitive). incident_id = `<repo>#<number>`.
- Volumes are small (one day of issues), so bodies go through json.loads and plain Python; only the
  main line (memoised, see mainline.load_mainline) is needed from the large push history.
- Events are ordered by their own time: `closed` → issue.closed_at, `opened` → issue.created_at, other
  issue actions → issue.updated_at, comments → comment.created_at (edits/deletes: comment.updated_at).
  The latest `issues` event's snapshot gives title, body, labels and state (a comment's snapshot only
  when the issue has no own event: comment payloads may carry a stale issue).
- opened_at = issue.created_at; resolved_at = the last closed_at while the final state is closed;
  reopened_count = number of distinct `reopened` events; is_open = final state is not closed.
- Root cause: every `root cause: <sha>` mention in the latest issue body (timed when that body text
  first appeared) and in the latest version of each non-deleted comment (timed at comment.created_at);
  the last one in time wins (a comment wins a tie, the later mention inside one text wins).
  root_cause_sha = the full sha of the unique main-line commit of the same repo starting with it, else raw.
- Dedupe: issue events on (repo, number, action, event time, label), comments on (comment id, action, time).
- provider = "github"; incident_id `<repo>#<number>` (an issue tracker's own numbers: a fixing PR's
  `Closes #N` names them). Incidents of other providers are namespaced (incident_events.incident_id).
- Quarantine: invalid JSON, missing repository.full_name / issue / issue.number for any delivery; for
  deliveries of incident issues also a missing/bad issue.created_at, event time or comment id.
  Non-incident issues are irrelevant and never quarantined for their content.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.mainline import mainline_from_deliveries
from devmetrics_assets.transforms.payloads import (
    ShaIndex,
    as_day,
    conform,
    dig,
    frame_of,
    int_or_none,
    parse_bodies,
    root_cause_mentions,
    text_or_none,
    to_utc,
    utc_day,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects, in_window, quarantine_rows
from devmetrics_assets.transforms.silver_contract import INCIDENTS_DTYPES

ASSET = "silver_incidents"
_DTYPES = {
    "row": "int64",
    "number": "int64",
    "is_comment": "bool",
    "labels": "object",
    "comment_id": "float64",
}
_FIELDS = (
    "row",
    "repo",
    "number",
    "is_comment",
    "action",
    "title",
    "body",
    "state",
    "labels",
    "label",
    "comment_id",
    "comment_body",
    "created_raw",
    "updated_raw",
    "closed_raw",
    "c_created_raw",
    "c_updated_raw",
)


def _label_names(labels: object) -> list[str]:
    if not isinstance(labels, list):
        return []
    names = (lab.get("name") if isinstance(lab, dict) else lab for lab in labels)
    return [n for n in names if isinstance(n, str)]


def _parse(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str | None]]:
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    ev: dict[str, list] = {k: [] for k in _FIELDS}
    for i, (body, etype) in enumerate(zip(bodies, frame["event_type"].tolist(), strict=True)):
        if body is None:
            continue
        repo = text_or_none(dig(body, "repository", "full_name"))
        issue = body.get("issue")
        number = int_or_none(dig(issue, "number"))
        if repo is None:
            reasons[i] = "repository.full_name missing"
            continue
        if not isinstance(issue, dict) or number is None:
            reasons[i] = "issue object or issue.number missing"
            continue
        comment = body.get("comment") if etype == "issue_comment" else None
        comment = comment if isinstance(comment, dict) else {}
        values = (
            i,
            repo,
            number,
            etype == "issue_comment",
            text_or_none(body.get("action")) or "",
            issue.get("title") if isinstance(issue.get("title"), str) else "",
            issue.get("body") if isinstance(issue.get("body"), str) else "",
            text_or_none(issue.get("state")),
            _label_names(issue.get("labels")),
            text_or_none(dig(body, "label", "name")),
            int_or_none(comment.get("id")),
            comment.get("body") if isinstance(comment.get("body"), str) else "",
            issue.get("created_at"),
            issue.get("updated_at"),
            issue.get("closed_at"),
            comment.get("created_at"),
            comment.get("updated_at"),
        )
        for key, value in zip(_FIELDS, values, strict=True):
            ev[key].append(value)
    events = frame_of(ev, _DTYPES)
    bad: dict[str, np.ndarray] = {}
    for raw, col in (
        ("created_raw", "created_at"),
        ("updated_raw", "updated_at"),
        ("closed_raw", "closed_at"),
        ("c_created_raw", "c_created_at"),
        ("c_updated_raw", "c_updated_at"),
    ):
        events[col], bad[col] = to_utc(events.pop(raw).tolist())
    action = events["action"]
    issue_time = (
        events["updated_at"]
        .mask(action == "closed", events["closed_at"])
        .mask(action == "opened", events["created_at"])
    )
    comment_time = events["c_created_at"].where(action == "created", events["c_updated_at"])
    comment_time = comment_time.fillna(events["c_created_at"])
    events["event_time"] = comment_time.where(events["is_comment"], issue_time)
    events["event_time"] = events["event_time"].fillna(events["updated_at"]).fillna(events["created_at"])
    # Why a delivery of an incident issue is unusable (applied once incidents are known).
    why = pd.Series(None, index=events.index, dtype=object)
    checks = [
        (events["comment_id"].isna() & events["is_comment"], "issue_comment without comment.id"),
        (pd.Series(bad["c_created_at"] | bad["c_updated_at"]), "comment timestamp is not valid"),
        (events["event_time"].isna(), "no usable event time (updated_at/closed_at/comment.created_at)"),
        (pd.Series(bad["updated_at"] | bad["closed_at"]), "issue.updated_at/closed_at is not valid"),
        (events["created_at"].isna() & ~pd.Series(bad["created_at"]), "issue.created_at missing"),
        (pd.Series(bad["created_at"]), "issue.created_at is not a valid timestamp"),
    ]
    for mask, reason in checks:
        why = why.mask(mask.to_numpy(), reason)
    events["why"] = why
    return events, reasons


def _incident_keys(events: pd.DataFrame, rules: DoraRules) -> set[tuple[str, int]]:
    cache: dict[str, bool] = {}

    def is_inc(name: str | None) -> bool:
        if not isinstance(name, str):
            return False
        if name not in cache:
            cache[name] = rules.is_incident_label(name)
        return cache[name]

    latest = events.sort_values(
        ["is_comment", "event_time", "updated_at", "row"],
        na_position="first",
        ascending=[False, True, True, True],
        kind="stable",
    )
    # Issue events outrank comment snapshots: an issue's own events carry its authoritative state.
    latest = latest.drop_duplicates(["repo", "number"], keep="last")
    keys = {
        (r, n)
        for r, n, labels in zip(latest["repo"], latest["number"], latest["labels"], strict=True)
        if any(is_inc(x) for x in labels)
    }
    labeled = events[(events["action"] == "labeled") & events["label"].map(is_inc).astype(bool)]
    keys.update(zip(labeled["repo"], labeled["number"], strict=True))
    return keys


def github_incident_keys(deliveries: pd.DataFrame, rules: DoraRules) -> set[tuple[str, int]]:
    """(repo, number) of the incident issues among these issues / issue_comment rows (any day)."""
    events, _ = _parse(deliveries.reset_index(drop=True))
    return {(r, int(n)) for r, n in _incident_keys(events, rules)} if len(events) else set()


def _root_cause(group: list[dict], latest: dict) -> str | None:
    """The last `root cause:` mention in time across the latest body and the latest comment versions."""
    candidates: list[tuple[pd.Timestamp, int, int, str]] = []
    body_mentions = root_cause_mentions(latest["body"])
    if body_mentions:
        since = min(e["event_time"] for e in group if e["body"] == latest["body"])
        candidates += [(since, 0, k, raw) for k, raw in enumerate(body_mentions)]
    comments: dict[float, dict] = {}
    for e in group:  # time-ordered: the last version of each comment wins
        if e["is_comment"] and not pd.isna(e["comment_id"]):
            comments[e["comment_id"]] = e
    for e in comments.values():
        if e["action"] != "deleted" and not pd.isna(e["c_created_at"]):
            candidates += [
                (e["c_created_at"], 1, k, raw) for k, raw in enumerate(root_cause_mentions(e["comment_body"]))
            ]
    return max(candidates, key=lambda c: c[:3])[3] if candidates else None


def _summarise(events: pd.DataFrame) -> pd.DataFrame:
    """One row per incident from its time-ordered events (plain Python: groups are small)."""
    events = events.sort_values(
        ["event_time", "updated_at", "is_comment", "row"], ascending=[True, True, False, True], kind="stable"
    )
    groups: dict[tuple[str, int], list[dict]] = {}
    for e in events.to_dict("records"):
        groups.setdefault((e["repo"], e["number"]), []).append(e)
    rows = []
    for (repo, number), g in groups.items():
        own = [e for e in g if not e["is_comment"]]
        latest = own[-1] if own else g[-1]
        moves = [e["action"] for e in own if e["action"] in ("opened", "closed", "reopened")]
        state = (
            latest["state"]
            if latest["state"] in ("open", "closed")
            else ("closed" if moves and moves[-1] == "closed" else "open")
        )
        resolved = pd.NaT
        if state == "closed":
            closes = [e["event_time"] for e in own if e["action"] == "closed"]
            resolved = (
                latest["closed_at"]
                if not pd.isna(latest["closed_at"])
                else (max(closes) if closes else latest["event_time"])
            )
        rows.append(
            {
                "incident_id": f"{repo}#{number}",
                "repo": repo,
                "provider": "github",
                "number": number,
                "title": latest["title"],
                "opened_at": min(e["created_at"] for e in g),
                "resolved_at": resolved,
                "reopened_count": sum(e["action"] == "reopened" for e in own),
                "is_open": state != "closed",
                "root_cause_raw": _root_cause(g, latest),
            }
        )
    return pd.DataFrame(rows, columns=[*INCIDENTS_DTYPES][:-2])


def build_silver_incidents(
    deliveries: pd.DataFrame,
    mainline_deliveries: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(incidents opened in [start, end), quarantine rows for this window's unusable deliveries).

    `deliveries`: Bronze issues + issue_comment rows whose event_day is in [start, end);
    `mainline_deliveries`: Bronze push + pull_request rows (event_day < end) to resolve short shas.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    frame = deliveries.reset_index(drop=True)
    events, reasons = _parse(frame)
    keys = _incident_keys(events, rules)
    is_incident = pd.Series(
        [k in keys for k in zip(events["repo"], events["number"], strict=True)],
        index=events.index,
        dtype=bool,
    )
    bad = is_incident & events["why"].notna()
    for row, why in zip(events.loc[bad, "row"], events.loc[bad, "why"], strict=True):
        reasons[row] = why
    good = events[is_incident & ~bad]
    good = good.drop_duplicates(
        ["repo", "number", "is_comment", "comment_id", "action", "event_time", "label"]
    )
    incidents = _summarise(good)
    if len(incidents):
        mainline = mainline_from_deliveries(mainline_deliveries)
        index = ShaIndex(mainline["repo"], mainline["sha"])
        incidents["root_cause_sha"] = [
            (index.resolve(r, raw) or raw) if isinstance(raw, str) else None
            for r, raw in zip(incidents["repo"], incidents["root_cause_raw"], strict=True)
        ]
        incidents["opened_at"] = pd.to_datetime(incidents["opened_at"], utc=True)
        incidents["event_day"] = utc_day(incidents["opened_at"])
        incidents = incidents[in_window(incidents["event_day"], start, end)]
        incidents = incidents.sort_values(["event_day", "opened_at", "incident_id"], kind="stable")
    out = conform(incidents, INCIDENTS_DTYPES)

    rejects = bronze_rejects(frame, pd.Series(reasons, index=frame.index, dtype=object))
    rejects = rejects[in_window(as_day(rejects["partition_day"]), start, end)]
    return out, quarantine_rows("silver", ASSET, rejects)
