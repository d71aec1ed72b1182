"""PagerDuty v3 webhook events → silver_incidents (contracts §4, §6).

Body: `{"event": {id, event_type, occurred_at, data}}`; Bronze event_type = `event.event_type`.
Rules:
- Incident events (`data.type == "incident"`): incident.triggered opens, incident.resolved closes,
  incident.reopened reopens; acknowledged / unacknowledged / escalated / delegated / reassigned /
  priority_updated only refresh the snapshot (`data.status`: resolved → closed, else open). An event's
  time is `event.occurred_at` (else data.updated_at / created_at). number = `data.number`
  (`incident_number` accepted), opened_at = `data.created_at`, title = `data.title`.
- Repo link, first match wins: an incident custom field named `repo` / `repository` (on
  `data.custom_fields` of any event of the incident, the latest value); else the PagerDuty service name
  (`data.service.summary`) mapped through rules.yaml: the one repo whose `service` equals it, or a repo
  named like it (normalised.repo_for_service). No or several candidates: the incident's deliveries are
  quarantined with the reason, never guessed.
- Root cause: `root cause: <sha>` in the incident body (`data.body.details` or `data.description`), in
  notes (`incident.annotated`, `data.content`, timed at occurred_at), or a custom field named
  `root_cause` / `root cause` / `root_cause_sha` holding the sha. The last one in time wins.
- incident_id = `<repo>#pagerduty-<number>`: PagerDuty numbers are account-wide and may equal an issue
  number of the same repo, so they are namespaced (incident_events.incident_id) and a `Closes #N` of a
  PR never names a PagerDuty incident.
- Notes and custom-field events carry only an incident reference (no created_at), so they anchor on
  their received day; Silver reads PagerDuty deliveries from the window start onwards.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.incident_events import build_incidents_with, timed_events
from devmetrics_assets.transforms.normalised import normalise_time, received, repo_for_service
from devmetrics_assets.transforms.payloads import dig, int_or_none, parse_bodies, text_or_none

PROVIDER = "pagerduty"
OPENING = {"incident.triggered": "open", "incident.resolved": "close", "incident.reopened": "reopen"}
INCIDENT_EVENTS = (
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.escalated",
    "incident.delegated",
    "incident.reassigned",
    "incident.priority_updated",
)
# Events about an incident that carry only a reference to it: anchored on the received day.
REFERENCE_EVENTS = ("incident.annotated", "incident.custom_field_values.updated")
EVENTS = INCIDENT_EVENTS + REFERENCE_EVENTS
REPO_FIELDS = ("repo", "repository")
ROOT_CAUSE_FIELDS = ("root_cause", "root cause", "root_cause_sha", "rootcause")


def anchor_value(event_type: str, body: dict) -> Any:
    """The incident's created_at (contracts §6); reference-only events have none (received day)."""
    data = dig(body, "event", "data")
    return dig(data, "created_at") or dig(data, "incident", "created_at")


def _custom_fields(data: dict) -> dict[str, str]:
    fields = data.get("custom_fields") or data.get("custom_field_values") or []
    out: dict[str, str] = {}
    if isinstance(fields, dict):
        fields = [{"name": k, "value": v} for k, v in fields.items()]
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict):
            name, value = text_or_none(item.get("name")), text_or_none(item.get("value"))
            if name and value:
                out[name.strip().lower()] = value.strip()
    return out


def _records(frame: pd.DataFrame) -> tuple[list[dict], list[str | None]]:
    """One record per usable delivery; reasons for unusable ones."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = received(frame)
    recs: list[dict] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        event = body.get("event")
        data = dig(event, "data")
        etype = text_or_none(dig(event, "event_type")) or str(frame["event_type"].iloc[i])
        if not isinstance(data, dict):
            reasons[i] = "event.data missing"
            continue
        is_incident = data.get("type") == "incident" or etype in INCIDENT_EVENTS
        pd_id = text_or_none(data.get("id") if is_incident else dig(data, "incident", "id"))
        if pd_id is None:
            reasons[i] = "incident id missing (event.data.id / event.data.incident.id)"
            continue
        fields = _custom_fields(data)
        rec = {
            "row": i,
            "pd_id": pd_id,
            "etype": etype,
            "is_incident": is_incident,
            "when": event.get("occurred_at") or data.get("updated_at") or data.get("created_at"),
            "received_at": got.iloc[i],
            "repo_field": next((fields[k] for k in REPO_FIELDS if k in fields), None),
            "rc_field": next((fields[k] for k in ROOT_CAUSE_FIELDS if k in fields), None),
        }
        if is_incident:
            number = int_or_none(data.get("number", data.get("incident_number")))
            if number is None or not data.get("created_at"):
                reasons[i] = "incident number or created_at missing"
                continue
            status = str(data.get("status") or "").lower()
            body_text = dig(data, "body", "details") or data.get("description")
            rec |= {
                "number": number,
                "opened": data.get("created_at"),
                "title": text_or_none(data.get("title")),
                "service": dig(data, "service", "summary"),
                "action": OPENING.get(etype, "update"),
                "state": "closed" if status == "resolved" else "open",
                "text": body_text if isinstance(body_text, str) else "",
            }
        elif etype == "incident.annotated":
            rec |= {
                "action": "note",
                "note_id": text_or_none(data.get("id")) or f"note@{rec['when']}",
                "text": data.get("content") if isinstance(data.get("content"), str) else "",
            }
        recs.append(rec)
    return recs, reasons


def parse_incident_events(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """PagerDuty v3 rows → (normalised incident events, reasons aligned with frame rows)."""
    recs, reasons = _records(frame)
    by_id: dict[str, list[dict]] = {}
    for rec in recs:
        by_id.setdefault(rec["pd_id"], []).append(rec)
    events: list[dict] = []
    for group in by_id.values():
        incident = [r for r in group if r["is_incident"]]
        if not incident:
            continue  # only notes read so far: the incident lives in another partition
        ordered = sorted(group, key=lambda r: (str(normalise_time(r["when"])), r["row"]))
        repo_field = [r["repo_field"] for r in ordered if r["repo_field"]]
        repo, why = (repo_field[-1], None) if repo_field else repo_for_service(incident[-1]["service"], rules)
        if repo is None:
            for r in incident:
                reasons[r["row"]] = f"pagerduty incident {group[0]['pd_id']}: {why}"
            continue
        base = {"repo": repo, "number": incident[0]["number"], "note_deleted": False}
        for r in group:
            if r.get("action"):
                events.append(
                    base
                    | {k: r.get(k) for k in ("row", "action", "text", "received_at")}
                    | {
                        "state": r.get("state"),
                        "title": r.get("title"),
                        "note_id": r.get("note_id"),
                        "_when": r["when"],
                        "_opened": r.get("opened"),
                    }
                )
            if r["rc_field"]:
                events.append(
                    base
                    | {
                        "row": r["row"],
                        "action": "note",
                        "state": None,
                        "title": None,
                        "note_id": "custom_field:root_cause",
                        "received_at": r["received_at"],
                        "text": f"root cause: {r['rc_field']}",
                        "_when": r["when"],
                        "_opened": None,
                    }
                )
    return timed_events(events, reasons, frame.index,
                        "event.occurred_at or incident created_at is not a valid timestamp")


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(PagerDuty incidents opened in [start, end), rejects of unusable deliveries)."""
    return build_incidents_with(parse_incident_events, deliveries, mainline, rules, start, end, PROVIDER)
