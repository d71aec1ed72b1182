"""GitHub API pull end to end against a local fake GitHub: landing, cursors, Bronze, Silver."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.changes import build_silver_changes
from devmetrics_assets.providers.github.deployments import build_silver_deployments
from devmetrics_assets.providers.github.incidents import build_silver_incidents
from devmetrics_assets.sources.pull.cursors import PullState
from devmetrics_assets.sources.pull.reader import (
    PullError,
    api_options,
    build_client,
    pull_source,
    read_api_source,
)
from devmetrics_assets.sources.readers import READERS, read_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.quarantine import quarantine_rows
from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime, malformed, reset, status
from devmetrics_assets_tests.sources.pull.github_fake import C1, F1, H1, M1, R2, REPO, S1, D, FakeGitHub

DAY = timedelta(days=1)
NAIVE_D = pd.Timestamp("2025-03-10")


def make_spec(tmp_path, api: FakeApi, name: str = "gh", **options) -> SourceSpec:
    return SourceSpec(
        name=name,
        type="github_api",
        provider="github",
        landing_dir=tmp_path / "landing" / name,
        secret_env=None,
        description="GitHub REST pull",
        options=FakeGitHub.options(api, **options),
    )


@pytest.fixture
def github(api: FakeApi, monkeypatch) -> FakeGitHub:
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    return FakeGitHub(api)


def client_for(spec: SourceSpec, fake_time: FakeTime):
    return build_client(spec, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(3))


def pull(spec: SourceSpec, fake_time: FakeTime, batch: str, *, now, start=None):
    """One Bronze day's pull through the reader: the window [start, start + 1 day), day D by default."""
    start = D if start is None else start
    return read_api_source(spec, start=start, end=start + DAY, secret=None, load_batch_id=batch,
                           client=client_for(spec, fake_time), now=now)


def landed_ids(spec: SourceSpec) -> list[str]:
    ids = []
    for path in sorted(spec.landing_dir.glob("????-??-??.jsonl")):
        ids += [json.loads(line)["delivery_id"] for line in path.read_text().splitlines() if line.strip()]
    return ids


