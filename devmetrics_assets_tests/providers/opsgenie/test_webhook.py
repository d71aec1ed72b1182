"""Opsgenie webhooks through the real receiver app: the shared Bearer token (valid / forged / missing),
malformed bodies, the derived delivery id deduping a redelivery, and Bronze reading what was stored."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from devmetrics_assets.receiver import create_app
from devmetrics_assets.sources.landing import read_landing_jsonl
from devmetrics_assets.sources.registry import sources_from_mapping
from devmetrics_assets_tests.providers.opsgenie.payloads import ms, ns, og
from devmetrics_assets_tests.receiver.conftest import jsonl_lines, settings_in

TOKEN = "og-t0ken-value-5"
PATH = "/webhooks/opsgenie/og"
CREATED = "2025-03-04T10:00:00Z"
ALERT = "052652ac-5d1c-464a-812a-7dd18bbfba8c"


@pytest.fixture
def setup(tmp_path):
    settings = settings_in(tmp_path)
    sources = sources_from_mapping(
        {
            "sources": [
                {"name": "og", "type": "landing_jsonl", "provider": "opsgenie", "secret_env": "OG_TOKEN"}
            ]
        },
        settings=settings,
    )
    app = create_app(sources, settings=settings, environ={"OG_TOKEN": TOKEN}, fsync=os.fsync)
    with TestClient(app) as client:
        yield settings, sources[0], client


def body(action: str = "Create", at: str = CREATED, **fields) -> bytes:
    return json.dumps(og(action, ALERT, "23", CREATED, at, **fields), separators=(",", ":")).encode()


def post(client: TestClient, raw: bytes, token: str | None = TOKEN, scheme: str = "Bearer"):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return client.post(PATH, content=raw, headers=headers)


def landed(settings) -> list[dict]:
    folder = settings.landing_dir / "og"
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in jsonl_lines(path)]


def rejects(settings) -> list[dict]:
    folder = settings.landing_dir / "_rejects"
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in jsonl_lines(path)]


def test_valid_delivery_is_stored_and_a_redelivery_is_a_duplicate(setup) -> None:
    settings, spec, client = setup
    expected_id = f"opsgenie:{ALERT}:Create:{ns(CREATED)}"
    first, again = post(client, body()), post(client, body())
    assert first.status_code == 200 and first.json() == {"status": "stored", "delivery_id": expected_id}
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    close = post(client, body("Close", "2025-03-04T11:00:00Z"), scheme="bearer")  # scheme is case-blind
    assert close.json()["delivery_id"] == f"opsgenie:{ALERT}:Close:{ns('2025-03-04T11:00:00Z')}"
    lines = landed(settings)
    assert [line["event_type"] for line in lines] == ["Create", "Close"]
    assert all(line["signature_status"] == "verified" and line["provider"] == "opsgenie" for line in lines)
    written = "".join(p.read_text() for p in settings.landing_dir.rglob("*.jsonl"))
    assert TOKEN not in written and all(
        "authorization" not in {k.lower() for k in line["headers"]} for line in lines
    )
    rows, rejected = read_landing_jsonl(
        spec, start=datetime(2000, 1, 1), end=datetime(2100, 1, 1), secret=None, load_batch_id="run-1"
    )
    assert rejected.empty and len(rows) == 2
    # anchored on the alert's createdAt (epoch ms), not on the received day
    assert (rows["event_day"].dt.strftime("%Y-%m-%d") == "2025-03-04").all()
    assert json.loads(rows["body"].iloc[0])["alert"]["createdAt"] == ms(CREATED)


@pytest.mark.parametrize(
    ("token", "scheme", "status", "reason"),
    [
        ("not-the-token", "Bearer", 403, "forged: the Authorization bearer token does not match"),
        (None, "Bearer", 401, "unsigned: Authorization: Bearer <token> header missing"),
        (TOKEN, "GenieKey", 401, "unsigned"),
        ("", "Bearer", 401, "unsigned"),
    ],
    ids=["forged", "unsigned", "other-scheme", "empty"],
)
def test_bad_tokens_are_refused_and_recorded(setup, token, scheme, status, reason) -> None:
    settings, _, client = setup
    response = post(client, body(), token=token, scheme=scheme)
    assert response.status_code == status and reason in response.json()["reason"]
    assert landed(settings) == []
    [record] = rejects(settings)
    assert record["status"] == status and record["source"] == "og"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"action": "Create", "alert": ',
        b"[1, 2]",
        json.dumps({"action": "Create", "alert": {"tinyId": "1"}}).encode(),
        json.dumps({"alert": {"alertId": ALERT}}).encode(),
    ],
    ids=["truncated", "not-an-object", "no-alert-id", "no-action"],
)
def test_malformed_bodies_are_400(setup, raw) -> None:
    settings, _, client = setup
    response = post(client, raw)
    assert response.status_code == 400 and "malformed" in response.json()["reason"], response.text
    assert landed(settings) == []


def test_without_updated_at_the_body_hash_is_the_delivery_id(setup) -> None:
    settings, _, client = setup
    payload = og("AddNote", ALERT, "23", CREATED, note="root cause: abcdef1")
    del payload["alert"]["updatedAt"]
    raw = json.dumps(payload).encode()
    first, again = post(client, raw), post(client, raw)
    assert (
        first.json()["delivery_id"].startswith("opsgenie:sha256=") and again.json()["status"] == "duplicate"
    )
    assert len(landed(settings)) == 1
