"""Re-materialisation, late deliveries and quarantine, through the real graph on a copy of the sample."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET
from devmetrics_assets.providers.github.recorded_jsonl import signature_for
from devmetrics_assets.runner import DAILY_JOB, materialise_days, run_range
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.conftest import settings_in

pytestmark = pytest.mark.slow

TABLES = ["bronze_deliveries", "silver_changes", "silver_deployments", "silver_incidents",
          "gold_dora_daily", "gold_dora_weekly", "gold_dora_monthly"]
# Columns that record WHEN something was stored rather than WHAT is stored.
VOLATILE = {"loaded_at", "first_seen_at", "last_seen_at", "load_batch_id"}


@pytest.fixture
def copy(materialised, tmp_path: Path):
    """A private copy of the materialised sample: its own warehouse, landing folder and instance."""
    settings = settings_in(tmp_path / "home")
    shutil.copytree(materialised.settings.home, settings.home)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        yield settings, defs, instance, Warehouse(settings.warehouse_path), materialised


def snapshot(warehouse: Warehouse, table: str) -> pd.DataFrame:
    frame = warehouse.query(f"SELECT * FROM {table}")
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
    return frame.sort_values(list(frame.columns)[:4]).reset_index(drop=True)


def test_rematerialising_any_range_stores_identical_data(copy) -> None:
    settings, defs, instance, warehouse, materialised = copy
    before = {t: snapshot(warehouse, t) for t in TABLES}
    quarantine_before = snapshot(warehouse, "quarantine")
    middle = materialised.days[10:17]
    results = materialise_days(defs, instance, middle)
    assert all(r.success for r in results)
    for table in TABLES:
        pd.testing.assert_frame_equal(snapshot(warehouse, table), before[table], obj=table)
    pd.testing.assert_frame_equal(snapshot(warehouse, "quarantine"), quarantine_before)


def _signed_envelope(body: dict, event: str, delivery_id: str, received_at: str) -> str:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps({
        "received_at": received_at, "delivery_id": delivery_id,
        "headers": {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id,
                    "X-Hub-Signature-256": signature_for(SAMPLE_WEBHOOK_SECRET, payload)},
        "body": body,
    })


def test_late_delivery_changes_exactly_its_event_day(copy) -> None:
    settings, defs, instance, warehouse, materialised = copy
    deployments = warehouse.query(
        "SELECT * FROM silver_deployments WHERE is_production AND final_status = 'success'")
    target = deployments.sort_values("deployment_id").iloc[len(deployments) // 2]
    event_day = target["event_day"].date()
    received_day = event_day + timedelta(days=20)
    assert received_day <= materialised.days[-1]
    created = f"{event_day.isoformat()}T23:10:00Z"
    deployment = {"id": 990001, "sha": target["sha"], "ref": "main", "environment": "production",
                  "created_at": created, "updated_at": created, "task": "deploy", "description": "late"}
    repo = {"id": 1, "name": target["repo"].split("/")[1], "full_name": target["repo"],
            "default_branch": "main", "owner": {"login": target["repo"].split("/")[0]}}
    lines = [
        _signed_envelope({"action": "created", "deployment": deployment, "repository": repo,
                          "sender": {"login": "bot", "id": 1}}, "deployment", "late-1",
                         f"{received_day.isoformat()}T08:00:00Z"),
        _signed_envelope({"action": "created", "deployment": deployment, "repository": repo,
                          "sender": {"login": "bot", "id": 1},
                          "deployment_status": {"id": 990002, "state": "success", "environment": "production",
                                                "created_at": f"{event_day.isoformat()}T23:20:00Z",
                                                "updated_at": f"{event_day.isoformat()}T23:20:00Z"}},
                         "deployment_status", "late-2", f"{received_day.isoformat()}T08:00:01Z"),
    ]
    (settings.landing_dir / "github" / "late.jsonl").write_text("\n".join(lines) + "\n")
    before = {t: snapshot(warehouse, t) for t in ("silver_deployments", "gold_dora_daily")}

    load = run_range(defs, instance, DAILY_JOB, received_day, received_day, ["bronze_github"])
    affected = warehouse.bronze_event_days(load.run_id)
    assert affected == [event_day]
    results = materialise_days(defs, instance, affected, include_bronze=False)
    assert all(r.success for r in results)

    # Silver of every changed day runs first, then daily Gold (runner.materialise_days), then weeks, months.
    materialised_partitions = {
        (e.asset_key.path[-1], e.partition)
        for run in results[:2] for e in run.get_asset_materialization_events()
    }
    assert materialised_partitions == {(a, event_day.isoformat()) for a in
                                       ("silver_changes", "silver_deployments", "silver_incidents",
                                        "gold_dora_daily", "gold_fact_deployments", "gold_fact_changes",
                                        "gold_fact_incidents")}
    day = pd.Timestamp(event_day)
    for table, column in (("silver_deployments", "event_day"), ("gold_dora_daily", "period_start")):
        after = snapshot(warehouse, table)
        pd.testing.assert_frame_equal(
            after[after[column] != day].reset_index(drop=True),
            before[table][before[table][column] != day].reset_index(drop=True), obj=table)
    gold = snapshot(warehouse, "gold_dora_daily")
    key = (gold["period_start"] == day) & (gold["scope"] == target["repo"])
    old = before["gold_dora_daily"]
    old_key = (old["period_start"] == day) & (old["scope"] == target["repo"])
    assert int(gold.loc[key, "deployments"].iloc[0]) == int(old.loc[old_key, "deployments"].iloc[0]) + 1


def test_unusable_records_are_quarantined_with_reasons(copy) -> None:
    settings, defs, instance, warehouse, materialised = copy
    day = materialised.days[5]
    received = f"{day.isoformat()}T12:00:00Z"
    no_deployment = {"action": "created", "deployment_status": {"id": 5, "state": "success"},
                     "repository": {"full_name": "acme/ghost", "name": "ghost", "default_branch": "main"}}
    lines = [
        "{not json",
        json.dumps({"received_at": received, "delivery_id": "no-headers", "body": {}}),
        _signed_envelope(no_deployment, "deployment_status", "no-deployment", received),
    ]
    (settings.landing_dir / "github" / "bad.jsonl").write_text("\n".join(lines) + "\n")
    assert run_range(defs, instance, DAILY_JOB, day, day).success
    quarantine = warehouse.query("SELECT * FROM quarantine")
    bronze = quarantine[quarantine["layer"] == "bronze"]
    assert bronze["record_ref"].str.endswith("bad.jsonl:1").any()
    assert bronze.loc[bronze["record_ref"].str.endswith("bad.jsonl:1"), "reason"].str.contains("JSON").all()
    assert bronze["record_ref"].str.endswith("bad.jsonl:2").any()
    silver = quarantine[(quarantine["layer"] == "silver") & (quarantine["record_ref"] == "no-deployment")]
    assert len(silver) == 1 and silver["reason"].iloc[0]
    stored = warehouse.query("SELECT delivery_id FROM bronze_deliveries WHERE delivery_id = 'no-deployment'")
    assert len(stored) == 1, "the raw delivery stays in Bronze; only Silver refuses it"


def test_forged_deliveries_are_quarantined_not_loaded(materialised) -> None:
    edge = json.loads((materialised.org.truth_dir / "truth_edge_cases.json").read_text())
    forged = [str(x) for x in edge["forged_delivery_ids"]]
    assert forged
    warehouse = materialised.warehouse
    marks = ", ".join("?" for _ in forged)
    assert warehouse.query(f"SELECT * FROM bronze_deliveries WHERE delivery_id IN ({marks})", forged).empty
    quarantined = warehouse.query("SELECT * FROM quarantine WHERE layer = 'bronze' AND record LIKE ?",
                                  [f"%{forged[0]}%"])
    assert quarantined["reason"].str.contains("signature").all() and len(quarantined) == 1


def test_redeliveries_are_stored_once(materialised) -> None:
    edge = json.loads((materialised.org.truth_dir / "truth_edge_cases.json").read_text())
    ids = [str(x) for x in edge["redelivered_delivery_ids"]]
    assert ids
    marks = ", ".join("?" for _ in ids)
    counts = materialised.warehouse.query(
        f"SELECT delivery_id, count(*) AS n FROM bronze_deliveries WHERE delivery_id IN ({marks}) "
        "GROUP BY 1", ids)
    assert set(counts["delivery_id"]) == set(ids) and (counts["n"] == 1).all()


def test_late_incident_refreshes_the_earlier_deployment_day_it_marks_as_failed(copy) -> None:
    settings, defs, instance, warehouse, materialised = copy
    deployments = warehouse.read_table("silver_deployments")
    gold = warehouse.read_table("gold_dora_daily")
    clean_days = gold[(gold["scope_type"] == "repo") & (gold["change_failures"] == 0)]
    clean = set(zip(clean_days["scope"], clean_days["period_start"], strict=True))
    rollbacks = set(deployments.loc[deployments["is_rollback"], "deployment_id"])
    shipped = deployments[deployments["is_production"] & (deployments["final_status"] == "success")
                          & (deployments["commit_shas"] != "")
                          & ~deployments["previous_deployment_id"].isin(rollbacks)]
    shipped = shipped[[(r, d) in clean for r, d in zip(shipped["repo"], shipped["event_day"], strict=True)]]
    target = shipped.sort_values("deployment_id").iloc[len(shipped) // 3]
    deployment_day = target["event_day"].date()
    opened_day = deployment_day + timedelta(days=3)
    opened = f"{opened_day.isoformat()}T09:00:00Z"
    repo = {"id": 1, "name": target["repo"].split("/")[1], "full_name": target["repo"],
            "default_branch": "main", "owner": {"login": target["repo"].split("/")[0]}}
    issue = {"number": 99001, "title": "Checkout broken", "state": "open", "labels": [{"name": "incident"}],
             "created_at": opened, "updated_at": opened, "closed_at": None,
             "body": f"root cause: {target['commit_shas'].split(',')[-1]}"}
    line = _signed_envelope({"action": "opened", "issue": issue, "repository": repo,
                             "sender": {"login": "oncall", "id": 2}}, "issues", "late-incident",
                            f"{opened_day.isoformat()}T09:00:05Z")
    (settings.landing_dir / "github" / "late-incident.jsonl").write_text(line + "\n")
    load = run_range(defs, instance, DAILY_JOB, opened_day, opened_day, ["bronze_github"])
    assert warehouse.bronze_event_days(load.run_id) == [opened_day]

    results = materialise_days(defs, instance, [opened_day], include_bronze=False, storage=warehouse)
    assert all(r.success for r in results)
    gold = warehouse.read_table("gold_dora_daily")
    row = (gold["scope"] == target["repo"]) & (gold["period_start"] == pd.Timestamp(deployment_day))
    assert int(gold.loc[row, "change_failures"].iloc[0]) == 1
    refreshed = {(e.asset_key.path[-1], e.partition)
                 for r in results for e in r.get_asset_materialization_events()}
    assert ("gold_dora_daily", deployment_day.isoformat()) in refreshed


def test_a_late_review_reaches_its_pull_requests_later_landing_day(copy) -> None:
    """A review received weeks late anchors on its own (earlier) day; the runner re-runs the landing day."""
    settings, defs, instance, warehouse, materialised = copy
    changes = warehouse.query(
        "SELECT * FROM silver_changes WHERE kind = 'pull_request' AND first_review_at IS NULL "
        "AND opened_at IS NOT NULL AND CAST(opened_at AS DATE) < event_day ORDER BY change_id")
    assert len(changes), "the sample has unreviewed pull requests opened before their landing day"
    pr = changes.iloc[0]
    opened = pd.Timestamp(pr["opened_at"])
    reviewed = opened + pd.Timedelta(minutes=30)
    assert reviewed < pd.Timestamp(pr["landed_at"]) and reviewed.date() < pr["event_day"].date()
    received_day = pr["event_day"].date() + timedelta(days=3)
    assert received_day <= materialised.days[-1]
    owner, name = pr["repo"].split("/")
    body = {"action": "submitted",
            "review": {"id": 880001, "state": "approved", "user": {"login": "late-reviewer", "id": 9},
                       "submitted_at": reviewed.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "pull_request": {"number": int(pr["pr_number"]), "user": {"login": "someone-else", "id": 8}},
            "repository": {"id": 1, "name": name, "full_name": pr["repo"], "owner": {"login": owner}},
            "sender": {"login": "late-reviewer", "id": 9}}
    line = _signed_envelope(body, "pull_request_review", "late-review-1",
                            f"{received_day.isoformat()}T08:00:00Z")
    (settings.landing_dir / "github" / "late-review.jsonl").write_text(line + "\n")

    load = run_range(defs, instance, DAILY_JOB, received_day, received_day, ["bronze_github"])
    affected = warehouse.bronze_event_days(load.run_id)
    assert affected == [reviewed.date()]
    results = materialise_days(defs, instance, affected, include_bronze=False, storage=warehouse)
    assert all(r.success for r in results)
    after = warehouse.query(f"SELECT * FROM silver_changes WHERE change_id = '{pr['change_id']}'")
    assert pd.Timestamp(after["first_review_at"].iloc[0]) == reviewed