def test_backfill_lands_webhook_shaped_deliveries_that_silver_reads(tmp_path, api, github, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    rows, rejects = pull(spec, fake_time, "run-1", now=D + 3 * DAY, start=NAIVE_D)

    counts = rows["event_type"].value_counts().to_dict()
    assert counts == {
        "deployment": 3,
        "deployment_status": 4,
        "pull_request": 4,
        "push": 7,
        "issues": 9,
        "issue_comment": 1,
    }
    ids = set(rows["delivery_id"])
    assert "api:github:deployment_status:9002:2025-03-10T10:40:00Z" in ids
    assert "api:github:pull_request:1011:2025-03-10T10:00:00Z" in ids
    assert f"api:github:push:{R2}:2025-03-10T12:00:00Z" in ids
    assert "api:github:issue_event:8003:reopened" in ids and len(ids) == len(rows)
    assert (rows["received_day"] == NAIVE_D).all() and (rows["signature_status"] == "unchecked").all()
    status_row = rows[rows["delivery_id"].str.startswith("api:github:deployment_status:9002")].iloc[0]
    body = json.loads(status_row["body"])
    assert body["action"] == "created" and body["deployment_status"]["state"] == "success"
    assert body["deployment"]["id"] == 501 and body["repository"]["full_name"] == REPO
    assert status_row["event_at"] == pd.Timestamp("2025-03-10T10:30:00Z")  # deployment.created_at anchor
    headers = json.loads(status_row["headers"])
    assert (
        headers["X-GitHub-Event"] == "deployment_status"
        and headers["X-GitHub-Delivery"] == status_row["delivery_id"]
    )
    assert "Authorization" not in status_row["headers"] and "test-token" not in status_row["headers"]
    # The deployment beyond the lookback stops the listing: its statuses are never read.
    assert not api.requests_to("/repos/acme/api/deployments/400/statuses")
    assert all(r.headers["authorization"] == "Bearer test-token" for r, _ in api.log)
    assert list(rejects["reason"]) == ["deployment without id/created_at/sha/environment"]
    assert '"id": 777' in rejects["record"].iloc[0]

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    assert warehouse.append_bronze(rows) == len(rows)

    rules = DoraRules()
    mainline = rows[rows["event_type"].isin(["push", "pull_request"])]
    deployments, dq = build_silver_deployments(
        rows[rows["event_type"].str.startswith("deployment")], mainline, rules, NAIVE_D, NAIVE_D + DAY
    )
    assert dq.empty
    by_id = deployments.set_index("deployment_id")
    assert by_id.loc["acme/api:501", "final_status"] == "success"
    assert by_id.loc["acme/api:502", "final_status"] == "failure"
    assert set(by_id.loc["acme/api:501", "change_ids"].split(",")) == {f"acme/api@{C1}", "acme/api#11"}
    assert set(by_id.loc["acme/api:503", "change_ids"].split(",")) == {"acme/api#12", "acme/api#13"}

    changes, cq = build_silver_changes(mainline, rules, NAIVE_D, NAIVE_D + DAY)
    assert cq.empty
    methods = changes.set_index("change_id")["merge_method"].to_dict()
    assert methods == {
        f"acme/api@{C1}": "direct",
        "acme/api#11": "merge",
        "acme/api#12": "squash",
        "acme/api#13": "rebase",
    }
    firsts = changes.set_index("change_id")["first_commit_at"]
    assert firsts["acme/api#11"] == pd.Timestamp(
        json.loads(rows[rows["delivery_id"].str.contains("pull_commits:1011")]["body"].iloc[0])["commits"][0][
            "timestamp"
        ]
    )
    assert firsts["acme/api#13"] == pd.Timestamp("2025-03-10T05:00:00Z")  # from the PR's own commits (H1)
    assert H1 and F1  # (shas of those first commits)

    issues = rows[rows["event_type"].isin(["issues", "issue_comment"])]
    incidents, iq = build_silver_incidents(issues, mainline, rules, NAIVE_D, NAIVE_D + DAY)
    assert iq.empty
    (incident,) = incidents.to_dict("records")
    assert incident["incident_id"] == "acme/api#20" and incident["reopened_count"] == 1
    assert incident["resolved_at"] == pd.Timestamp("2025-03-10T14:00:00Z") and not incident["is_open"]
    assert incident["root_cause_sha"] == M1


def test_pull_twice_with_overlap_gives_the_same_ids_and_bronze_inserts_nothing(
    tmp_path, api, github, fake_time
) -> None:
    spec = make_spec(tmp_path, api, overlap_minutes=30)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    now = D + timedelta(hours=12, minutes=45)
    first = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=now)
    rows1, _ = pull(spec, fake_time, "r1", now=now)
    cursors = PullState(spec.landing_dir / "_pull_state.sqlite3").cursors("gh")
    assert cursors[f"deployments@{REPO}"] == D + timedelta(hours=12, minutes=40)  # newest status seen
    assert warehouse.append_bronze(rows1) == len(rows1)
    files_before = landed_ids(spec)

    second = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=now)
    deps1, deps2 = first.units[f"deployments@{REPO}"], second.units[f"deployments@{REPO}"]
    assert deps2["lower"] == D + timedelta(hours=12, minutes=10)  # cursor minus the 30 min overlap
    assert set(deps2["delivery_ids"]) == {
        "api:github:deployment:503:2025-03-10T12:30:00Z",
        "api:github:deployment_status:9004:2025-03-10T12:40:00Z",
    }
    assert set(deps2["delivery_ids"]) <= set(deps1["delivery_ids"]) and deps2["landed"] == 0
    assert landed_ids(spec) == files_before  # the overlap adds no line
    rows2, _ = pull(spec, fake_time, "r2", now=now)
    assert warehouse.append_bronze(rows2) == 0

    later = D + timedelta(hours=15)  # later pull: only what changed since, nothing twice
    rows3, _ = pull(spec, fake_time, "r3", now=later)
    new = set(rows3["delivery_id"]) - set(rows1["delivery_id"])
    assert "api:github:issue_comment:7001:2025-03-10T13:00:00Z" in new
    assert "api:github:issue_event:8004:closed" in new
    assert warehouse.append_bronze(rows3) == len(new)
    assert len(landed_ids(spec)) == len(set(landed_ids(spec)))
    total = warehouse.query("SELECT count(*) AS n, count(DISTINCT delivery_id) AS d FROM bronze_deliveries")
    assert total["n"].iloc[0] == total["d"].iloc[0] == len(rows3)


