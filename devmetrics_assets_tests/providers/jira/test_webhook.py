"""Jira webhooks through the real receiver app: X-Hub-Signature (sha256=<hex HMAC>) verified, forged and
unsigned refused, malformed bodies refused, the delivery id from X-Atlassian-Webhook-Identifier."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from starlette.testclient import TestClient

from devmetrics_assets.receiver import create_app
from devmetrics_assets.sources.registry import sources_from_mapping
from devmetrics_assets_tests.providers.jira.fixtures import issue, webhook
from devmetrics_assets_tests.receiver.conftest import jsonl_lines, settings_in

SECRET = "jira-s3cret-value"
PATH = "/webhooks/jira/ops"
BODY = json.dumps(webhook("jira:issue_created", "2025-03-04T10:00:00Z",
                          issue(10001, "2025-03-04T10:00:00Z", components=["Checkout"])),
                  separators=(",", ":")).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def client(tmp_path):
    settings = settings_in(tmp_path)
    specs = sources_from_mapping({"sources": [{"name": "ops", "type": "landing_jsonl", "provider": "jira",
                                               "secret_env": "JIRA_SECRET"}]}, settings=settings)
    with TestClient(create_app(specs, settings=settings, environ={"JIRA_SECRET": SECRET})) as test_client:
        yield test_client, settings


def landed(settings) -> list[dict]:
    return [json.loads(line) for path in sorted((settings.landing_dir / "ops").glob("*.jsonl"))
            for line in jsonl_lines(path)]


def post(test_client: TestClient, body: bytes, **headers: str):
    return test_client.post(PATH, content=body, headers={"Content-Type": "application/json", **headers})


def test_signed_delivery_is_stored_once_under_the_atlassian_identifier(client) -> None:
    test_client, settings = client
    headers = {"X-Hub-Signature": signature(BODY), "X-Atlassian-Webhook-Identifier": "a1b2-c3",
               "X-Atlassian-Webhook-Flow": "Primary", "Authorization": "Bearer not-kept"}
    first = post(test_client, BODY, **headers)
    retried = post(test_client, BODY, **headers, **{"X-Atlassian-Webhook-Retry": "1"})
    assert first.status_code == 200 and first.json() == {"status": "stored", "delivery_id": "a1b2-c3"}
    assert retried.json()["status"] == "duplicate"
    [line] = landed(settings)
    assert line["provider"] == "jira" and line["event_type"] == "jira:issue_created"
    assert line["signature_status"] == "verified" and line["body_raw"].encode() == BODY
    kept = {k.lower() for k in line["headers"]}
    assert "x-atlassian-webhook-identifier" in kept and "authorization" not in kept


def test_without_the_identifier_header_the_id_comes_from_the_body(client) -> None:
    test_client, settings = client
    response = post(test_client, BODY, **{"X-Hub-Signature": signature(BODY)})
    stamp = json.loads(BODY)["timestamp"]
    assert response.json()["delivery_id"] == f"jira:jira:issue_created:10001:{stamp}"


@pytest.mark.parametrize(("headers", "body", "status", "reason"), [
    ({"X-Hub-Signature": signature(BODY, "wrong-secret")}, BODY, 403, "forged"),
    ({"X-Hub-Signature": signature(BODY + b" ")}, BODY, 403, "forged"),
    ({}, BODY, 401, "unsigned: X-Hub-Signature header missing"),
    ({"X-Hub-Signature-256": signature(BODY)}, BODY, 401, "unsigned"),
    ({"X-Hub-Signature": signature(b'{"webhookEvent": ')}, b'{"webhookEvent": ', 400, "malformed"),
    ({"X-Hub-Signature": signature(b'{"issue": {"id": "1"}}')}, b'{"issue": {"id": "1"}}', 400,
     "needs webhookEvent"),
    ({"X-Hub-Signature": signature(b'{"webhookEvent": "jira:issue_updated"}')},
     b'{"webhookEvent": "jira:issue_updated"}', 400, "X-Atlassian-Webhook-Identifier"),
], ids=["wrong-secret", "other-body", "unsigned", "github-header", "not-json", "no-event", "no-id"])
def test_bad_deliveries_are_refused_and_not_stored(client, headers, body, status, reason) -> None:
    test_client, settings = client
    response = post(test_client, body, **headers)
    assert response.status_code == status, response.text
    assert reason in response.json()["reason"]
    assert landed(settings) == []
