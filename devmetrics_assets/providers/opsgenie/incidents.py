"""Opsgenie alert actions (outgoing webhook bodies, or API pulls shaped like them) → silver_incidents.

Body (https://docs.opsgenie.com/docs/webhook-integration, alert action data):
`{"action": "Create", "alert": {alertId, tinyId, alias, message, tags, teams, priority, createdAt,
updatedAt, description?, details?, note?}, "source": {...}, "integrationName": ...}`. Bronze event_type is
`action`. Times are epoch numbers: createdAt in milliseconds, updatedAt in nanoseconds in the documented
example; the unit is read from the magnitude (s / ms / µs / ns), ISO text is accepted too.
Rules (`providers.opsgenie`, rules.py):
- An alert is an incident when any of its deliveries has an incident priority, tag or team (any match),
  so an alert raised to P1 later is an incident from its creation. Other alerts are not incidents (not
  quarantined: they are simply not about failures).
- Life cycle, per alertId: Create opens, Close closes, Reopen (the Opsgenie Incident API action name)
  or a Create of a closed alert reopens; AddNote is a note; every other action (Acknowledge,
  AddTags, UpdatePriority, ...) keeps the state. An action's time is `alert.updatedAt` (without it:
  createdAt for Create, else the received time), so a Create sent again after a Close is a reopen while
  a redelivered Create keeps its time and counts once. A new alert Opsgenie creates for the alias of a
  closed one has a new alertId and is a new incident (grouping by alias would depend on which days a
  run reads).
- Repo, first that applies: details[repo_detail]; details[service_detail] through the rules' repo →
  service ownership (normalised.repo_for_service); the alert's teams through `team_repos`, else through
  the rules' repo → team ownership (exactly one repo). None or several: the alert's deliveries are
  quarantined with the reason.
- Root cause: the last `root cause: <sha>` in time among the description, the notes, and
  details[root_cause_detail] (read as `root cause: <value>`).
- incident_id = `<repo>#opsgenie-<tinyId>` (tinyId is numeric; a non-numeric one becomes a stable
  number, normalised.id_number). Anchor: the alert's createdAt, so every action of an alert is read
  with its creation day.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.opsgenie.rules import OpsgenieRules, parse_rules
from devmetrics_assets.transforms.incident_events import build_incidents_with, timed_events
from devmetrics_assets.transforms.normalised import id_number, received, repo_for_service
from devmetrics_assets.transforms.payloads import parse_bodies, text_or_none

PROVIDER = "opsgenie"
# Webhook alert actions (Marid/webhook "alert action data"); Reopen is the Incident API's action name.
EVENTS = (
    "Create",
    "Acknowledge",
    "UnAcknowledge",
    "Close",
    "Reopen",
    "Delete",
    "AddNote",
    "AddTags",
    "RemoveTags",
    "AddTeam",
    "AddResponder",
    "AddRecipient",
    "AssignOwnership",
    "TakeOwnership",
    "Escalate",
    "EscalateNext",
    "UpdatePriority",
    "UpdateMessage",
    "UpdateDescription",
    "AddDetails",
    "RemoveDetails",
    "Snooze",
    "SnoozeEnded",
    "CustomAction",
)
ACTIONS = {"Create": ("open", "open"), "Close": ("close", "closed"), "Reopen": ("reopen", "open")}


def epoch_text(value: Any) -> Any:
    """An Opsgenie time as ISO text: epoch numbers by magnitude (s, ms, µs, ns); other values as they are."""
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int | float):
        return value
    for unit, below in (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf"))):
        if abs(number) < below:
            return pd.Timestamp(int(number), unit=unit, tz="UTC").isoformat()
    return value  # pragma: no cover (the last bound is infinite)


def anchor_value(event_type: str, body: dict) -> Any:
    """The alert's createdAt (every action of an alert carries it)."""
    alert = body.get("alert") if isinstance(body, dict) else None
    return epoch_text(alert.get("createdAt")) if isinstance(alert, dict) else None


def _names(value: Any) -> set[str]:
    """Lower-cased names of a tags/teams list (teams may be names, ids or {id, name} objects)."""
    out: set[str] = set()
    for item in value if isinstance(value, list) else []:
        for v in (item.get("name"), item.get("id")) if isinstance(item, dict) else (item,):
            text = text_or_none(v)
            if text:
                out.add(text.strip().lower())
    return out