def test_failed_unit_keeps_its_cursor_and_lands_nothing(tmp_path, api, github, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    path = "/repos/acme/api/deployments/501/statuses"
    api.fault(path, status(503), status(502), status(503))  # max_attempts=3: this unit fails for good
    now = D + timedelta(hours=16)
    client = client_for(spec, fake_time)

    with pytest.raises(PullError) as info:
        pull_source(spec, start=D, end=D + DAY, client=client, now=now)

    message = str(info.value)
    assert f"deployments@{REPO}" in message and path in message and "after 3 attempt(s)" in message
    state = PullState(spec.landing_dir / "_pull_state.sqlite3")
    assert state.watermark("gh", f"deployments@{REPO}") is None
    assert state.watermark("gh", f"pulls@{REPO}") == D + timedelta(hours=13)  # other units landed
    assert not [i for i in landed_ids(spec) if ":deployment" in i]
    assert len(client.sleeps) == 2 and all(0 <= s <= 0.05 for s in client.sleeps)

    report = pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=now)
    assert report.units[f"deployments@{REPO}"]["landed"] == 7
    assert state.watermark("gh", f"deployments@{REPO}") == D + timedelta(hours=12, minutes=40)
    assert report.units[f"pulls@{REPO}"]["landed"] == 0  # re-read in the overlap, not re-landed
    assert len(landed_ids(spec)) == len(set(landed_ids(spec)))


def test_transient_faults_lose_and_duplicate_nothing(tmp_path, api, github, fake_time) -> None:
    clean = make_spec(tmp_path / "clean", api)
    rows_clean, _ = pull(clean, fake_time, "a", now=D + 2 * DAY)
    faulty = make_spec(tmp_path / "faulty", api, name="gh")
    api.fault("/repos/acme/api/pulls", status(500), status(502))
    api.fault("/repos/acme/api/issues", status(429, {"Retry-After": "2"}))
    api.fault("/repos/acme/api/commits", reset())
    api.fault("/repos/acme/api/issues/events", malformed())
    client = client_for(faulty, fake_time)
    rows_faulty, _ = read_api_source(
        faulty, start=D, end=D + DAY, secret=None, load_batch_id="b", client=client, now=D + 2 * DAY
    )

    assert 2.0 in client.sleeps and len(client.sleeps) == 5
    left = rows_clean.set_index("delivery_id")["body"].sort_index()
    right = rows_faulty.set_index("delivery_id")["body"].sort_index()
    pd.testing.assert_series_equal(left, right)
    assert rows_faulty["delivery_id"].is_unique


def test_backfill_twice_is_idempotent_and_does_not_touch_cursors(tmp_path, api, github, fake_time) -> None:
    spec = make_spec(tmp_path, api)
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    rows1, rejects1 = pull(spec, fake_time, "a", now=D + 5 * DAY)
    lines = landed_ids(spec)
    rows2, rejects2 = pull(spec, fake_time, "b", now=D + 5 * DAY)
    assert warehouse.append_bronze(rows1) == len(rows1) and warehouse.append_bronze(rows2) == 0
    assert sorted(rows1["delivery_id"]) == sorted(rows2["delivery_id"]) and landed_ids(spec) == lines
    assert PullState(spec.landing_dir / "_pull_state.sqlite3").cursors("gh") == {}
    assert len(rejects2) == len(rejects1) == 1  # the bad record is reported, not duplicated
    assert 304 in [s for _, s in api.requests_to("/repos/acme/api/deployments")]  # ETag revalidation
    quarantine = quarantine_rows("bronze", spec.asset_name, rejects2)
    warehouse.upsert_quarantine(quarantine)
    warehouse.upsert_quarantine(quarantine_rows("bronze", spec.asset_name, rejects1))
    stored = warehouse.query("SELECT reason FROM quarantine")
    assert list(stored["reason"]) == ["deployment without id/created_at/sha/environment"]


def test_a_later_day_catches_up_the_tail_of_the_previous_one(tmp_path, api, github, fake_time) -> None:
    spec = make_spec(tmp_path, api, resources=["issue_comments"])
    pull_source(spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=12))
    # The comment (13:00) was written after the last pull of day D: the first pull of D+1 catches it up
    # and lands it as a late arrival of D+1 (Silver still files it under its own event day).
    rows, _ = pull(spec, fake_time, "x", now=D + DAY + timedelta(hours=1), start=D + DAY)
    (row,) = rows.to_dict("records")
    assert row["delivery_id"] == "api:github:issue_comment:7001:2025-03-10T13:00:00Z"
    assert row["received_at"] == pd.Timestamp("2025-03-11T00:00:00Z")
    assert row["event_day"] == NAIVE_D  # anchored on the issue's creation day


