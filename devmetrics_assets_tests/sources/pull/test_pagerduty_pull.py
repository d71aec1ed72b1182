"""PagerDuty incidents pull against a local fake API (offset pagination, creation-time filter)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from devmetrics_assets.sources.pull.reader import build_client, pull_source, read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime, Request

D = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
REF = "https://api.pagerduty.com"


def incident(
    inc_id: str, number: int, status: str, created: str, changed: str, resolved: str | None = None
) -> dict:
    return {
        "id": inc_id,
        "type": "incident",
        "summary": f"[#{number}] Checkout errors",
        "self": f"{REF}/incidents/{inc_id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{inc_id}",
        "incident_number": number,
        "title": "Checkout errors",
        "created_at": created,
        "updated_at": changed,
        "status": status,
        "incident_key": f"key-{inc_id}",
        "service": {
            "id": "PF9KMXH",
            "type": "service_reference",
            "summary": "checkout",
            "self": f"{REF}/services/PF9KMXH",
        },
        "assignments": [
            {"at": created, "assignee": {"id": "PTUXL6G", "type": "user_reference", "summary": "User 123"}}
        ],
        "last_status_change_at": changed,
        "last_status_change_by": {"id": "PTUXL6G", "type": "user_reference"},
        "resolved_at": resolved,
        "escalation_policy": {"id": "PUS0KTE", "type": "escalation_policy_reference"},
        "teams": [],
        "urgency": "high",
        "priority": None,
        "description": "Checkout errors",
    }


INCIDENTS = [
    incident(
        "PT4KHLK", 1, "resolved", "2025-03-10T09:00:00Z", "2025-03-10T11:00:00Z", "2025-03-10T11:00:00Z"
    ),
    incident("PQ0R3X1", 2, "acknowledged", "2025-03-10T12:00:00Z", "2025-03-10T12:05:00Z"),
    incident(
        "POLD001", 3, "resolved", "2025-03-01T08:00:00Z", "2025-03-10T08:00:00Z", "2025-03-10T08:00:00Z"
    ),
    incident("PTRIG01", 4, "triggered", "2025-03-10T13:00:00Z", "2025-03-10T13:00:00Z"),
    {"id": "PBAD", "status": "exploded", "created_at": "2025-03-10T10:00:00Z"},
]


def _created_between(request: Request) -> list[dict]:
    since, until = request.arg("since"), request.arg("until")
    return [i for i in INCIDENTS if since <= i["created_at"] < until]


@pytest.fixture
def pagerduty(api: FakeApi, monkeypatch) -> FakeApi:
    monkeypatch.setenv("PAGERDUTY_TOKEN", "pd-test")
    api.offset_pages("/incidents", "incidents", _created_between)
    return api


def make_spec(tmp_path, api: FakeApi, **extra) -> SourceSpec:
    options = {
        "base_url": api.base_url,
        "page_size": 2,
        "retry": {"max_attempts": 2, "base_delay": 0.01},
        **extra,
    }
    return SourceSpec(
        name="pd",
        type="pagerduty_api",
        provider="pagerduty",
        landing_dir=tmp_path / "landing" / "pd",
        secret_env=None,
        description="PagerDuty REST pull",
        options=options,
    )


def test_incidents_become_v3_events(tmp_path, api, pagerduty, fake_time: FakeTime) -> None:
    spec = make_spec(tmp_path, api)
    client = build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    rows, rejects = read_api_source(
        spec, start=D, end=D + DAY, secret=None, load_batch_id="b", client=client, now=D + 2 * DAY
    )
    ids = set(rows["delivery_id"])
    assert ids == {
        "api:pagerduty:incident:PT4KHLK:triggered:2025-03-10T09:00:00Z",
        "api:pagerduty:incident:PT4KHLK:resolved:2025-03-10T11:00:00Z",
        "api:pagerduty:incident:PQ0R3X1:triggered:2025-03-10T12:00:00Z",
        "api:pagerduty:incident:PQ0R3X1:acknowledged:2025-03-10T12:05:00Z",
        # opened before the window, resolved in it
        "api:pagerduty:incident:POLD001:resolved:2025-03-10T08:00:00Z",
        "api:pagerduty:incident:PTRIG01:triggered:2025-03-10T13:00:00Z",
    }
    resolved = json.loads(
        rows.set_index("delivery_id").loc[
            "api:pagerduty:incident:PT4KHLK:resolved:2025-03-10T11:00:00Z", "body"
        ]
    )["event"]
    assert resolved["event_type"] == "incident.resolved" and resolved["resource_type"] == "incident"
    assert resolved["occurred_at"] == "2025-03-10T11:00:00Z" and resolved["data"]["status"] == "resolved"
    assert resolved["data"]["number"] == 1 and resolved["data"]["assignees"][0]["id"] == "PTUXL6G"
    assert resolved["data"]["service"]["summary"] == "checkout"
    assert set(rows["event_type"]) == {"incident.triggered", "incident.resolved", "incident.acknowledged"}
    assert list(rejects["reason"]) == ["incident without id/created_at or with an unknown status"]
    # The list filters on creation: the range is read from 30 days before the window, 2 per page.
    first, _ = api.requests_to("/incidents")[0]
    assert first.arg("since") == "2025-02-08T00:00:00Z" and first.arg("until") == "2025-03-11T00:00:00Z"
    assert [r.arg("offset") for r, _ in api.requests_to("/incidents")] == ["0", "2", "4"]
    assert all(r.headers["authorization"] == "Token token=pd-test" for r, _ in api.log)
    assert Warehouse(tmp_path / "w.duckdb").append_bronze(rows) == 6


def test_long_ranges_are_read_in_slices_of_at_most_six_months(tmp_path, api, pagerduty, fake_time) -> None:
    spec = make_spec(tmp_path, api, incident_lookback_days=0)
    start = D - 400 * DAY
    client = build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    report = pull_source(spec, start=start, end=D + DAY, client=client, now=D + 2 * DAY)
    windows = [
        (r.arg("since"), r.arg("until")) for r, _ in api.requests_to("/incidents") if r.arg("offset") == "0"
    ]
    assert (
        len(windows) == 3
        and windows[0][0] == "2024-02-04T00:00:00Z"
        and windows[-1][1] == "2025-03-11T00:00:00Z"
    )
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert report.units["incidents"]["pulled"] == 7  # POLD001's triggered event is inside this range too


def test_services_from_the_source_scope_filter_the_listing(tmp_path, api, pagerduty, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    spec = SourceSpec(**{**spec.__dict__, "scope": {"services": ["PF9KMXH", "P393ZNQ"]}})
    client = build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    pull_source(spec, start=D, end=D + DAY, client=client, now=D + 2 * DAY)
    first, _ = api.requests_to("/incidents")[0]
    assert first.query["service_ids[]"] == ["PF9KMXH", "P393ZNQ"] and first.arg("time_zone") == "UTC"
