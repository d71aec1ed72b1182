"""GitHub Actions webhooks through the real receiver app: signed like every GitHub webhook
(https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from starlette.testclient import TestClient

from devmetrics_assets.receiver import create_app
from devmetrics_assets.sources.registry import sources_from_mapping
from devmetrics_assets_tests.providers.github_actions.story import DEPLOY_WORKFLOW, run_body, t, workflow_run
from devmetrics_assets_tests.receiver.conftest import jsonl_lines, settings_in

SECRET = "gha-s3cret-value"
PATH = "/webhooks/github_actions/ci"


@pytest.fixture
def settings(tmp_path):
    return settings_in(tmp_path)


def client_for(settings) -> TestClient:
    sources = sources_from_mapping({"sources": [
        {"name": "ci", "type": "landing_jsonl", "provider": "github_actions", "secret_env": "GHA_SECRET",
         "rules": {"providers": {"github_actions": {"workflows": ["Deploy"]}}}}]}, settings=settings)
    return TestClient(create_app(sources, settings=settings, environ={"GHA_SECRET": SECRET}))


def body_bytes() -> bytes:
    run = workflow_run(30433642, DEPLOY_WORKFLOW, "a1", "main", attempt=1, created=t("3 08:30"),
                       started=t("3 08:30"), updated=t("3 08:40"), status="completed", conclusion="success")
    return json.dumps(run_body("completed", run, DEPLOY_WORKFLOW)).encode()


def headers(raw: bytes, *, event: str = "workflow_run", secret: str | None = SECRET,
            delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958") -> dict[str, str]:
    out = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
           "X-GitHub-Hook-ID": "292430182"}
    if secret is not None:
        out["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return out


def landed(settings) -> list[dict]:
    folder = settings.landing_dir / "ci"
    return [json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in jsonl_lines(p)]


def test_a_signed_workflow_run_is_stored_once(settings) -> None:
    raw = body_bytes()
    with client_for(settings) as client:
        first = client.post(PATH, content=raw, headers=headers(raw))
        again = client.post(PATH, content=raw, headers=headers(raw))
        ping = client.post(PATH, content=b'{"zen": "Keep it logically awesome."}',
                           headers=headers(b'{"zen": "Keep it logically awesome."}', event="ping",
                                           delivery="ping-1"))
    assert first.status_code == 200 and first.json()["status"] == "stored"
    assert again.json()["status"] == "duplicate" and ping.status_code == 200
    run, _ = landed(settings)
    assert (run["provider"], run["event_type"], run["signature_status"]) == (
        "github_actions", "workflow_run", "verified")
    assert run["body_raw"].encode() == raw and "x-hub-signature-256" in {h.lower() for h in run["headers"]}


@pytest.mark.parametrize(("mutate", "status", "reason"), [
    (lambda raw: (raw, headers(raw, secret="not-the-secret")), 403, "forged: X-Hub-Signature-256"),
    (lambda raw: (raw, headers(raw, secret=None)), 401, "unsigned: X-Hub-Signature-256 header missing"),
    (lambda raw: (b'{"action": "completed", "workflow_run": ', headers(b'{"action": "completed", '
                                                                     b'"workflow_run": ')), 400, "malformed"),
    (lambda raw: (raw, {k: v for k, v in headers(raw).items() if k != "X-GitHub-Event"}), 400,
     "missing header(s): X-GitHub-Event"),
    (lambda raw: (raw, headers(raw, event="push")), 400, "event 'push' is not a GitHub Actions event"),
    (lambda raw: (b'{"action": "completed"}', headers(b'{"action": "completed"}')), 400,
     "malformed workflow_run: the body has no workflow_run object"),
], ids=["forged", "unsigned", "malformed-json", "no-event", "other-event", "no-run-object"])
def test_bad_deliveries_are_refused_and_not_stored(settings, mutate, status: int, reason: str) -> None:
    raw, sent = mutate(body_bytes())
    with client_for(settings) as client:
        response = client.post(PATH, content=raw, headers=sent)
    assert response.status_code == status, response.text
    assert reason in response.json()["reason"]
    assert landed(settings) == []