def _sort_time(value: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.Timestamp.min.tz_localize("UTC")
    if pd.isna(stamp):
        return pd.Timestamp.min.tz_localize("UTC")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _detail(details: Any, key: str) -> str | None:
    if not isinstance(details, dict):
        return None
    wanted = key.lower()
    return next(
        (text_or_none(v).strip() for k, v in details.items() if str(k).lower() == wanted and text_or_none(v)),
        None,
    )


def _records(frame: pd.DataFrame, rules: OpsgenieRules) -> tuple[list[dict], list[str | None]]:
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = received(frame)
    recs: list[dict] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        alert = body.get("alert")
        action = text_or_none(body.get("action")) or str(frame["event_type"].iloc[i])
        alert_id = text_or_none(alert.get("alertId")) if isinstance(alert, dict) else None
        if alert_id is None:
            reasons[i] = "alert.alertId missing"
            continue
        created = epoch_text(alert.get("createdAt"))
        number = id_number(alert.get("tinyId")) or id_number(alert_id)
        if not created:
            reasons[i] = f"opsgenie alert {alert_id}: alert.createdAt missing"
            continue
        fallback = created if action == "Create" else got.iloc[i]
        when = epoch_text(alert.get("updatedAt")) or fallback
        if when is None or (not isinstance(when, str) and pd.isna(when)):
            reasons[i] = f"opsgenie alert {alert_id}: no alert.updatedAt and no received time"
            continue
        details = alert.get("details")
        recs.append(
            {
                "row": i,
                "alert_id": alert_id,
                "number": number,
                "action": action,
                "when": when,
                "opened": created,
                "received_at": got.iloc[i],
                "title": text_or_none(alert.get("message")),
                "description": alert.get("description")
                if isinstance(alert.get("description"), str)
                else None,
                "note": alert.get("note") if isinstance(alert.get("note"), str) else "",
                "incident": rules.is_incident(
                    text_or_none(alert.get("priority")), _names(alert.get("tags")), _names(alert.get("teams"))
                ),
                "teams": _names(alert.get("teams")),
                "repo_detail": _detail(details, rules.repo_detail),
                "service_detail": _detail(details, rules.service_detail),
                "rc_detail": _detail(details, rules.root_cause_detail),
            }
        )
    return recs, reasons


def _repo(ordered: list[dict], rules: DoraRules, og: OpsgenieRules) -> tuple[str | None, str | None]:
    """(repo, None) or (None, why): details repo, details service, then teams (see the module doc)."""
    repos = [r["repo_detail"] for r in ordered if r["repo_detail"]]
    if repos:
        return repos[-1], None
    services = [r["service_detail"] for r in ordered if r["service_detail"]]
    if services:
        return repo_for_service(services[-1], rules)
    teams = set().union(*(r["teams"] for r in ordered))
    hits = sorted({og.team_repos[t] for t in teams if t in og.team_repos})
    if not hits:
        hits = sorted(
            {
                repo
                for repo, owner in rules.repo_owners.items()
                if str(owner.get("team", "")).strip().lower() in teams
            }
        )
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return None, f"teams {sorted(teams)} map to several repos {hits}: set details.{og.repo_detail}"
    return None, (
        f"no repo: no details.{og.repo_detail} / details.{og.service_detail}, and teams "
        f"{sorted(teams)} map to no repo (team_repos or repos.<repo>.team in rules.yaml)"
    )


def parse_incident_events(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """Opsgenie rows → (normalised incident events, reasons aligned with frame rows)."""
    og = parse_rules(rules.provider_rules.get(PROVIDER, {}))
    recs, reasons = _records(frame, og)
    by_alert: dict[str, list[dict]] = {}
    for rec in recs:
        by_alert.setdefault(rec["alert_id"], []).append(rec)
    events: list[dict] = []
    for alert_id, group in by_alert.items():
        if not any(r["incident"] for r in group):
            continue
        ordered = sorted(group, key=lambda r: (_sort_time(r["when"]), r["row"]))
        repo, why = _repo(ordered, rules, og)
        if repo is None:
            for r in group:
                reasons[r["row"]] = f"opsgenie alert {group[0]['number']} ({alert_id}): {why}"
            continue
        base = {
            "repo": repo,
            "number": group[0]["number"],
            "note_deleted": False,
            "_opened": group[0]["opened"],
        }
        description = ""
        for r in ordered:
            description = r["description"] if r["description"] is not None else description
            common = base | {"row": r["row"], "received_at": r["received_at"], "_when": r["when"]}
            if r["action"] == "AddNote":
                events.append(
                    common
                    | {
                        "action": "note",
                        "state": None,
                        "title": None,
                        "note_id": f"note@{r['when']}",
                        "text": r["note"],
                    }
                )
            else:
                action, state = ACTIONS.get(r["action"], ("update", None))
                events.append(
                    common
                    | {
                        "action": action,
                        "state": state,
                        "title": r["title"],
                        "note_id": None,
                        "text": description,
                    }
                )
            if r["rc_detail"]:
                events.append(
                    common
                    | {
                        "action": "note",
                        "state": None,
                        "title": None,
                        "note_id": "details:root_cause",
                        "text": f"root cause: {r['rc_detail']}",
                    }
                )
    return timed_events(events, reasons, frame.index,
                        "alert.createdAt or alert.updatedAt is not a valid time")


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Opsgenie incidents opened in [start, end), rejects of unusable deliveries)."""
    return build_incidents_with(parse_incident_events, deliveries, mainline, rules, start, end, PROVIDER)
