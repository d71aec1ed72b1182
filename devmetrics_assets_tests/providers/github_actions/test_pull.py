"""The Actions REST pull against a real local HTTP server (fake_api.py): Link pagination, the `created`
filter with its lookback, re-run attempts, cursors with overlap, retries and a failing unit.
Response shape: https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository
(`{"total_count": n, "workflow_runs": [...]}`, newest first) and
https://docs.github.com/en/rest/actions/workflow-runs#get-a-workflow-run-attempt."""

from __future__ import annotations

import json
import random
import urllib.parse
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules
from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.reader import PullError, build_client, pull_source, read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets_tests.providers.github_actions.story import (
    CI_WORKFLOW,
    DEPLOY_WORKFLOW,
    REPO,
    repository,
    t,
    workflow_run,
)
from devmetrics_assets_tests.sources.pull.fake_api import (
    FakeApi,
    FakeTime,
    Reply,
    Request,
    json_reply,
    status,
)

D = datetime(2025, 3, 3, tzinfo=UTC)
DAY = timedelta(days=1)
OTHER = "acme/other"


def run(run_id: int, *, created: str, updated: str, state: str = "completed",
        conclusion: str | None = "success", attempt: int = 1, started: str | None = None,
        workflow: dict = DEPLOY_WORKFLOW, **change: object) -> dict:
    out = workflow_run(run_id, workflow, "a1", "main", attempt=attempt, created=t(created),
                       started=t(started or created), updated=t(updated), status=state, conclusion=conclusion)
    return out | change


