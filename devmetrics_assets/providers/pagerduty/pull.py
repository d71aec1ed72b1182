"""PagerDuty REST (v2) incidents → v3 webhook-shaped deliveries (contracts §6).

`GET /incidents?since=&until=&time_zone=UTC&limit=&offset=` (offset pagination, `more`). The list
filters on incident CREATION time, so a range is listed from `since - incident_lookback` to see status
changes of incidents opened before it; the API caps since..until at 6 months, so longer ranges are
read in slices. Each incident gives, as a v3 webhook would have sent them:
- `incident.triggered` at created_at (delivery id `api:pagerduty:incident:<id>:triggered:<created_at>`);
- when acknowledged or resolved, `incident.<status>` at last_status_change_at (else resolved_at /
  updated_at), delivery id `api:pagerduty:incident:<id>:<status>:<that time>`.
The body is `{"event": {id, event_type, resource_type: "incident", occurred_at, agent, client, data}}`
with `data` the v3 incident object (number, status, incident_key, created_at, title, service,
assignees, escalation_policy, teams, priority, urgency, conference_bridge, resolve_reason).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.sources.pull.pagination import iter_offset_pages
from devmetrics_assets.sources.pull.records import (
    Delivery,
    PullResult,
    delivery_id,
    iso,
    parse_time,
    reject_for,
    text,
)

PROVIDER = "pagerduty"
RESOURCES = ("incidents",)
STATUSES = ("triggered", "acknowledged", "resolved")
MAX_RANGE = timedelta(days=179)


def _data(incident: dict, status: str) -> dict:
    assignments = incident.get("assignments") if isinstance(incident.get("assignments"), list) else []
    return {
        "id": incident["id"],
        "type": "incident",
        "self": incident.get("self"),
        "html_url": incident.get("html_url"),
        "number": incident.get("incident_number"),
        "status": status,
        "incident_key": incident.get("incident_key"),
        "created_at": incident.get("created_at"),
        "title": incident.get("title") or incident.get("summary"),
        "service": incident.get("service"),
        "assignees": [a["assignee"] for a in assignments if isinstance(a, dict) and "assignee" in a],
        "escalation_policy": incident.get("escalation_policy"),
        "teams": incident.get("teams") or [],
        "priority": incident.get("priority"),
        "urgency": incident.get("urgency"),
        "conference_bridge": incident.get("conference_bridge"),
        "resolve_reason": incident.get("resolve_reason"),
        # Not in every v3 payload, but where root causes and repo links live when the account uses them.
        **{k: incident[k] for k in ("description", "body", "custom_fields") if k in incident},
    }


def _event(ident: str, event_type: str, at: datetime, incident: dict, status: str, agent: Any) -> dict:
    return {
        "event": {
            "id": ident,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": iso(at),
            "agent": agent,
            "client": None,
            "data": _data(incident, status),
        }
    }


class PagerDutyPuller:
    def __init__(
        self,
        client: HttpClient,
        base_url: str,
        *,
        limit: int = 100,
        max_pages: int = 1000,
        incident_lookback: timedelta = timedelta(days=30),
        service_ids: list[str] | None = None,
        team_ids: list[str] | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.limit = limit
        self.max_pages = max_pages
        self.incident_lookback = incident_lookback
        self.service_ids = list(service_ids or [])
        self.team_ids = list(team_ids or [])

    def members(self, group: str) -> list[str]:
        return []

    def pull(self, resource: str, scope: str, lower: datetime, upper: datetime) -> PullResult:
        if resource != "incidents":
            raise ValueError(f"pagerduty: unknown resource {resource!r}")
        out = PullResult()
        seen: set[str] = set()
        since = lower - self.incident_lookback
        while since < upper:
            until = min(upper, since + MAX_RANGE)
            params = {
                "since": iso(since),
                "until": iso(until),
                "time_zone": "UTC",
                "total": "false",
                "service_ids[]": self.service_ids or None,
                "team_ids[]": self.team_ids or None,
            }
            for items in iter_offset_pages(
                self.client,
                f"{self.base_url}/incidents",
                params,
                key="incidents",
                limit=self.limit,
                max_pages=self.max_pages,
            ):
                for incident in items:
                    if isinstance(incident, dict) and incident.get("id") in seen:
                        continue
                    self._incident(incident, lower, upper, out)
                    if isinstance(incident, dict) and isinstance(incident.get("id"), str):
                        seen.add(incident["id"])
            since = until
        return out

    def _incident(self, incident: Any, lower: datetime, upper: datetime, out: PullResult) -> None:
        created = parse_time(incident.get("created_at")) if isinstance(incident, dict) else None
        status = incident.get("status") if isinstance(incident, dict) else None
        if created is None or not text(incident.get("id")) or status not in STATUSES:
            out.rejects.append(
                reject_for(
                    PROVIDER,
                    "incidents",
                    "all",
                    incident,
                    "incident without id/created_at or with an unknown status",
                )
            )
            return
        agent = None
        if lower <= created < upper:
            ident = delivery_id(PROVIDER, "incident", incident["id"], "triggered", iso(created))
            out.deliveries.append(
                Delivery(
                    PROVIDER,
                    "incident.triggered",
                    ident,
                    created,
                    _event(ident, "incident.triggered", created, incident, "triggered", agent),
                )
            )
        if status == "triggered":
            return
        changed = (
            parse_time(incident.get("last_status_change_at"))
            or parse_time(incident.get("resolved_at"))
            or parse_time(incident.get("updated_at"))
        )
        if changed is None:
            out.rejects.append(
                reject_for(
                    PROVIDER, "incidents", "all", incident, f"{status} incident without last_status_change_at"
                )
            )
            return
        if lower <= changed < upper:
            by = incident.get("last_status_change_by")
            ident = delivery_id(PROVIDER, "incident", incident["id"], status, iso(changed))
            out.deliveries.append(
                Delivery(
                    PROVIDER,
                    f"incident.{status}",
                    ident,
                    changed,
                    _event(ident, f"incident.{status}", changed, incident, status, by),
                )
            )
