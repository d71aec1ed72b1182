"""GitLab API pull against a local fake GitLab (payloads shaped after the GitLab REST v4 docs)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.reader import PullError, build_client, read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime, Request, json_reply, status

D = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
PROJECT = "acme/shop"
SHA = "279484c09fbe69ededfced8c1bb6e6d24616b468"
USER = {
    "id": 1,
    "username": "root",
    "name": "Administrator",
    "state": "active",
    "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
    "web_url": "https://gitlab.example.com/root",
}


def at(hours: float) -> str:
    return (D + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


PROJECT_JSON = {
    "id": 30,
    "description": "",
    "name": "shop",
    "name_with_namespace": "Acme / shop",
    "path": "shop",
    "path_with_namespace": PROJECT,
    "created_at": "2020-01-01T00:00:00.000Z",
    "default_branch": "main",
    "ssh_url_to_repo": "git@gitlab.example.com:acme/shop.git",
    "http_url_to_repo": "https://gitlab.example.com/acme/shop.git",
    "web_url": "https://gitlab.example.com/acme/shop",
    "avatar_url": None,
    "namespace": {"id": 7, "name": "Acme", "path": "acme", "kind": "group", "full_path": "acme"},
    "visibility": "private",
}


def deployment(
    dep_id: int, status_: str, created: str, updated: str, env: str = "production", sha: str = SHA
) -> dict:
    return {
        "id": dep_id,
        "iid": dep_id - 40,
        "ref": "main",
        "sha": sha,
        "created_at": created,
        "updated_at": updated,
        "status": status_,
        "user": USER,
        "environment": {
            "id": 9,
            "name": env,
            "slug": env,
            "external_url": f"https://{env}.example.com",
            "tier": env,
            "state": "available",
        },
        "deployable": {
            "id": 796,
            "status": status_,
            "stage": "deploy",
            "name": "deploy",
            "ref": "main",
            "tag": False,
            "created_at": created,
            "started_at": created,
            "finished_at": updated,
            "web_url": "https://gitlab.example.com/acme/shop/-/jobs/796",
            "commit": {"id": sha, "short_id": sha[:8], "title": "Add new file", "created_at": created},
        },
    }


DEPLOYMENTS = [
    deployment(55, "success", at(9), at(9.2)),
    deployment(56, "failed", at(10), at(10.1), env="staging"),
    {"id": 57, "status": "success", "updated_at": at(11)},  # no sha / created_at: a reject
]
MERGE_REQUESTS = [
    {
        "id": 99,
        "iid": 1,
        "project_id": 30,
        "title": "MS-Viewport",
        "description": "Closes #4",
        "state": "merged",
        "created_at": at(6),
        "updated_at": at(8.5),
        "merged_at": at(8.5),
        "closed_at": None,
        "merged_by": USER,
        "author": USER,
        "target_branch": "main",
        "source_branch": "ms-viewport",
        "source_project_id": 30,
        "target_project_id": 30,
        "labels": ["frontend"],
        "draft": False,
        "merge_status": "can_be_merged",
        "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "merge_commit_sha": SHA,
        "squash_commit_sha": None,
        "squash": False,
        "web_url": "https://gitlab.example.com/acme/shop/-/merge_requests/1",
    }
]
ISSUES = [
    {
        "id": 301,
        "iid": 4,
        "project_id": 30,
        "title": "Checkout down",
        "description": f"root cause: {SHA[:8]}",
        "state": "closed",
        "created_at": at(9.5),
        "updated_at": at(12),
        "closed_at": at(12),
        "closed_by": USER,
        "labels": ["incident"],
        "author": USER,
        "issue_type": "incident",
        "type": "INCIDENT",
        "severity": "HIGH",
        "confidential": False,
        "web_url": "https://gitlab.example.com/acme/shop/-/issues/4",
    }
]


def _updated_between(request: Request, items: list[dict]) -> list[dict]:
    after, before = request.arg("updated_after"), request.arg("updated_before")
    keep = [
        i
        for i in items
        if "updated_at" in i
        and (after is None or i["updated_at"] >= after)
        and (before is None or i["updated_at"] <= before)
    ]
    return sorted(keep, key=lambda i: i["updated_at"])


@pytest.fixture
def gitlab(api: FakeApi, monkeypatch) -> FakeApi:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-test")
    base = "/api/v4/projects/acme%2Fshop"
    api.route(base, lambda req: json_reply(PROJECT_JSON, etag=True, request=req))
    api.link_pages(f"{base}/deployments", lambda req: _updated_between(req, DEPLOYMENTS), page_size=1)
    api.link_pages(f"{base}/merge_requests", lambda req: _updated_between(req, MERGE_REQUESTS), page_size=1)
    api.link_pages(f"{base}/issues", lambda req: _updated_between(req, ISSUES), page_size=1)
    return api


def make_spec(tmp_path, api: FakeApi) -> SourceSpec:
    options = {
        "base_url": api.base_url + "/api/v4",
        "projects": [PROJECT],
        "retry": {"max_attempts": 2, "base_delay": 0.01, "max_delay": 0.02},
    }
    return SourceSpec(
        name="gl",
        type="gitlab_api",
        provider="gitlab",
        landing_dir=tmp_path / "landing" / "gl",
        secret_env=None,
        description="GitLab REST pull",
        options=options,
    )


def test_gitlab_pull_lands_hook_shaped_bodies(tmp_path, api, gitlab, fake_time: FakeTime) -> None:
    spec = make_spec(tmp_path, api)
    client = build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    rows, rejects = read_api_source(
        spec, start=D, end=D + DAY, secret=None, load_batch_id="b", client=client, now=D + 2 * DAY
    )

    assert rows["event_type"].value_counts().to_dict() == {
        "Deployment Hook": 4,
        "Merge Request Hook": 1,
        "Issue Hook": 3,
    }
    assert set(rows["provider"]) == {"gitlab"}
    by_id = rows.set_index("delivery_id")
    success = json.loads(by_id.loc["api:gitlab:deployment:55:success", "body"])
    assert (
        success["object_kind"] == "deployment" and success["status_changed_at"] == "2025-03-10 09:12:00 +0000"
    )
    assert success["commit_url"].endswith(f"/-/commit/{SHA}") and success["short_sha"] == SHA[:8]
    assert success["deployment_id"] == 55 and success["project"]["path_with_namespace"] == PROJECT
    assert json.loads(by_id.loc["api:gitlab:deployment:55:created", "body"])["status"] == "created"
    mr = json.loads(by_id.loc["api:gitlab:merge_request:99:2025-03-10T08:30:00Z", "body"])
    assert mr["object_attributes"]["action"] == "merge" and mr["object_attributes"]["merge_commit_sha"] == SHA
    assert mr["labels"] == [{"title": "frontend"}]
    close = json.loads(by_id.loc["api:gitlab:issue:301:closed:2025-03-10T12:00:00Z", "body"])
    assert (
        close["object_attributes"]["action"] == "close" and close["object_attributes"]["type"] == "Incident"
    )
    headers = json.loads(by_id.loc["api:gitlab:issue:301:opened", "headers"])
    assert (
        headers["X-Gitlab-Event"] == "Issue Hook"
        and headers["X-Gitlab-Event-UUID"] == "api:gitlab:issue:301:opened"
    )
    # Anchors come from the GitLab parser's rules (contracts §6): the issue's creation day.
    assert (by_id.loc[by_id["event_type"] == "Issue Hook", "event_day"] == pd.Timestamp("2025-03-10")).all()
    assert list(rejects["reason"]) == ["deployment without id/status/sha/created_at/updated_at"]
    requests = api.requests_to("/api/v4/projects/acme%2Fshop/deployments")
    assert requests[0][0].arg("updated_after") == "2025-03-10T00:00:00Z"
    assert requests[0][0].arg("updated_before") == "2025-03-11T00:00:00Z"
    assert all(r.headers.get("private-token") == "glpat-test" for r, _ in api.log)
    assert Warehouse(tmp_path / "w.duckdb").append_bronze(rows) == len(rows)


def test_gitlab_failure_keeps_cursor(tmp_path, api, gitlab, fake_time: FakeTime) -> None:
    spec = make_spec(tmp_path, api)
    api.fault("/api/v4/projects/acme%2Fshop/merge_requests", status(500), status(500))
    client = build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(1))
    with pytest.raises(PullError, match=r"merge_requests@acme/shop .*after 2 attempt\(s\): HTTP 500"):
        read_api_source(
            spec,
            start=D,
            end=D + DAY,
            secret=None,
            load_batch_id="b",
            client=client,
            now=D + timedelta(hours=13),
        )
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("gl", f"merge_requests@{PROJECT}") is None
    assert state.watermark("gl", f"deployments@{PROJECT}") == D + timedelta(hours=10, minutes=6)
