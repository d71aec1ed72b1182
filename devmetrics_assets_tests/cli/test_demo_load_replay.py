"""The `devmetrics` command as a user runs it: demo, summary, load and replay on one working area."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.cli import main
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET
from devmetrics_assets.providers.github.recorded_jsonl import signature_for
from devmetrics_assets.storage.loaders import load_gold
from devmetrics_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_demo_then_load_then_replay(home: Path, tmp_path: Path, capsys) -> None:
    assert main(["demo", "--repos", "2", "--days", "20", "--start", "2025-01-01"]) == 0
    out = capsys.readouterr().out
    assert "DORA metrics for the sample organisation" in out and "deploys" in out
    gold = load_gold("day", scope_type="org", warehouse=home / "warehouse.duckdb")
    deployments = int(gold["deployments"].sum())
    assert deployments > 0
    # the CLI's runs are on the shared instance, so the UI lists them
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) >= 3

    # a recorded delivery: one more successful production deployment on 2025-01-10, received later
    warehouse = Warehouse(home / "warehouse.duckdb")
    sha = warehouse.read_table("silver_deployments")["sha"].iloc[0]
    repo = warehouse.read_table("silver_deployments")["repo"].iloc[0]
    created = "2025-01-10T12:00:00Z"
    deployment = {"id": 777001, "sha": sha, "ref": "main", "environment": "production", "created_at": created,
                  "updated_at": created, "task": "deploy", "description": ""}
    repository = {"full_name": repo, "name": repo.split("/")[1], "default_branch": "main",
                  "owner": {"login": repo.split("/")[0]}}
    lines = []
    for event, delivery, extra in (
        ("deployment", "cli-1", {}),
        ("deployment_status", "cli-2", {"deployment_status": {"id": 777002, "state": "success",
                                                              "environment": "production",
                                                              "created_at": "2025-01-10T12:05:00Z"}}),
    ):
        body = {"action": "created", "deployment": deployment, "repository": repository, **extra}
        payload = json.dumps(body, separators=(",", ":")).encode()
        lines.append(json.dumps({"received_at": "2025-01-15T08:00:00Z", "delivery_id": delivery, "headers": {
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature_for(SAMPLE_WEBHOOK_SECRET, payload)}, "body": body}))
    lines.append("{not json")
    recorded = tmp_path / "recorded.jsonl"
    recorded.write_text("\n".join(lines) + "\n")

    os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
    try:
        assert main(["load", str(recorded)]) == 0
        assert "1 event day(s) changed: ['2025-01-10']" in capsys.readouterr().out
        gold = load_gold("day", scope_type="org", warehouse=home / "warehouse.duckdb")
        assert int(gold["deployments"].sum()) == deployments + 1
        assert main(["load", str(recorded)]) == 0  # the same file again adds nothing
        assert "0 event day(s) changed" in capsys.readouterr().out
        gold = load_gold("day", scope_type="org", warehouse=home / "warehouse.duckdb")
        assert int(gold["deployments"].sum()) == deployments + 1
        assert main(["replay", "--layer", "bronze", "--reason", "not valid JSON", "--dry-run"]) == 0
        assert "bronze_github" in capsys.readouterr().out
    finally:
        os.environ.pop("GITHUB_WEBHOOK_SECRET", None)
    assert main(["summary", "--grain", "week"]) == 0
    assert "deploys" in capsys.readouterr().out