def test_options_and_token_fail_clearly(tmp_path, api, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    spec = make_spec(tmp_path, api)
    with pytest.raises(ValueError, match="GITHUB_TOKEN is not set"):
        read_api_source(spec, start=D, end=D + DAY, secret=None, load_batch_id="x", now=D + DAY)
    for options, match in [
        ({"repos": []}, r"'repos' \(a list\) or 'org' is required"),
        ({"repos": [REPO], "resources": ["wiki"]}, r"unknown resource\(s\) \['wiki'\]"),
        ({"repos": [REPO], "pages": 3}, r"unknown option\(s\) \['pages'\]"),
        ({"repos": [REPO], "retry": {"max_attempts": 0}}, "at least 1"),
        ({"repos": [REPO], "overlap_minutes": -1}, "overlap_minutes must be a number"),
    ]:
        bad = SourceSpec(
            name="gh",
            type="github_api",
            provider="github",
            landing_dir=tmp_path,
            secret_env=None,
            description="",
            options=options,
        )
        with pytest.raises(ValueError, match=match):
            api_options(bad)


def test_reader_types_are_registered_and_dispatch(tmp_path, api, github) -> None:
    assert READERS["github_api"] is read_api_source
    assert {"github_api", "gitlab_api", "pagerduty_api"} <= set(READERS)
    spec = make_spec(tmp_path, api, resources=["deployments"])
    rows, rejects = read_source(spec, start=NAIVE_D, end=NAIVE_D + DAY, secret="ignored", load_batch_id="x")
    assert set(rows["event_type"]) == {"deployment", "deployment_status"} and len(rejects) == 1
    assert {S1, R2} <= {json.loads(b)["deployment"]["sha"] for b in rows["body"]}


def test_cursor_moves_only_after_the_landing_write(tmp_path, api, github, fake_time, monkeypatch) -> None:
    from devmetrics_assets.sources.pull import reader

    spec = make_spec(tmp_path, api, resources=["pulls"])

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reader, "land", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pull_source(
            spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=16)
        )
    assert PullState(spec.landing_dir / "_pull_state.sqlite3").cursors("gh") == {}
    monkeypatch.undo()
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    report = pull_source(
        spec, start=D, end=D + DAY, client=client_for(spec, fake_time), now=D + timedelta(hours=16)
    )
    assert report.units[f"pulls@{REPO}"]["landed"] == 7  # 4 PRs + 3 head-branch pushes, nothing lost
    assert PullState(spec.landing_dir / "_pull_state.sqlite3").cursors("gh") == {
        f"pulls@{REPO}": D + timedelta(hours=13)
    }


def test_scope_and_token_env_come_from_the_source_entry(
    tmp_path, api, github, fake_time, monkeypatch
) -> None:
    """sources.yaml puts what to pull in `scope` (org or repos) and the token variable in `token_env`."""
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("ACME_GH_TOKEN", "org-token")
    api.link_pages(
        "/orgs/acme/repos",
        lambda req: [{"full_name": REPO, "archived": False}, {"full_name": "acme/old", "archived": True}],
        page_size=1,
    )
    options = {k: v for k, v in FakeGitHub.options(api).items() if k != "repos"}
    spec = SourceSpec(
        name="gh",
        type="github_api",
        provider="github",
        landing_dir=tmp_path / "landing" / "gh",
        secret_env=None,
        description="",
        options={**options, "resources": ["pulls"], "max_body_bytes": 1000},
        scope={"org": "acme"},
        token_env="ACME_GH_TOKEN",
    )
    assert api_options(spec).token_env == "ACME_GH_TOKEN" and api_options(spec).group == "acme"
    report = pull_source(spec, start=D, end=D + DAY, client=build_client(spec), now=D + 2 * DAY)
    assert list(report.units) == [f"pulls@{REPO}"] and report.units[f"pulls@{REPO}"]["landed"] == 7
    assert all(r.headers["authorization"] == "Bearer org-token" for r, _ in api.log)
    listed = SourceSpec(
        name="gh",
        type="github_api",
        provider="github",
        landing_dir=tmp_path,
        secret_env=None,
        description="",
        options={"repos": ["acme/web"]},
        scope={"repos": [REPO, "acme/web"]},
    )
    assert api_options(listed).scopes == ("acme/web", REPO)
