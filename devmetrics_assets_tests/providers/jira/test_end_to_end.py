"""Jira through the real graph: GitHub pushes and deployments ship two commits of acme/shop; a Jira
incident (webhooks: created, a root-cause comment, resolved, reopened, resolved) names the second one as
its root cause by a short sha. Landing files → Bronze → Silver → daily Gold, numbers computed by hand.

Day 2025-01-06 (UTC), repo acme/shop:
- 09:00 push c1 → deployment 101 of c1 to production 10:00, success 10:05;
- 12:00 push c2 → deployment 102 of c2 to production 13:00, success 13:10;
- Jira OPS-1 (issue 10001, component Shop → acme/shop): created 14:00, comment `root cause: <c2[:7]>`
  14:20, done 15:00, back to In Progress 15:30, done 16:30; OPS-2 is a Story (no incident).
Gold for the day: 2 deployments, 1 change failure (deployment 102, the release shipping c2), failure rate
0.5, 1 incident opened, 1 recovery of 16:30 − max(13:10 finish, 14:00 opened) = 2.5 h.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml

from devmetrics_assets.config import DoraRules
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.runner import materialise_days
from devmetrics_assets.sources.landing_files import encode_line, envelope
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.loaders import load_facts, load_gold, load_silver
from devmetrics_assets_tests.conftest import settings_in
from devmetrics_assets_tests.providers.jira.fixtures import comment, issue, status_item, webhook
from devmetrics_assets_tests.transforms.test_payloads import (
    commit,
    deployment_body,
    push_body,
    sha,
    status_body,
)

pytestmark = pytest.mark.slow

DAY = date(2025, 1, 6)
REPO = "acme/shop"


def t(hhmm: str) -> str:
    return f"{DAY.isoformat()}T{hhmm}:00Z"


def write(folder: Path, provider: str, deliveries: list[tuple[str, str, dict]]) -> None:
    """Landing envelopes as the receiver writes them: (event type, delivery id, body), received 5 s late."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{DAY.isoformat()}.jsonl").open("wb") as out:
        for event_type, delivery_id, body in deliveries:
            at = pd.Timestamp(_event_time(body)) + pd.Timedelta(seconds=5)
            out.write(encode_line(envelope(
                received_at=at.to_pydatetime(), delivery_id=delivery_id, provider=provider,
                event_type=event_type, signature_status="verified", headers={},
                body_raw=json.dumps(body))))


def _event_time(body: dict) -> Any:
    if "timestamp" in body:
        return pd.Timestamp(body["timestamp"], unit="ms", tz="UTC")
    if "deployment_status" in body:
        return body["deployment_status"]["created_at"]
    if "deployment" in body:
        return body["deployment"]["created_at"]
    return body["head_commit"]["timestamp"]


def github_deliveries() -> list[tuple[str, str, dict]]:
    c1, c2 = commit("c1", t("08:50")), commit("c2", t("11:50"))
    return [
        ("push", "gh-1", push_body("shop", "main", t("09:00"), [c1], before=sha("root"))),
        ("deployment", "gh-2", deployment_body("shop", 101, sha("c1"), "production", t("10:00"))),
        ("deployment_status", "gh-3", status_body("shop", 101, sha("c1"), "production", t("10:00"), 1001,
                                                  "success", t("10:05"))),
        ("push", "gh-4", push_body("shop", "main", t("12:00"), [c2], before=sha("c1"))),
        ("deployment", "gh-5", deployment_body("shop", 102, sha("c2"), "production", t("13:00"))),
        ("deployment_status", "gh-6", status_body("shop", 102, sha("c2"), "production", t("13:00"), 1002,
                                                  "success", t("13:10"))),
    ]


