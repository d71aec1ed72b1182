"""Jira Cloud issue webhooks (and pulled issues, landed in the same shape) → silver_incidents.

Body (https://developer.atlassian.com/cloud/jira/platform/webhooks/): `{timestamp (epoch ms),
webhookEvent, issue_event_type_name, user, issue: {id, key, fields}, changelog?, comment?}`; the Bronze
event_type is `webhookEvent`. Every delivery carries the whole issue, so each one is a SNAPSHOT of the
issue at `timestamp`; pulled issues (pull.py) are landed as `jira:issue_updated` snapshots at
`fields.updated`, with the issue's `changelog.histories` (REST `expand=changelog`).
Rules (providers/jira/rules.py for the configuration):
- Which issues: one whose issue type, a label or its priority matches the rules (any snapshot matching
  makes the issue an incident, so removing a label after the fact does not erase it). Other issues are
  not incidents and are left alone (not quarantined: nothing is wrong with them).
- Life cycle: opened at `fields.created` (also the Bronze anchor). A snapshot whose
  `fields.status.statusCategory.key` is `done` is resolved, at `fields.resolutiondate` (else the time of
  the changelog transition into done, else the snapshot time); a snapshot out of done after one in done
  is a reopen. Pulled changelog histories add a state change per status transition at `created`
  (category from the status name: rules.done_statuses, overridden by what snapshots show).
- Root cause: the configured `root_cause_field` when any snapshot fills it (the latest value); else
  the last `root cause: <sha>` in the description or the comments (`fields.comment.comments` and a
  comment event's top-level `comment`), as incident_events reads them. Descriptions and comments may be
  plain text (webhooks) or Atlassian Document Format (REST v3): ADF is read as its text.
- Repo (from the latest snapshot): `repo_field`, else `components` mapped by the rules, else a service
  name (`service_field`'s value, else each component name) through normalised.repo_for_service. No or
  several candidates: every delivery of the incident is quarantined with the reason.
- `jira:issue_deleted`: the issue no longer exists in Jira, so it is no incident: none of its
  deliveries gives a Silver row (they are not quarantined either: they are consistent, just withdrawn).
  The deletion reaches Silver with the issue's other deliveries because it anchors on the same
  `fields.created` day.
- incident_id = `<repo>#jira-<issue id>` (the numeric issue id; keys like OPS-12 are not what a `Closes
  #N` names, so Jira is not an issue tracker for hotfix detection).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.jira.rules import JiraRules, parse_rules
from devmetrics_assets.transforms.incident_events import build_incidents_with, parsed_events
from devmetrics_assets.transforms.normalised import parse_times, received, repo_for_service
from devmetrics_assets.transforms.payloads import dig, int_or_none, parse_bodies, text_or_none

PROVIDER = "jira"
EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
DELETED = "jira:issue_deleted"


def anchor_value(event_type: str, body: dict) -> Any:
    """The issue's creation time: an incident's deliveries all land on its opening day."""
    return dig(body, "issue", "fields", "created")


def adf_text(value: Any) -> str:
    """Plain text of a description or comment body: a string as is, an ADF document as its text nodes
    (block nodes end a line, so `root cause: <sha>` in one paragraph stays one line)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(adf_text(v) for v in value)
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("text"), str):
        return value["text"]
    inner = adf_text(value.get("content"))
    return inner + "\n" if value.get("type") in ("paragraph", "heading", "listItem", "codeBlock") else inner


def field_text(value: Any) -> str | None:
    """A field's value as text: text, a number, a select option ({value}), a named object, one-item lists,
    an ADF document."""
    if isinstance(value, list):
        texts = {t for t in (field_text(v) for v in value) if t}
        return texts.pop() if len(texts) == 1 else None
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return text_or_none(adf_text(value).strip())
        return text_or_none(value.get("value")) or text_or_none(value.get("name"))
    text = text_or_none(value)
    return text.strip() if text else None


def _names(items: Any, key: str = "name") -> list[str]:
    if not isinstance(items, list):
        return []
    out = [text_or_none(i.get(key)) if isinstance(i, dict) else text_or_none(i) for i in items]
    return [n.strip() for n in out if n]


def is_incident(fields: dict, jr: JiraRules, rules: DoraRules) -> bool:
    """Issue type, a label or the priority matches the rules (case-insensitive)."""
    types = {t.lower() for t in jr.issue_types}
    labels = {x.lower() for x in (jr.labels if jr.labels is not None else rules.incident_labels)}
    priorities = {p.lower() for p in jr.priorities}
    issue_type = (text_or_none(dig(fields, "issuetype", "name")) or "").strip().lower()
    priority = (text_or_none(dig(fields, "priority", "name")) or "").strip().lower()
    return (issue_type in types or priority in priorities
            or any(label.lower() in labels for label in _names(fields.get("labels"), "")))


