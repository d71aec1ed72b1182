"""The generic JSON format: deployments and incidents from any CI/CD or incident tool.

A tool that is not GitHub, GitLab or PagerDuty posts one JSON object per event to
`/webhooks/generic/<source>` (documented with examples in docs/sources.md). The receiver validates it
here before storing, so a sender learns at once, with a 400 naming every bad field, that a record
could never count; accepted records land unchanged (`body_raw`) and the generic Silver parser reads them.
Unknown extra fields are allowed and kept.

Validation looks at top-level fields only (no recursion; `changes` is one flat list), and a bad value is
quoted in the 400 shortened (`_quote`), so a huge or deeply nested value cannot blow up the answer, the
log line or the rejects log.
"""

from __future__ import annotations

import re
import reprlib
from datetime import datetime
from typing import Any

from devmetrics_assets.providers.generic.silver import DEPLOY_STATES, TERMINAL

EVENT_TYPES = ("deployment", "incident")
# One vocabulary with the generic Silver parser: the status words it maps, and which of them are final.
DEPLOYMENT_STATUSES = tuple(DEPLOY_STATES)
CLOSED_INCIDENT_STATUSES = ("resolved", "closed")
# How a bad value is quoted back: at most ~60 characters per string, 4 items per list, 2 levels.
_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 2, 60, 60, 40
_SHORT.maxlist = _SHORT.maxdict = 4
SHA_RE = re.compile(r"^[0-9a-fA-F]{7,40}$")
REPO_RE = re.compile(r"^[^/\s]+/[^\s]+$")

# field -> (required, kind). Kinds: id (text or integer), text, repo, sha, time, status, changes.
# "repo" is required unless "service" names a service mapped to one repo in rules.yaml (checked below).
DEPLOYMENT_FIELDS: dict[str, tuple[bool, str]] = {
    "type": (True, "text"),
    "id": (True, "id"),
    "repo": (False, "repo"),
    "service": (False, "text"),
    "environment": (True, "text"),
    "sha": (True, "sha"),
    "status": (True, "status"),
    "created_at": (True, "time"),
    "finished_at": (False, "time"),
    "updated_at": (False, "time"),
    "ref": (False, "text"),
    "url": (False, "text"),
    "description": (False, "text"),
    "changes": (False, "changes"),
}
INCIDENT_FIELDS: dict[str, tuple[bool, str]] = {
    "type": (True, "text"),
    "id": (True, "id"),
    "repo": (False, "repo"),
    "service": (False, "text"),
    "status": (True, "text"),
    "opened_at": (False, "time"),
    "created_at": (False, "time"),
    "resolved_at": (False, "time"),
    "updated_at": (False, "time"),
    "root_cause_sha": (False, "sha"),
    "deployment_id": (False, "id"),
    "title": (False, "text"),
    "description": (False, "text"),
    "severity": (False, "text"),
    "url": (False, "text"),
}


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time WITH a UTC offset (`Z` or `+02:00`); anything else is None, because a time
    without an offset is ambiguous and would shift metrics by hours."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _quote(value: Any) -> str:
    """`repr(value)`, shortened: the sender recognises its value, the answer stays small."""
    return _SHORT.repr(value)


def _problem(name: str, kind: str, value: Any, statuses: tuple[str, ...]) -> str | None:
    if kind == "id":
        ok = (isinstance(value, str) and value.strip() != "") or (
            isinstance(value, int) and not isinstance(value, bool))
        return None if ok else f"{name}: expected a non-empty text or integer id"
    if kind == "text":
        return None if isinstance(value, str) and value.strip() else f"{name}: expected non-empty text"
    if kind == "repo":
        return None if isinstance(value, str) and REPO_RE.match(value) else f"{name}: expected 'owner/name'"
    if kind == "sha":
        return None if isinstance(value, str) and SHA_RE.match(value) else (
            f"{name}: expected a commit sha (7 to 40 hex characters)")
    if kind == "time":
        return None if parse_time(value) else (
            f"{name}: expected an ISO-8601 time with a UTC offset, e.g. 2025-03-04T10:15:02Z")
    if kind == "status":
        ok = isinstance(value, str) and value.strip().lower() in statuses
        return None if ok else f"{name}: expected one of {list(statuses)}, got {_quote(value)}"
    if kind == "changes":
        ok = isinstance(value, list) and all(
            (isinstance(c, str) and SHA_RE.match(c)) or (isinstance(c, dict) and bool(c.get("sha")))
            for c in value)
        return None if ok else f"{name}: expected a list of commit shas or {{sha, timestamp, message}}"
    raise AssertionError(kind)


def validate(body: Any) -> tuple[str | None, list[str]]:
    """(event type, problems). No problems means the generic Silver parser can use the record."""
    if not isinstance(body, dict):
        return None, ["body: expected a JSON object"]
    event_type = body.get("type")
    if event_type not in EVENT_TYPES:
        return None, [f"type: expected one of {list(EVENT_TYPES)}, got {_quote(event_type)}"]
    fields = DEPLOYMENT_FIELDS if event_type == "deployment" else INCIDENT_FIELDS
    body = {**body, "repo": body.get("repo") or body.get("repository")}  # the parser's alias
    problems = []
    for name, (required, kind) in fields.items():
        value = body.get(name)
        if value is None:
            if required:
                problems.append(f"{name}: required")
            continue
        problem = _problem(name, kind, value, DEPLOYMENT_STATUSES)
        if problem:
            problems.append(problem)
    if body.get("repo") is None and body.get("service") is None:
        problems.append("repo: required unless service is given (mapped to its repo by rules.yaml)")
    status = body.get("status").strip().lower() if isinstance(body.get("status"), str) else None
    if event_type == "deployment":
        if DEPLOY_STATES.get(status) in TERMINAL and not (body.get("finished_at") or body.get("updated_at")):
            problems.append(f"finished_at: required when status is {status!r} (a final status)")
    else:
        if body.get("opened_at") is None and body.get("created_at") is None:
            problems.append("opened_at: required")
        if status in CLOSED_INCIDENT_STATUSES and not (body.get("resolved_at") or body.get("updated_at")):
            problems.append(f"resolved_at: required when status is {status!r}")
    return event_type, problems


def delivery_id(body: dict) -> str:
    """A stable id for one state of one record: a redelivery repeats it, a status change does not.

    `generic:<type>:<id>:<status>:<time of that status>` (contracts §6: body id + status/time).
    """
    if body["type"] == "deployment":
        at = body.get("finished_at") or body.get("updated_at") or body.get("created_at")
    else:
        at = (body.get("updated_at") or body.get("resolved_at") or body.get("opened_at")
              or body.get("created_at"))
    return f"generic:{body['type']}:{body['id']}:{body['status']}:{at}"
