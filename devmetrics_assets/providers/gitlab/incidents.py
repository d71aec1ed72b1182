"""GitLab Issue Hook / Note Hook bodies → normalised incident events (incident_events.py; contracts §4, §6).

- Incidents: an issue whose `type`/`issue_type` is incident, or that carries a configured incident label
  (label `title`, any case) in any event. incident_id = `<repo>#<iid>`.
- Issue events: `open` / `close` / `reopen` say the state at that moment; any other action is an update
  whose snapshot state (opened/closed) counts. An event's time: open → created_at, close → closed_at
  (else updated_at), reopen and updates → updated_at.
- Note Hook comments on issues (not on commits, MRs or snippets) carry root-cause mentions, timed at
  their created_at (an edit: updated_at).
- Deliveries of incident issues without a usable created_at, event time or note id are quarantined;
  other issues are irrelevant and never quarantined for their content.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.incident_events import build_incidents_with, parsed_events
from devmetrics_assets.transforms.normalised import parse_times, received
from devmetrics_assets.transforms.payloads import (
    dig,
    first_reason,
    int_or_none,
    parse_bodies,
    text_or_none,
)

ISSUE, NOTE = "Issue Hook", "Note Hook"
CONFIDENTIAL_ISSUE, CONFIDENTIAL_NOTE = "Confidential Issue Hook", "Confidential Note Hook"
INCIDENT_EVENTS = (ISSUE, NOTE, CONFIDENTIAL_ISSUE, CONFIDENTIAL_NOTE)


def _labels(*sources: Any) -> list[str]:
    for labels in sources:
        if isinstance(labels, list) and labels:
            names = [(x.get("title") or x.get("name")) if isinstance(x, dict) else x for x in labels]
            return [x for x in names if isinstance(x, str)]
    return []


def _is_incident(issue: dict, labels: list[str], rules: DoraRules) -> bool:
    kind = str(issue.get("type") or issue.get("issue_type") or "").strip().lower()
    return kind == "incident" or any(rules.is_incident_label(x) for x in labels)


def parse_incident_events(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """Issue Hook / Note Hook rows → (normalised incident events of incident issues, reasons)."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = received(frame)
    recs: list[dict] = []
    for i, (body, etype) in enumerate(zip(bodies, frame["event_type"].tolist(), strict=True)):
        if body is None:
            continue
        attrs = body.get("object_attributes") if isinstance(body.get("object_attributes"), dict) else {}
        is_note = "Note" in etype
        if is_note and str(attrs.get("noteable_type") or "") != "Issue":
            continue  # comments on commits, MRs and snippets are irrelevant
        issue = body.get("issue") if is_note else attrs
        repo = text_or_none(dig(body, "project", "path_with_namespace"))
        number = int_or_none(dig(issue, "iid"))
        if repo is None or number is None:
            reasons[i] = "project.path_with_namespace or issue iid missing"
            continue
        labels = _labels(dig(issue, "labels"), body.get("labels"))
        action = (
            "note"
            if is_note
            else {"open": "open", "close": "close", "reopen": "reopen"}.get(
                str(attrs.get("action") or ""), "update"
            )
        )
        # open/close/reopen say the state at that moment; only an update carries the (latest) snapshot
        # state, which for an API-pulled issue may be later than the event it stands for.
        state = {"note": None, "open": "open", "close": "closed", "reopen": "open"}.get(action, "")
        state = (
            {"opened": "open", "closed": "closed"}.get(str(issue.get("state") or ""))
            if state == ""
            else state
        )
        when = {
            "note": attrs.get("updated_at") if attrs.get("action") == "update" else attrs.get("created_at"),
            "open": issue.get("created_at"),
            "close": issue.get("closed_at") or issue.get("updated_at"),
        }.get(action, issue.get("updated_at"))
        recs.append(
            {
                "row": i,
                "repo": repo,
                "number": number,
                "action": action,
                "state": state,
                "title": issue.get("title") if isinstance(issue.get("title"), str) else "",
                "text": (attrs.get("note") if is_note else issue.get("description")) or "",
                "note_id": text_or_none(attrs.get("id")) if is_note else None,
                "note_deleted": False,
                "received_at": got.iloc[i],
                "_when": when,
                "_opened": issue.get("created_at"),
                "_closed": None if is_note else issue.get("closed_at"),
                "_note_created": attrs.get("created_at") if is_note else None,
                "_incident": _is_incident(issue, labels, rules),
            }
        )
    if not recs:
        return parsed_events(None, reasons, frame.index)
    ev = pd.DataFrame(recs)
    ev["time"], bad_t = parse_times(ev["_when"])
    ev["opened_at"], bad_o = parse_times(ev["_opened"])
    ev["resolved_at"], bad_c = parse_times(ev["_closed"])
    note_created, bad_n = parse_times(ev["_note_created"])
    ev["time"] = ev["time"].fillna(note_created).fillna(ev["opened_at"])
    keys = set(zip(ev.loc[ev["_incident"], "repo"], ev.loc[ev["_incident"], "number"], strict=True))
    incident = pd.Series([k in keys for k in zip(ev["repo"], ev["number"], strict=True)], index=ev.index)
    why = first_reason(
        [
            (ev["_opened"].isna().to_numpy() & ~bad_o, "issue created_at missing"),
            (bad_o, "issue created_at is not a valid timestamp"),
            (bad_t | bad_c | bad_n, "issue/note timestamp is not valid"),
            (ev["time"].isna(), "no usable event time"),
            ((ev["action"] == "note") & ev["note_id"].isna(), "note without id"),
        ],
        len(ev),
    )
    bad = incident.to_numpy() & why.notna().to_numpy()
    for row, reason in zip(ev.loc[bad, "row"], why[bad], strict=True):
        reasons[row] = reason
    return parsed_events(ev[incident.to_numpy() & ~bad], reasons, frame.index)


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GitLab incidents opened in [start, end), rejects of unusable deliveries of incident issues)."""
    return build_incidents_with(parse_incident_events, deliveries, mainline, rules, start, end, "gitlab",
                                issue_tracker=True)