def repo_of(fields: dict, jr: JiraRules, rules: DoraRules) -> tuple[str | None, str | None]:
    """(repo, None) or (None, reason): repo_field, then components, then a service name (module doc)."""
    if jr.repo_field:
        value = field_text(fields.get(jr.repo_field))
        if value:
            return value, None
    components = _names(fields.get("components"))
    mapped = sorted({jr.components[c.lower()] for c in components if c.lower() in jr.components})
    if len(mapped) == 1:
        return mapped[0], None
    if mapped:
        return None, f"components {components} map to several repos {mapped}: keep one component per repo"
    service = field_text(fields.get(jr.service_field)) if jr.service_field else None
    candidates = [service] if service else components
    if not candidates:
        return None, ("maps to no repo: no component, repo field or service field (set providers.jira."
                      "components, repo_field or service_field)")
    found: dict[str, None] = {}
    reasons: list[str] = []
    for name in candidates:
        repo, why = repo_for_service(name, rules)
        if repo:
            found[repo] = None
        else:
            reasons.append(str(why))
    if len(found) == 1:
        return next(iter(found)), None
    if found:
        return None, f"components {components} name services of several repos {sorted(found)}"
    return None, f"maps to no repo: {'; '.join(reasons)} (or map the component in providers.jira.components)"


def _when(body: dict, fields: dict) -> Any:
    stamp = body.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return pd.Timestamp(int(stamp), unit="ms", tz="UTC").isoformat()
    return fields.get("updated") or fields.get("created")


def _comments(body: dict, fields: dict) -> list[dict]:
    listed = dig(fields, "comment", "comments")
    items = list(listed) if isinstance(listed, list) else []
    if isinstance(body.get("comment"), dict):
        items.append(body["comment"])
    out = []
    for c in items:
        ident = text_or_none(c.get("id")) if isinstance(c, dict) else None
        if ident and c.get("created"):
            out.append({"id": ident, "created": c["created"], "text": adf_text(c.get("body"))})
    return out


def _histories(issue: dict) -> list[tuple[Any, str]]:
    """(time, target status name) of every status transition in a pulled issue's changelog."""
    histories = dig(issue, "changelog", "histories")
    out = []
    for h in histories if isinstance(histories, list) else []:
        items = h.get("items") if isinstance(h, dict) else None
        for item in items if isinstance(items, list) else []:
            target = text_or_none(item.get("toString")) if isinstance(item, dict) else None
            if target and item.get("field") == "status":
                out.append((h.get("created"), item["toString"].strip()))
    return out


def _records(frame: pd.DataFrame, jr: JiraRules, rules: DoraRules) -> tuple[list[dict], list[str | None]]:
    """One record per usable delivery; reasons for unusable ones."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = received(frame)
    recs: list[dict] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        issue = body.get("issue")
        fields = dig(issue, "fields")
        issue_id = int_or_none(dig(issue, "id"))
        if issue_id is None or issue_id < 1:
            reasons[i] = "issue.id missing or not a numeric Jira issue id"
            continue
        if not isinstance(fields, dict) or not fields.get("created"):
            reasons[i] = "issue.fields.created missing"
            continue
        etype = text_or_none(body.get("webhookEvent")) or str(frame["event_type"].iloc[i])
        category = text_or_none(dig(fields, "status", "statusCategory", "key"))
        if etype != DELETED and category is None:
            reasons[i] = "issue.fields.status.statusCategory.key missing"
            continue
        recs.append({
            "row": i,
            "issue_id": issue_id,
            "deleted": etype == DELETED,
            "when": _when(body, fields),
            "received_at": got.iloc[i],
            "created": fields.get("created"),
            "resolved": fields.get("resolutiondate"),
            "status": text_or_none(dig(fields, "status", "name")),
            "state": "closed" if (category or "").lower() == "done" else "open",
            "title": text_or_none(fields.get("summary")),
            "incident": is_incident(fields, jr, rules),
            "repo": repo_of(fields, jr, rules),
            "rc_field": field_text(fields.get(jr.root_cause_field)) if jr.root_cause_field else None,
            "text": adf_text(fields.get("description")),
            "comments": _comments(body, fields),
            "histories": _histories(issue),
        })
    return recs, reasons


def _done_names(recs: list[dict], jr: JiraRules) -> dict[str, bool]:
    """Status name (lower case) → is done: the rules' defaults, overridden by what snapshots show."""
    done = {s.lower(): True for s in jr.done_statuses}
    for r in recs:
        if r["status"] and not r["deleted"]:
            done[r["status"].strip().lower()] = r["state"] == "closed"
    return done