def jira_deliveries() -> list[tuple[str, str, dict]]:
    created, updated = "jira:issue_created", "jira:issue_updated"
    rc = comment(20001, f"root cause: {sha('c2')[:7]}", t("14:20"))
    ops1 = {"components": ["Shop"], "description": "Checkout returns 500s"}
    return [
        (created, "j-1", webhook(created, t("14:00"), issue(10001, t("14:00"), **ops1))),
        (updated, "j-2", webhook(updated, t("14:20"), issue(10001, t("14:00"), updated=t("14:20"), **ops1),
                                 top_comment=rc)),
        (updated, "j-3", webhook(updated, t("15:00"), issue(10001, t("14:00"), "Done", resolved=t("15:00"),
                                                            updated=t("15:00"), comments=[rc], **ops1),
                                 changelog=[status_item("To Do", "Done")])),
        (updated, "j-4", webhook(updated, t("15:30"), issue(10001, t("14:00"), "In Progress",
                                                            updated=t("15:30"), comments=[rc], **ops1),
                                 changelog=[status_item("Done", "In Progress")])),
        (updated, "j-5", webhook(updated, t("16:30"), issue(10001, t("14:00"), "Done", resolved=t("16:30"),
                                                            updated=t("16:30"), comments=[rc], **ops1),
                                 changelog=[status_item("In Progress", "Done")])),
        (created, "j-6", webhook(created, t("14:30"), issue(10002, t("14:30"), issue_type="Story",
                                                            components=["Shop"]))),
    ]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = settings_in(tmp_path_factory.mktemp("jira-e2e") / "home")
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.rules_path.write_text(yaml.safe_dump({
        "repos": {REPO: {"team": "shop", "service": "shop"}},
        "providers": {"jira": {"components": {"Shop": REPO}}},
    }))
    write(settings.landing_dir / "github", "github", github_deliveries())
    write(settings.landing_dir / "jira", "jira", jira_deliveries())
    sources = [SourceSpec(name=name, type="landing_jsonl", provider=name,
                          landing_dir=settings.landing_dir / name, secret_env=None,
                          description=f"{name} webhook deliveries")
               for name in ("github", "jira")]
    defs = build_definitions(settings, sources)
    with dg.instance_for_test() as instance:
        assert all(r.success for r in materialise_days(defs, instance, [DAY]))
    return settings.warehouse_path


def test_silver_incident_row(warehouse: Path) -> None:
    incidents = load_silver("incidents", warehouse=warehouse).set_index("incident_id")
    assert list(incidents.index) == [f"{REPO}#jira-10001"]
    row = incidents.loc[f"{REPO}#jira-10001"]
    assert row["provider"] == "jira" and row["repo"] == REPO
    assert row["opened_at"] == pd.Timestamp(t("14:00")) and row["resolved_at"] == pd.Timestamp(t("16:30"))
    assert row["reopened_count"] == 1 and not row["is_open"]
    assert row["root_cause_sha"] == sha("c2"), "the short sha resolved against the GitHub main line"


def test_daily_gold_counts_the_change_failure_and_its_recovery(warehouse: Path) -> None:
    gold = load_gold("day", scope_type="repo", warehouse=warehouse)
    row = gold[(gold["scope"] == REPO) & (gold["period_start"] == pd.Timestamp(DAY))].iloc[0]
    assert row["deployments"] == 2 and row["change_failures"] == 1
    assert row["change_failure_rate"] == pytest.approx(0.5)
    assert row["incidents_opened"] == 1 and row["unrecovered_failures"] == 0
    assert row["recoveries"] == 1 and row["recovery_median_h"] == pytest.approx(2.5)


def test_the_release_blamed_is_the_one_that_shipped_the_root_cause(warehouse: Path) -> None:
    facts = load_facts("deployments", warehouse=warehouse, rules=DoraRules()).set_index("deployment_id")
    assert facts.loc[f"{REPO}:102", "is_change_failure"] and not facts.loc[f"{REPO}:101", "is_change_failure"]
    assert not facts.loc[f"{REPO}:102", "is_change_failure_inferred_only"], "linked by root cause"
    assert facts.loc[f"{REPO}:102", "failure_start_at"] == pd.Timestamp(t("14:00"))
    assert facts.loc[f"{REPO}:102", "recovered_at"] == pd.Timestamp(t("16:30"))