class Actions:
    """The runs GitHub holds now (tests change them between pulls), served as the API lists them."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.runs = {REPO: [
            run(11, created="3 08:30", updated="3 08:40"),
            run(12, created="3 10:30", updated="3 11:00", attempt=2, started="3 10:50"),
            run(13, created="3 09:05", updated="3 09:06", state="in_progress", conclusion=None,
                workflow=CI_WORKFLOW),
            run(14, created="3 09:30", updated="3 09:40", head_sha=None),
            # created days before the window, re-run and completed in it: found thanks to the lookback
            run(15, created="1 09:00", updated="3 12:00", attempt=2, started="3 11:50"),
        ], OTHER: []}
        self.attempts = {(REPO, 12, 1): run(12, created="3 10:30", updated="3 10:40", conclusion="failure"),
                         (REPO, 15, 1): run(15, created="1 09:00", updated="1 09:10")}
        for repo in (REPO, OTHER):
            api.route(f"/repos/{repo}", lambda r, repo=repo: json_reply(
                {**repository(), "full_name": repo}, etag=True, request=r))
            api.route(f"/repos/{repo}/actions/runs", lambda r, repo=repo: self.listing(r, repo))
        for (repo, run_id, n), body in self.attempts.items():
            api.route(f"/repos/{repo}/actions/runs/{run_id}/attempts/{n}", lambda r, b=body: json_reply(b))

    def listing(self, request: Request, repo: str) -> Reply:
        since = (request.arg("created") or ">=").removeprefix(">=")
        items = sorted((r for r in self.runs[repo] if r["created_at"] >= since),
                       key=lambda r: r["created_at"], reverse=True)
        size, page = int(request.arg("per_page", "30")), int(request.arg("page", "1"))
        headers = {}
        if page * size < len(items):
            query = {**request.query, "page": [str(page + 1)]}
            nxt = f"{self.api.base_url}{request.path}?{urllib.parse.urlencode(query, doseq=True)}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        chunk = items[(page - 1) * size: page * size]
        return json_reply({"total_count": len(items), "workflow_runs": chunk}, headers=headers)


@pytest.fixture
def actions(api: FakeApi, monkeypatch) -> Actions:
    monkeypatch.setenv("GITHUB_TOKEN", "gha-token")
    return Actions(api)


def make_spec(tmp_path, api: FakeApi, repos=(REPO,), **extra) -> SourceSpec:
    options = {"base_url": api.base_url, "repos": list(repos), "page_size": 2,
               "retry": {"max_attempts": 3, "base_delay": 0.01, "max_delay": 0.05, "max_total_delay": 5,
                         "timeout": 2}, **extra}
    return SourceSpec(name="gha", type="github_actions_api", provider="github_actions",
                      landing_dir=tmp_path / "landing" / "gha", secret_env=None,
                      description="GitHub Actions REST pull", options=options)


def client_for(spec: SourceSpec, fake_time: FakeTime):
    return build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(5))


def test_completed_runs_land_as_workflow_run_webhooks_that_silver_reads(tmp_path, api, actions, fake_time):
    spec = make_spec(tmp_path, api)
    rows, rejects = read_api_source(spec, start=D, end=D + DAY, secret=None, load_batch_id="b",
                                    client=client_for(spec, fake_time), now=D + 2 * DAY)
    assert set(rows["delivery_id"]) == {
        "api:github_actions:workflow_run:11:1:completed:2025-03-03T08:40:00Z",
        "api:github_actions:workflow_run:12:2:completed:2025-03-03T11:00:00Z",
        "api:github_actions:workflow_run:12:1:completed:2025-03-03T10:40:00Z",  # the re-run's first attempt
        "api:github_actions:workflow_run:15:2:completed:2025-03-03T12:00:00Z",
        # run 13 is still in progress; run 15's first attempt (03-01) is outside the pulled range
    }
    assert list(rejects["reason"]) == ["workflow run without id/head_sha/created_at/updated_at"]
    body = json.loads(rows.set_index("delivery_id").loc[
        "api:github_actions:workflow_run:11:1:completed:2025-03-03T08:40:00Z", "body"])
    assert body["action"] == "completed" and body["workflow"]["path"] == DEPLOY_WORKFLOW["path"]
    assert body["repository"]["default_branch"] == "main" and body["workflow_run"]["id"] == 11
    first, _ = api.requests_to(f"/repos/{REPO}/actions/runs")[0]
    assert first.arg("created") == ">=2025-02-17T00:00:00Z" and first.arg("per_page") == "2"
    assert first.arg("exclude_pull_requests") == "true"
    assert [r.arg("page") for r, _ in api.requests_to(f"/repos/{REPO}/actions/runs")] == [None, "2", "3"]
    assert all(r.headers["authorization"] == "Bearer gha-token" and r.headers["x-github-api-version"]
               for r, _ in api.log)
    # Silver: run 12 failed then succeeded on re-run (success); run 15 starts at its creation (03-01).
    rules = DoraRules(provider_rules={"github_actions": {"workflows": ["Deploy"]}})
    deps, _ = silver_entities.build_deployments(rows, rows.iloc[:0], rules, pd.Timestamp("2025-03-01"),
                                                pd.Timestamp("2025-03-04"))
    got = deps.set_index("deployment_id")
    assert got.loc[f"{REPO}:12", "final_status"] == "success"
    assert got.loc[f"{REPO}:12", "created_at"] == pd.Timestamp(t("3 10:30"))
    assert got.loc[f"{REPO}:15", "created_at"] == pd.Timestamp(t("1 09:00"))


def test_a_second_pull_fetches_only_what_changed(tmp_path, api, actions, fake_time):
    spec = make_spec(tmp_path, api, overlap_minutes=30)
    first = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time),
                        now=D + timedelta(hours=12, minutes=30))
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("gha", f"workflow_runs@{REPO}") == D + timedelta(hours=12)  # newest updated_at
    assert first.units[f"workflow_runs@{REPO}"]["landed"] == 4
    # The CI run completes at 13:00; nothing else changes.
    actions.runs[REPO][2] = run(13, created="3 09:05", updated="3 13:00", conclusion="success",
                                workflow=CI_WORKFLOW)
    second = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time),
                         now=D + timedelta(hours=14))
    unit = second.units[f"workflow_runs@{REPO}"]
    assert unit["lower"] == D + timedelta(hours=11, minutes=30)  # cursor minus the 30 min overlap
    assert set(unit["delivery_ids"]) == {
        "api:github_actions:workflow_run:13:1:completed:2025-03-03T13:00:00Z",
        "api:github_actions:workflow_run:15:2:completed:2025-03-03T12:00:00Z",  # re-read in the overlap
    }
    assert unit["landed"] == 1 and state.watermark("gha", f"workflow_runs@{REPO}") == D + timedelta(hours=13)


def test_an_error_status_is_retried_and_loses_nothing(tmp_path, api, actions, fake_time):
    clean = make_spec(tmp_path / "clean", api)
    rows_clean, _ = read_api_source(clean, start=D, end=D + DAY, secret=None, load_batch_id="a",
                                    client=client_for(clean, fake_time), now=D + 2 * DAY)
    api.fault(f"/repos/{REPO}/actions/runs", status(502), status(500))
    faulty = make_spec(tmp_path / "faulty", api)
    client = client_for(faulty, fake_time)
    rows, _ = read_api_source(faulty, start=D, end=D + DAY, secret=None, load_batch_id="b", client=client,
                              now=D + 2 * DAY)
    assert len(client.sleeps) == 2
    assert sorted(rows["delivery_id"]) == sorted(rows_clean["delivery_id"])


def test_a_failing_unit_keeps_its_cursor_and_the_others_advance(tmp_path, api, actions, fake_time):
    spec = make_spec(tmp_path, api, repos=(REPO, OTHER))
    api.fault(f"/repos/{REPO}/actions/runs", status(503), status(503), status(503))  # 3 attempts: fails
    now = D + timedelta(hours=16)
    with pytest.raises(PullError, match=f"workflow_runs@{REPO}"):
        pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=now)
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("gha", f"workflow_runs@{REPO}") is None
    assert state.watermark("gha", f"workflow_runs@{OTHER}") == D  # read, empty: the range is marked read
    report = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=now)
    assert report.units[f"workflow_runs@{REPO}"]["landed"] == 4
    assert state.watermark("gha", f"workflow_runs@{REPO}") == D + timedelta(hours=12)