def _issue_events(group: list[dict], repo: str, done: dict[str, bool]) -> list[dict]:
    snapshots = sorted((r for r in group if not r["deleted"]), key=lambda r: (r["at"], r["row"]))
    latest = snapshots[-1]
    field_values = [r["rc_field"] for r in snapshots if r["rc_field"]]
    # A filled root-cause field wins over any text: the descriptions and comments are then not read.
    forced = f"root cause: {field_values[-1]}" if field_values else None
    base = {"repo": repo, "number": latest["issue_id"], "note_deleted": False, "note_id": None}
    first = snapshots[0]
    events = [base | {"row": first["row"], "action": "open", "state": "open", "title": first["title"],
                      "text": forced or first["text"], "received_at": first["received_at"],
                      "_when": first["created"], "_opened": first["created"], "_resolved": None}]
    for r in snapshots:
        text = forced or r["text"]
        # A status name no snapshot showed and the rules do not call done is not done (e.g. Reopened).
        transitions = [(t, done.get(name.lower(), False)) for t, name in r["histories"]]
        into_done = [t for t, closed in transitions if closed]
        resolved = None
        if r["state"] == "closed":
            resolved = r["resolved"] or (into_done[-1] if into_done else r["when"])
        events.append(base | {
            "row": r["row"], "action": "update", "state": r["state"], "title": r["title"], "text": text,
            "received_at": r["received_at"], "_when": r["when"], "_opened": r["created"],
            "_resolved": resolved,
        })
        for t, closed in transitions:
            events.append(base | {
                "row": r["row"], "action": "update", "state": "closed" if closed else "open",
                "title": r["title"], "text": text, "received_at": r["received_at"], "_when": t,
                "_opened": r["created"], "_resolved": t if closed else None,
            })
        if forced is None:
            for c in r["comments"]:
                events.append(base | {
                    "row": r["row"], "action": "note", "state": None, "title": None, "text": c["text"],
                    "note_id": f"comment:{c['id']}", "received_at": r["received_at"], "_when": c["created"],
                    "_opened": None, "_resolved": None,
                })
    return events


def parse_incident_events(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """Jira rows → (normalised incident events, reasons aligned with frame rows)."""
    jr = parse_rules(rules.provider_rules.get(PROVIDER, {}))
    recs, reasons = _records(frame, jr, rules)
    at, bad_at = parse_times([r["when"] for r in recs])
    usable = []
    for k, rec in enumerate(recs):
        if bad_at[k] or pd.isna(at.iloc[k]):
            reasons[rec["row"]] = "the delivery's timestamp / issue.fields.updated is not a valid timestamp"
        else:
            usable.append(rec | {"at": at.iloc[k]})
    done = _done_names(usable, jr)
    by_id: dict[int, list[dict]] = {}
    for rec in usable:
        by_id.setdefault(rec["issue_id"], []).append(rec)
    events: list[dict] = []
    for issue_id, group in by_id.items():
        if any(r["deleted"] for r in group) or not any(r["incident"] for r in group):
            continue  # withdrawn in Jira, or not an incident: no Silver row (module docstring)
        repo, why = max(group, key=lambda r: (r["at"], r["row"]))["repo"]
        if repo is None:
            for r in group:
                reasons[r["row"]] = f"jira issue {issue_id}: {why}"
            continue
        events += _issue_events(group, repo, done)
    if not events:
        return parsed_events(None, reasons, frame.index)
    ev = pd.DataFrame(events)
    ev["time"], bad_t = parse_times(ev["_when"])
    ev["opened_at"], bad_o = parse_times(ev["_opened"])
    ev["resolved_at"], bad_r = parse_times(ev["_resolved"])
    bad = bad_t | bad_o | bad_r
    for row in ev.loc[bad, "row"]:
        reasons[row] = "a Jira time (created, resolutiondate, changelog, comment) is not a valid timestamp"
    keep = ~ev["row"].isin(set(ev.loc[bad, "row"])) & ev["time"].notna()
    return parsed_events(ev[keep], reasons, frame.index)


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Jira incidents opened in [start, end), rejects of unusable deliveries)."""
    return build_incidents_with(parse_incident_events, deliveries, mainline, rules, start, end, PROVIDER)
