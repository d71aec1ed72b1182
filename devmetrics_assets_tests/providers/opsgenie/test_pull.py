"""Opsgenie Alert API pull against a real local HTTP server (fake_api): alerts become webhook-shaped
actions, offset pagination, the incremental cursor with overlap, retries, and a failing unit's cursor.

List/Get/notes responses follow the Alert API documentation (https://docs.opsgenie.com/docs/alert-api):
list items `{id, tinyId, alias, message, status, acknowledged, isSeen, tags, snoozed, count,
lastOccurredAt, createdAt, updatedAt, source, owner, priority, teams: [{id}], responders, integration,
report: {ackTime, closeTime, acknowledgedBy, closedBy}}` with ISO times and `paging.next`; Get Alert adds
description and details; notes are `{note, owner, createdAt, offset}` pages with `paging.next`.
"""

from __future__ import annotations

import json
import random
import re
import urllib.parse
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.opsgenie.incidents import build_incidents
from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.reader import PullError, build_client, pull_source, read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets_tests.providers.opsgenie.payloads import ms
from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime, Request, json_reply, status

D = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
TEAM_ID = "8418d193-2dab-4490-b331-8c02cdd196b7"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def alert(alert_id: str, tiny: str, status_: str, created: str, updated: str, **extra) -> dict:
    return {
        "id": alert_id,
        "tinyId": tiny,
        "alias": f"alias-{alert_id}",
        "message": "Checkout 500s",
        "status": status_,
        "acknowledged": False,
        "isSeen": True,
        "tags": ["checkout"],
        "snoozed": False,
        "count": 1,
        "lastOccurredAt": created,
        "createdAt": created,
        "updatedAt": updated,
        "source": "Isengard",
        "owner": "morpheus@opsgenie.com",
        "priority": "P1",
        "teams": [{"id": TEAM_ID}],
        "responders": [{"type": "team", "id": TEAM_ID}],
        "integration": {
            "id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c",
            "name": "Nebuchadnezzar",
            "type": "API",
        },
        "report": {},
        **extra,
    }


def alerts() -> list[dict]:
    return [
        alert(
            "a-1",
            "1791",
            "closed",
            "2025-03-10T09:00:00.000Z",
            "2025-03-10T10:00:00.000Z",
            acknowledged=True,
            report={
                "ackTime": 600_000,
                "closeTime": 3_600_000,
                "acknowledgedBy": "agent_smith@opsgenie.com",
                "closedBy": "neo@opsgenie.com",
            },
        ),
        alert("a-2", "1792", "open", "2025-03-10T12:00:00.000Z", "2025-03-10T12:00:00.000Z"),
        # created before the window, closed in it
        alert(
            "a-3",
            "1700",
            "closed",
            "2025-03-01T08:00:00.000Z",
            "2025-03-10T08:00:00.000Z",
            report={"closeTime": 9 * 86_400_000},
        ),
        {
            "id": "a-bad",
            "status": "exploded",
            "createdAt": "2025-03-10T10:30:00Z",
            "updatedAt": "2025-03-10T10:30:00Z",
        },
    ]


NOTES = {
    "a-1": [
        {
            "note": "Investigating",
            "owner": "neo@opsgenie.com",
            "createdAt": "2025-03-10T09:15:00.000Z",
            "offset": "1741598100000",
        },
        {
            "note": f"root cause: {SHA[:8]}",
            "owner": "neo@opsgenie.com",
            "createdAt": "2025-03-10T09:20:00.000Z",
            "offset": "1741598400000",
        },
    ]
}
DETAILS = {"a-1": {"description": "500s on /checkout", "details": {"repo": "acme/api"}}}


