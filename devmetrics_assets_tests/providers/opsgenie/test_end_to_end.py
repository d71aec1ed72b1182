"""Opsgenie through the real Dagster graph: GitHub pushes and a deployment ship a change, an Opsgenie P1
alert names it as root cause; landing files → Bronze → Silver → daily Gold, numbers computed by hand.

GitHub lines are recordings in the documented webhook shapes (as in the scenario fixtures); Opsgenie
lines are receiver landing envelopes of documented webhook bodies (payloads.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.runner import materialise_days
from devmetrics_assets.sources.registry import SourceSpec, default_sources
from devmetrics_assets.storage.loaders import load_gold, load_quarantine, load_silver
from devmetrics_assets_tests.providers.opsgenie.payloads import ns, og

pytestmark = pytest.mark.slow

A, B = "3a" + "0" * 38, "3a1" + "0" * 37
REPO = {
    "id": 5001,
    "name": "shop",
    "full_name": "acme/shop",
    "owner": {"login": "acme"},
    "default_branch": "main",
}


def push(delivery: str, received: str, before: str, sha: str, message: str, at: str) -> dict:
    commit = {
        "id": sha,
        "distinct": True,
        "message": message,
        "timestamp": at,
        "author": {"name": "Ada Lovelace", "email": "ada@example.com"},
    }
    body = {
        "ref": "refs/heads/main",
        "before": before,
        "after": sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [commit],
        "repository": REPO | {"pushed_at": int(pd.Timestamp(received).timestamp())},
        "pusher": {"name": "ada"},
        "sender": {"login": "ada"},
    }
    return {
        "received_at": received,
        "delivery_id": delivery,
        "headers": {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery},
        "body": body,
    }


def deployed(delivery: str, dep_id: int, sha: str, created: str, finished: str) -> dict:
    body = {
        "action": "created",
        "deployment_status": {
            "id": dep_id * 10 + 1,
            "state": "success",
            "environment": "production",
            "created_at": finished,
            "updated_at": finished,
        },
        "deployment": {
            "id": dep_id,
            "sha": sha,
            "ref": "main",
            "environment": "production",
            "created_at": created,
            "updated_at": finished,
        },
        "repository": REPO,
        "sender": {"login": "deploy-bot"},
    }
    return {
        "received_at": finished,
        "delivery_id": delivery,
        "headers": {"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": delivery},
        "body": body,
    }


def landing(body: dict, received: str) -> dict:
    alert = body["alert"]
    return {
        "received_at": received,
        "delivery_id": f"opsgenie:{alert['alertId']}:{body['action']}:{alert['updatedAt']}",
        "provider": "opsgenie",
        "event_type": body["action"],
        "signature_status": "verified",
        "headers": {"Content-Type": "application/json"},
        "body_raw": json.dumps(body),
    }


def github_lines() -> list[dict]:
    return [
        push("gh-01", "2025-03-03T07:00:02Z", "f" + "0" * 39, A, "Basket API", "2025-03-03T06:50:00Z"),
        deployed("gh-02", 2001, A, "2025-03-03T07:10:00Z", "2025-03-03T07:15:00Z"),
        push("gh-03", "2025-03-03T09:30:02Z", A, B, "Handle an empty basket", "2025-03-03T09:20:00Z"),
        deployed("gh-04", 2002, B, "2025-03-03T09:40:00Z", "2025-03-03T09:50:00Z"),
    ]


def opsgenie_lines() -> list[dict]:
    created = "2025-03-03T09:00:00Z"
    p1 = {"details": {"service": "shop-api"}, "description": "Basket errors"}
    return [
        landing(og("Create", "og-1", "14", created, priority="P1", **p1), "2025-03-03T09:00:01Z"),
        landing(
            og("AddNote", "og-1", "14", created, "2025-03-03T09:30:00Z", note="root cause: 3a00000"),
            "2025-03-03T09:30:01Z",
        ),
        landing(og("Close", "og-1", "14", created, "2025-03-03T10:00:00Z"), "2025-03-03T10:00:01Z"),
        # P3 without incident tags or teams: not an incident
        landing(
            og(
                "Create", "og-2", "15", "2025-03-03T11:00:00Z", priority="P3", details={"service": "shop-api"}
            ),
            "2025-03-03T11:00:01Z",
        ),
        # P1 naming a service nobody owns: quarantined with the reason
        landing(
            og("Create", "og-3", "16", "2025-03-03T12:00:00Z", details={"service": "Office Printers"}),
            "2025-03-03T12:00:01Z",
        ),
    ]


def write(path: Path, lines: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_opsgenie_root_cause_makes_a_github_deployment_a_change_failure(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    settings = Settings(
        home=tmp_path,
        warehouse_path=tmp_path / "warehouse.duckdb",
        landing_dir=tmp_path / "landing",
        rules_path=tmp_path / "rules.yaml",
        partition_start="2025-03-01",
    )
    settings.rules_path.write_text(
        yaml.safe_dump(
            {
                "repos": {"acme/shop": {"team": "shop", "service": "shop-api"}},
                "providers": {"opsgenie": {"priorities": ["P1"]}},
            }
        )
    )
    write(settings.landing_dir / "github" / "2025-03-03.jsonl", github_lines())
    write(settings.landing_dir / "opsgenie" / "2025-03-03.jsonl", opsgenie_lines())
    # The recordings are unsigned: the GitHub source declares no secret (verification is not under test).
    sources = [
        replace(default_sources(settings)[0], secret_env=None),
        SourceSpec(
            name="opsgenie",
            type="landing_jsonl",
            provider="opsgenie",
            landing_dir=settings.landing_dir / "opsgenie",
            secret_env=None,
            description="Opsgenie alert actions written by the receiver",
        ),
    ]
    defs = build_definitions(settings, sources)
    with dg.instance_for_test() as instance:
        assert all(r.success for r in materialise_days(defs, instance, [date(2025, 3, 3), date(2025, 3, 4)]))

    incidents = load_silver("incidents", warehouse=settings.warehouse_path).set_index("incident_id")
    assert list(incidents.index) == ["acme/shop#opsgenie-14"]
    row = incidents.loc["acme/shop#opsgenie-14"]
    assert row["provider"] == "opsgenie" and row["root_cause_sha"] == A, (
        "the short sha resolves on the main line"
    )
    assert row["resolved_at"] == pd.Timestamp("2025-03-03T10:00:00Z") and row["reopened_count"] == 0

    gold = load_gold("day", scope_type="repo", warehouse=settings.warehouse_path)
    day = gold[
        (gold["scope"] == "acme/shop") & (gold["period_start"].dt.strftime("%Y-%m-%d") == "2025-03-03")
    ]
    [got] = day.to_dict("records")
    # 2 production deployments (2001 ships A, 2002 ships B); the alert blames A, shipped by 2001:
    # 1 change failure of 2, none inferred; recovery from 09:00 (alert created) to 10:00 (closed) = 1 h.
    assert got["deployments"] == 2 and got["change_failures"] == 1 and got["change_failures_inferred"] == 0
    assert got["change_failure_rate"] == pytest.approx(0.5)
    assert got["change_failure_rate_root_cause_only"] == pytest.approx(0.5)
    assert got["incidents_opened"] == 1 and got["recoveries"] == 1
    assert got["recovery_median_h"] == pytest.approx(1.0)

    quarantined = load_quarantine(layer="silver", warehouse=settings.warehouse_path)
    mine = quarantined[quarantined["source"] == "opsgenie"]
    assert len(mine) == 1 and "Office Printers" in mine["reason"].iloc[0]
    assert mine["record_ref"].iloc[0] == f"opsgenie:og-3:Create:{ns('2025-03-03T12:00:00Z')}"
