"""The receiver's logic through Starlette's TestClient: every provider, every kind of bad request,
durability before acknowledgement, redeliveries, and that secrets never reach disk."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from devmetrics_assets.receiver import ReceiverConfigError, create_app
from devmetrics_assets.sources.landing import read_landing_jsonl
from devmetrics_assets.sources.registry import sources_from_mapping
from devmetrics_assets_tests.receiver.conftest import (
    PROVIDERS,
    SECRETS,
    SOURCE_OF,
    build,
    forge,
    landed,
    malform,
    oversize,
    rejects,
    sign,
    strip_required,
    unsign,
    webhook_sources,
)


def client_for(settings, fsync=os.fsync, **options) -> TestClient:
    return TestClient(create_app(webhook_sources(settings, **options), settings=settings, environ=SECRETS,
                                 fsync=fsync))


def post(client: TestClient, d):
    return client.post(d.path, content=d.body, headers=d.headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_delivery_is_stored_then_redelivery_is_a_duplicate(settings, provider):
    d = build(provider, 1)
    with client_for(settings) as client:
        first = post(client, d)
        again = post(client, d)
    assert first.status_code == 200 and first.json() == {"status": "stored", "delivery_id": d.delivery_id}
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    [line] = landed(settings, provider)
    assert line["delivery_id"] == d.delivery_id
    assert line["provider"] == provider and line["event_type"] == d.event_type
    assert line["signature_status"] == "verified"
    assert line["body_raw"].encode() == d.body  # the exact bytes, so Bronze keeps the payload whole
    assert datetime.fromisoformat(line["received_at"]).tzinfo is not None
    day_file = settings.landing_dir / SOURCE_OF[provider] / f"{line['received_at'][:10]}.jsonl"
    assert day_file.exists()


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [(forge, 403, "forged"), (unsign, 401, "unsigned"), (malform, 400, "malformed"),
     (strip_required, 400, "")],
    ids=["forged", "unsigned", "malformed", "missing-required"],
)
def test_bad_requests_are_refused_recorded_and_not_stored(settings, provider, mutate, status, reason):
    d = mutate(build(provider, 2))
    with client_for(settings) as client:
        response = post(client, d)
    assert response.status_code == status, response.text
    assert response.json()["status"] == "rejected" and reason in response.json()["reason"]
    assert landed(settings, provider) == []
    [record] = rejects(settings)
    assert record["status"] == status and record["source"] == SOURCE_OF[provider]
    assert record["reason"] == response.json()["reason"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_oversized_body_is_refused_with_413(settings, provider):
    with client_for(settings) as client:
        response = post(client, oversize(provider))
        chunked = client.post(oversize(provider).path, content=iter([oversize(provider).body]),
                              headers=oversize(provider).headers)
    assert response.status_code == 413 and "limit of 4096 bytes" in response.json()["reason"]
    assert chunked.status_code == 413  # no Content-Length: the limit holds while reading
    assert landed(settings, provider) == []


def test_missing_headers_name_what_is_missing(settings):
    d = build("github", 3)
    with client_for(settings) as client:
        response = client.post(d.path, content=d.body,
                               headers={k: v for k, v in d.headers.items() if k != "X-GitHub-Delivery"})
    assert response.status_code == 400
    assert response.json()["reason"] == "missing header(s): X-GitHub-Delivery"


def test_secrets_never_reach_the_landing_files_or_the_rejects_log(settings):
    with client_for(settings) as client:
        for provider in PROVIDERS:
            assert post(client, build(provider, 4)).status_code == 200
            post(client, forge(build(provider, 5)))
            post(client, strip_required(build(provider, 6)))
    written = "".join(p.read_text() for p in settings.landing_dir.rglob("*.jsonl"))
    assert len(rejects(settings)) == 8
    for secret in SECRETS.values():
        assert secret not in written
    kept = [set(line["headers"]) for p in PROVIDERS for line in landed(settings, p)]
    kept += [set(record["headers"]) for record in rejects(settings)]
    assert all(not names & {"x-gitlab-token", "authorization"} for names in kept)


def test_unknown_source_and_wrong_provider_are_404(settings):
    d = build("github", 7)
    with client_for(settings) as client:
        unknown = client.post("/webhooks/github/nope", content=d.body, headers=d.headers)
        wrong = client.post("/webhooks/gitlab/gh", content=d.body, headers=d.headers)
        health = client.get("/healthz")
    assert unknown.status_code == 404 and "no webhook source named 'nope'" in unknown.json()["reason"]
    assert wrong.status_code == 404 and "/webhooks/github/gh" in wrong.json()["reason"]
    assert health.json()["status"] == "ok" and health.json()["rejected"] == 2


def test_pagerduty_accepts_any_of_several_signatures(settings):
    d = build("pagerduty", 8)
    good = d.headers["X-PagerDuty-Signature"]
    rotated = {**d.headers, "X-PagerDuty-Signature": f"v1={'0' * 64}, {good}"}
    only_bad = {**d.headers, "X-PagerDuty-Signature": f"v1={'0' * 64},v1={'1' * 64}"}
    with client_for(settings) as client:
        assert client.post(d.path, content=d.body, headers=only_bad).status_code == 403
        assert client.post(d.path, content=d.body, headers=rotated).json()["status"] == "stored"


def test_generic_accepts_hmac_and_bearer_and_validates_every_field(settings):
    d = build("generic", 9)
    signed = {"Content-Type": "application/json",
              "X-Signature-256": "sha256=" + hmac.new(SECRETS["GEN_TOKEN"].encode(), d.body,
                                                      hashlib.sha256).hexdigest()}
    bad = json.dumps({"type": "deployment", "id": "x", "repo": "not-a-repo", "environment": "prod",
                      "sha": "zz", "status": "success", "created_at": "2025-03-04T10:00:00"}).encode()
    incident = json.dumps({"type": "incident", "id": 42, "repo": "acme/api", "status": "resolved",
                           "opened_at": "2025-03-04T10:00:00Z", "resolved_at": "2025-03-04T11:00:00+01:00"}
                          ).encode()
    with client_for(settings) as client:
        assert client.post(d.path, content=d.body, headers=signed).json()["status"] == "stored"
        refused = client.post(d.path, content=bad, headers=sign("generic", {}, bad))
        stored = client.post(d.path, content=incident, headers=sign("generic", {"X-Delivery-Id": "inc-42"},
                                                                     incident))
    reason = refused.json()["reason"]
    assert refused.status_code == 400
    for field in ("repo: expected 'owner/name'", "sha: expected a commit sha", "created_at: expected an ISO",
                  "finished_at: required when status is"):
        assert field in reason
    assert stored.json() == {"status": "stored", "delivery_id": "inc-42"}
    assert [line["event_type"] for line in landed(settings, "generic")] == ["deployment", "incident"]


def test_generic_auth_option_restricts_the_scheme(settings):
    d = build("generic", 10)
    hmac_only = sign("generic", {}, d.body)  # bearer
    with client_for(settings, generic_auth="hmac") as client:
        response = client.post(d.path, content=d.body, headers=hmac_only)
    assert response.status_code == 401 and "X-Signature-256" in response.json()["reason"]


def test_gitlab_delivery_id_falls_back_to_idempotency_key_then_body_hash(settings):
    d = build("gitlab", 11)
    base = {k: v for k, v in d.headers.items() if k != "X-Gitlab-Event-UUID"}
    with client_for(settings) as client:
        keyed = client.post(d.path, content=d.body, headers={**base, "Idempotency-Key": "idem-1"})
        hashed = client.post(d.path, content=d.body, headers=base)
        again = client.post(d.path, content=d.body, headers=base)
    assert keyed.json()["delivery_id"] == "idem-1"
    assert hashed.json()["delivery_id"] == "sha256:" + hashlib.sha256(d.body).hexdigest()
    assert again.json()["status"] == "duplicate"


def test_form_encoded_github_payload_is_refused_with_415(settings):
    d = build("github", 12)
    headers = {**d.headers, "Content-Type": "application/x-www-form-urlencoded"}
    with client_for(settings) as client:
        response = client.post(d.path, content=d.body, headers=headers)
    assert response.status_code == 415 and "application/json" in response.json()["reason"]


def test_no_2xx_before_fsync_returns(settings):
    release = threading.Event()
    entered = threading.Event()

    def slow_fsync(fd: int) -> None:
        entered.set()
        assert release.wait(10)
        os.fsync(fd)

    d = build("github", 13)
    answers: list = []
    with client_for(settings, fsync=slow_fsync) as client:
        sender = threading.Thread(target=lambda: answers.append(post(client, d)))
        sender.start()
        assert entered.wait(10)
        time.sleep(0.3)
        assert answers == []  # fsync has not returned: the sender has no answer yet
        release.set()
        sender.join(10)
    assert answers[0].status_code == 200 and answers[0].json()["status"] == "stored"


def test_failed_store_answers_503_leaves_no_partial_line_and_a_retry_stores(settings):
    fail = {"on": True}

    def flaky_fsync(fd: int) -> None:
        if fail["on"]:
            raise OSError(28, "No space left on device")
        os.fsync(fd)

    first, second = build("github", 14), build("github", 15)
    with client_for(settings, fsync=flaky_fsync) as client:
        fail["on"] = False
        assert post(client, first).json()["status"] == "stored"
        fail["on"] = True
        refused = post(client, second)
        fail["on"] = False
        retried = post(client, second)
    assert refused.status_code == 503 and refused.json()["status"] == "error"
    assert retried.status_code == 200 and retried.json()["status"] == "stored"  # not "duplicate"
    assert [line["delivery_id"] for line in landed(settings, "github")] == ["gh-14", "gh-15"]
    index = sqlite3.connect(settings.landing_dir / "gh" / "_index.sqlite")
    assert sorted(r[0] for r in index.execute("SELECT delivery_id FROM deliveries")) == ["gh-14", "gh-15"]


def test_missing_secret_refuses_to_start_unless_unsigned_is_allowed(settings):
    sources = webhook_sources(settings)
    with pytest.raises(ReceiverConfigError, match="set the environment variable GL_TOKEN"):
        create_app(sources, settings=settings, environ={k: v for k, v in SECRETS.items() if k != "GL_TOKEN"})
    open_source = sources_from_mapping(
        {"sources": [{"name": "local", "type": "landing_jsonl", "provider": "github",
                      "options": {"allow_unsigned": True}}]}, settings=settings)
    d = unsign(build("github", 16))
    with TestClient(create_app(open_source, settings=settings, environ={})) as client:
        response = client.post("/webhooks/github/local", content=d.body, headers=d.headers)
    assert response.json()["status"] == "stored"
    [day_file] = (settings.landing_dir / "local").glob("*.jsonl")
    [line] = [json.loads(x) for x in day_file.read_text().splitlines()]
    assert line["signature_status"] == "unchecked"


def test_what_the_receiver_writes_is_what_bronze_reads(settings):
    sources = webhook_sources(settings)
    with client_for(settings) as client:
        for provider in PROVIDERS:
            post(client, build(provider, 17))
    github = next(s for s in sources if s.provider == "github")
    rows, rejected = read_landing_jsonl(github, start=datetime(2000, 1, 1), end=datetime(2100, 1, 1),
                                        secret=None, load_batch_id="run-1")
    assert rejected.empty
    assert rows["delivery_id"].tolist() == ["gh-17"]
    # deployment anchor = deployment.created_at (contracts §3), not the received day
    assert str(rows["event_day"].iloc[0].date()) == "2025-03-04"
    assert rows["signature_status"].tolist() == ["verified"]
