"""Opsgenie Alert API (https://docs.opsgenie.com/docs/alert-api) → webhook-shaped alert actions.

`GET /v2/alerts?query=updatedAt>=<ms> AND updatedAt<<ms> [AND teams:"<team>"]&sort=createdAt&order=asc
&offset=&limit=` (`Authorization: GenieKey <key>`; offset/limit pagination, at most 100 per page, more
pages while `paging.next` is present; sorted by the immutable createdAt so pages do not shift while
alerts are updated). The search syntax takes epoch milliseconds for createdAt / updatedAt. Per listed
alert, optionally `GET /v2/alerts/<id>?identifierType=id` (description and details: the repo, service
and root-cause keys live there) and `GET /v2/alerts/<id>/notes?identifierType=id&order=asc` (following
`paging.next`). Each alert gives the actions a webhook would have sent, with delivery id
`api:opsgenie:alert:<alertId>:<action>:<epoch ms>`:
- `Create` at createdAt;
- `Acknowledge` at createdAt + report.ackTime (ms) when acknowledged;
- `Close` at createdAt + report.closeTime (else updatedAt) when closed;
- `AddNote` at each note's createdAt, the note text in `alert.note`.
The body is `{"action", "alert": {alertId, tinyId, alias, message, tags, teams, priority, createdAt,
updatedAt, description, details, note}, "source": {"name", "type": "API"}, "integrationName"}` with
epoch-millisecond times, as the webhook sends. The API lists teams by id only: a pull scoped to a team
adds the team's name to `alert.teams`, so `team_repos` by name works for pulled alerts too.
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime, timedelta
from typing import Any

from devmetrics_assets.sources.pull.http import HttpClient, _origin
from devmetrics_assets.sources.pull.pagination import PaginationError
from devmetrics_assets.sources.pull.records import (
    Delivery,
    PullDataError,
    PullResult,
    delivery_id,
    parse_time,
    reject_for,
    text,
)

PROVIDER = "opsgenie"
RESOURCES = ("alerts",)
STATUSES = ("open", "closed")


def epoch_ms(value: datetime) -> int:
    return int(round(value.timestamp() * 1000))


def _ms_after(created: datetime, millis: Any) -> datetime | None:
    if isinstance(millis, bool) or not isinstance(millis, int | float) or millis < 0:
        return None
    return created + timedelta(milliseconds=millis)


class OpsgeniePuller:
    def __init__(
        self,
        client: HttpClient,
        base_url: str,
        *,
        limit: int = 100,
        max_pages: int = 1000,
        fetch_details: bool = True,
        fetch_notes: bool = True,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.limit = limit
        self.max_pages = max_pages
        self.fetch_details = fetch_details
        self.fetch_notes = fetch_notes

    def members(self, group: str) -> list[str]:
        return []

    def pull(self, resource: str, scope: str, lower: datetime, upper: datetime) -> PullResult:
        if resource != "alerts":
            raise ValueError(f"opsgenie: unknown resource {resource!r}")
        query = f"updatedAt>={epoch_ms(lower)} AND updatedAt<{epoch_ms(upper)}"
        if scope != "all":
            query += ' AND teams:"' + scope.replace('"', '\\"') + '"'
        out = PullResult()
        for alert in self._list(query):
            self._alert(alert, scope, lower, upper, out)
        return out

    def _list(self, query: str) -> list[Any]:
        url = f"{self.base_url}/v2/alerts"
        items: list[Any] = []
        offset = 0
        for _ in range(self.max_pages):
            params = {
                "query": query,
                "sort": "createdAt",
                "order": "asc",
                "limit": self.limit,
                "offset": offset,
            }
            response = self.client.get(url, params)
            page = response.data.get("data") if isinstance(response.data, dict) else None
            if not isinstance(page, list):
                raise PaginationError(f"{response.url}: response has no 'data' list")
            items.extend(page)
            more = isinstance(response.data.get("paging"), dict) and response.data["paging"].get("next")
            if not more:
                return items
            if not page:
                raise PaginationError(f"{response.url}: paging.next is set but the page is empty")
            offset += len(page)
        raise PaginationError(
            f"{url}: more than max_pages={self.max_pages} pages; raise max_pages or pull a shorter range"
        )

    def _details(self, alert_id: str) -> dict:
        url = f"{self.base_url}/v2/alerts/{urllib.parse.quote(alert_id, safe='')}"
        data = self.client.get(url, {"identifierType": "id"}).data
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            raise PullDataError(f"{url}: response has no 'data' object")
        return data["data"]

    def _notes(self, alert_id: str) -> list[Any]:
        url = f"{self.base_url}/v2/alerts/{urllib.parse.quote(alert_id, safe='')}/notes"
        origin = _origin(url)
        notes: list[Any] = []
        page_url: str | None = url
        params: dict[str, Any] | None = {"identifierType": "id", "order": "asc", "limit": 100}
        for _ in range(self.max_pages):
            response = self.client.get(page_url, params)
            data = response.data if isinstance(response.data, dict) else {}
            if not isinstance(data.get("data"), list):
                raise PaginationError(f"{response.url}: response has no 'data' list")
            notes.extend(data["data"])
            page_url = data["paging"].get("next") if isinstance(data.get("paging"), dict) else None
            if not page_url or not data["data"]:
                return notes
            if _origin(page_url) != origin:
                raise PaginationError(
                    f"{url}: next page {page_url} is on another origin; refusing to follow it"
                )
            params = None
        raise PaginationError(f"{url}: more than max_pages={self.max_pages} pages of notes")

    def _alert(self, alert: Any, scope: str, lower: datetime, upper: datetime, out: PullResult) -> None:
        created = parse_time(alert.get("createdAt")) if isinstance(alert, dict) else None
        if created is None or not text(alert.get("id")) or alert.get("status") not in STATUSES:
            out.rejects.append(
                reject_for(
                    PROVIDER, "alerts", scope, alert, "alert without id/createdAt or with an unknown status"
                )
            )
            return
        full = {**alert, **self._details(alert["id"])} if self.fetch_details else dict(alert)
        report = full.get("report") if isinstance(full.get("report"), dict) else {}
        actions: list[tuple[str, datetime | None, str]] = [("Create", created, "")]
        if full.get("acknowledged"):
            actions.append(("Acknowledge", _ms_after(created, report.get("ackTime")), ""))
        if full.get("status") == "closed":
            closed = _ms_after(created, report.get("closeTime")) or parse_time(full.get("updatedAt"))
            actions.append(("Close", closed, ""))
        if self.fetch_notes:
            for note in self._notes(alert["id"]):
                at = parse_time(note.get("createdAt")) if isinstance(note, dict) else None
                if at is None or not isinstance(note.get("note"), str):
                    out.rejects.append(
                        reject_for(PROVIDER, "alerts", scope, note, "note without createdAt/note")
                    )
                    continue
                actions.append(("AddNote", at, note["note"]))
        for action, at, note in actions:
            if at is None:
                out.rejects.append(
                    reject_for(
                        PROVIDER, "alerts", scope, alert, f"{action} of alert {alert['id']} without a time"
                    )
                )
            elif lower <= at < upper:
                ident = delivery_id(PROVIDER, "alert", alert["id"], action, epoch_ms(at))
                out.deliveries.append(
                    Delivery(PROVIDER, action, ident, at, _body(action, full, scope, created, at, note))
                )


def _body(action: str, alert: dict, scope: str, created: datetime, at: datetime, note: str) -> dict:
    teams = [t.get("name") or t.get("id") for t in alert.get("teams") or [] if isinstance(t, dict)]
    teams = [t for t in ([scope] if scope != "all" else []) + teams if t]
    integration = alert.get("integration") if isinstance(alert.get("integration"), dict) else {}
    body_alert = {
        "alertId": alert["id"],
        "tinyId": alert.get("tinyId"),
        "alias": alert.get("alias"),
        "message": alert.get("message"),
        "tags": alert.get("tags") or [],
        "teams": list(dict.fromkeys(teams)),
        "priority": alert.get("priority"),
        "entity": alert.get("entity"),
        "source": alert.get("source"),
        "createdAt": epoch_ms(created),
        "updatedAt": epoch_ms(at),
    }
    for key in ("description", "details"):
        if key in alert:
            body_alert[key] = alert[key]
    if action == "AddNote":
        body_alert["note"] = note
    return {
        "action": action,
        "alert": body_alert,
        "source": {"name": "devmetrics-assets-pull", "type": "API"},
        "integrationName": integration.get("name"),
    }