class Opsgenie:
    """The Alert API over a mutable list of alerts."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.alerts = alerts()
        api.route("/v2/alerts", self.list)

    def register(self) -> None:
        for item in self.alerts:
            self.api.route(f"/v2/alerts/{item['id']}", self.get)
            self.api.route(f"/v2/alerts/{item['id']}/notes", self.notes)

    def list(self, request: Request) -> object:
        query = request.arg("query", "")
        lower, upper = (int(v) for v in re.findall(r"updatedAt[<>]=?(\d+)", query))
        team = re.search(r'teams:"([^"]+)"', query)
        assert request.arg("sort") == "createdAt" and request.arg("order") == "asc"
        items = [a for a in self.alerts if lower <= ms(a["updatedAt"]) < upper]
        if team and team.group(1) != "Checkout":
            items = []
        items.sort(key=lambda a: a["createdAt"])
        limit, offset = int(request.arg("limit")), int(request.arg("offset"))
        page = items[offset : offset + limit]
        paging = {"first": "..."}
        if offset + limit < len(items):
            query = {**{k: v[0] for k, v in request.query.items()}, "offset": str(offset + limit)}
            paging["next"] = f"{self.api.base_url}/v2/alerts?{urllib.parse.urlencode(query)}"
        return json_reply({"data": page, "paging": paging, "took": 0.1, "requestId": "r"})

    def get(self, request: Request) -> object:
        alert_id = request.path.rsplit("/", 1)[1]
        assert request.arg("identifierType") == "id"
        item = next(a for a in self.alerts if a["id"] == alert_id)
        return json_reply({"data": {**item, **DETAILS.get(alert_id, {}), "entity": "checkout"}, "took": 0.1})

    def notes(self, request: Request) -> object:
        alert_id = request.path.split("/")[3]
        notes = NOTES.get(alert_id, [])
        if request.arg("offset") is None:  # first page: one note and a next link, as the API pages
            nxt = f"{self.api.base_url}{request.path}?identifierType=id&order=asc&offset=1741598100000"
            return json_reply({"data": notes[:1], "paging": {"next": nxt} if len(notes) > 1 else {}})
        return json_reply({"data": notes[1:], "paging": {}})


@pytest.fixture
def opsgenie(api: FakeApi, monkeypatch) -> Opsgenie:
    monkeypatch.setenv("OPSGENIE_API_KEY", "og-key")
    server = Opsgenie(api)
    server.register()
    return server


def make_spec(tmp_path, api: FakeApi, teams: list[str] | None = None) -> SourceSpec:
    return SourceSpec(
        name="og",
        type="opsgenie_api",
        provider="opsgenie",
        landing_dir=tmp_path / "landing" / "og",
        secret_env=None,
        description="Opsgenie Alert API pull",
        options={"base_url": api.base_url, "page_size": 2, "retry": {"max_attempts": 2, "base_delay": 0.01}},
        scope={"teams": teams or ["Checkout"]},
    )


def client_for(spec: SourceSpec, fake_time: FakeTime):
    return build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))


def ident(alert_id: str, action: str, iso: str) -> str:
    return f"api:opsgenie:alert:{alert_id}:{action}:{ms(iso)}"


def test_alerts_become_webhook_actions_that_silver_reads(tmp_path, api, opsgenie, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    rows, rejects = read_api_source(
        spec,
        start=D,
        end=D + DAY,
        secret=None,
        load_batch_id="b",
        client=client_for(spec, fake_time),
        now=D + 2 * DAY,
    )
    assert set(rows["delivery_id"]) == {
        ident("a-1", "Create", "2025-03-10T09:00:00Z"),
        ident("a-1", "Acknowledge", "2025-03-10T09:10:00Z"),  # createdAt + report.ackTime
        ident("a-1", "AddNote", "2025-03-10T09:15:00Z"),
        ident("a-1", "AddNote", "2025-03-10T09:20:00Z"),  # second notes page, through paging.next
        ident("a-1", "Close", "2025-03-10T10:00:00Z"),  # createdAt + report.closeTime
        ident("a-2", "Create", "2025-03-10T12:00:00Z"),
        ident("a-3", "Close", "2025-03-10T08:00:00Z"),  # created 9 days before the window
    }
    assert list(rejects["reason"]) == ["alert without id/createdAt or with an unknown status"]
    by_id = rows.set_index("delivery_id")
    close = json.loads(by_id.loc[ident("a-1", "Close", "2025-03-10T10:00:00Z"), "body"])
    assert close["action"] == "Close" and close["integrationName"] == "Nebuchadnezzar"
    assert close["alert"]["alertId"] == "a-1" and close["alert"]["tinyId"] == "1791"
    assert close["alert"]["createdAt"] == ms("2025-03-10T09:00:00Z")
    assert close["alert"]["updatedAt"] == ms("2025-03-10T10:00:00Z")
    assert close["alert"]["teams"] == ["Checkout", TEAM_ID], "the scoped team's name is added to the ids"
    assert (
        close["alert"]["details"] == {"repo": "acme/api"}
        and close["alert"]["description"] == "500s on /checkout"
    )
    note = json.loads(by_id.loc[ident("a-1", "AddNote", "2025-03-10T09:20:00Z"), "body"])
    assert note["alert"]["note"] == f"root cause: {SHA[:8]}"
    # every row of an alert is read with its creation day
    assert by_id.loc[ident("a-3", "Close", "2025-03-10T08:00:00Z"), "event_day"] == pd.Timestamp("2025-03-01")
    listing = api.requests_to("/v2/alerts")
    assert [r.arg("offset") for r, _ in listing] == ["0", "2"]
    assert listing[0][0].arg("query") == (
        f"updatedAt>={ms('2025-03-10T00:00:00Z')} AND updatedAt<{ms('2025-03-11T00:00:00Z')}"
        ' AND teams:"Checkout"'
    )
    assert all(r.headers["authorization"] == "GenieKey og-key" for r, _ in api.log)

    # The pulled actions make the incident Silver expects (the API is the webhook's twin).
    rules = DoraRules(provider_rules={"opsgenie": {"team_repos": {"Checkout": "acme/web"}}})
    day10 = rows[rows["event_day"] == pd.Timestamp("2025-03-10")]
    out, q = build_incidents(
        day10, _no_mainline(), rules, pd.Timestamp("2025-03-10"), pd.Timestamp("2025-03-11")
    )
    out = out.set_index("incident_id")
    assert sorted(out.index) == ["acme/api#opsgenie-1791", "acme/web#opsgenie-1792"] and q.empty
    a1 = out.loc["acme/api#opsgenie-1791"]
    assert a1["opened_at"] == pd.Timestamp("2025-03-10T09:00:00Z") and not a1["is_open"]
    assert a1["resolved_at"] == pd.Timestamp("2025-03-10T10:00:00Z") and a1["root_cause_raw"] == SHA[:8]


def _no_mainline() -> pd.DataFrame:
    from devmetrics_assets.transforms.mainline_model import MAINLINE_COLUMNS

    return pd.DataFrame(columns=MAINLINE_COLUMNS)


def test_second_pull_reads_only_what_changed_since_the_cursor_minus_overlap(
    tmp_path, api, opsgenie, fake_time
):
    spec = make_spec(tmp_path, api)
    first = pull_source(
        spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=13)
    )
    unit = first.units["alerts@Checkout"]
    assert unit["cursor"] == D + timedelta(hours=12) and unit["landed"] == 7
    # a-2 is closed at 14:00; nothing else changes
    a2 = next(a for a in opsgenie.alerts if a["id"] == "a-2")
    a2.update(status="closed", updatedAt="2025-03-10T14:00:00.000Z", report={"closeTime": 7_200_000})
    second = pull_source(
        spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=15)
    )
    unit = second.units["alerts@Checkout"]
    query = api.requests_to("/v2/alerts")[-1][0].arg("query")
    assert query.startswith(
        f"updatedAt>={ms('2025-03-10T11:50:00Z')} AND updatedAt<{ms('2025-03-10T15:00:00Z')}"
    )
    # only a-2 is listed again: its Create (same id, not landed twice) and its new Close
    assert unit["delivery_ids"] == [
        ident("a-2", "Create", "2025-03-10T12:00:00Z"),
        ident("a-2", "Close", "2025-03-10T14:00:00Z"),
    ]
    assert unit["landed"] == 1 and unit["cursor"] == D + timedelta(hours=14)
    assert [r.path for r, _ in api.log[-3:]] == ["/v2/alerts", "/v2/alerts/a-2", "/v2/alerts/a-2/notes"]


def test_an_error_status_is_retried(tmp_path, api, opsgenie, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    api.fault("/v2/alerts", status(503))
    report = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + 2 * DAY)
    assert report.units["alerts@Checkout"]["landed"] == 7
    assert [s for _, s in api.requests_to("/v2/alerts")][:2] == [503, 200] and len(fake_time.slept) == 1


def test_a_failing_unit_keeps_its_cursor_and_the_others_advance(tmp_path, api, opsgenie, fake_time) -> None:
    spec = make_spec(tmp_path, api, teams=["Checkout", "Payments"])
    api.fault("/v2/alerts/a-1/notes", status(500), status(500))
    with pytest.raises(PullError, match=r"alerts@Checkout .*after 2 attempt\(s\): HTTP 500"):
        pull_source(
            spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=13)
        )
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("og", "alerts@Checkout") is None
    assert state.watermark("og", "alerts@Payments") == D  # nothing listed: the range is marked read
    assert not list(spec.landing_dir.glob("*.jsonl")), "the failed unit landed nothing"


def test_details_and_notes_can_be_skipped(tmp_path, api, opsgenie, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    spec = SourceSpec(
        **{**spec.__dict__, "options": {**spec.options, "fetch_details": False, "fetch_notes": False}}
    )
    report = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + 2 * DAY)
    assert report.units["alerts@Checkout"]["landed"] == 5
    assert {r.path for r, _ in api.log} == {"/v2/alerts"}
