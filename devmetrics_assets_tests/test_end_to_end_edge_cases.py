"""Every situation the generator planted is handled as documented (Silver checked against the plant list)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from devmetrics_assets.storage.loaders import load_silver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def planted(materialised):
    edge = json.loads((materialised.org.truth_dir / "truth_edge_cases.json").read_text())
    path = materialised.settings.warehouse_path
    silver = {e: load_silver(e, warehouse=path) for e in ("changes", "deployments", "incidents")}
    return edge, silver, materialised.warehouse


def rows(frame: pd.DataFrame, key: str, ids: list[str]) -> pd.DataFrame:
    found = frame[frame[key].isin(ids)]
    assert set(found[key]) == set(ids), f"missing {sorted(set(ids) - set(found[key]))}"
    return found


def test_merge_methods_are_recognised(planted) -> None:
    edge, silver, _ = planted
    for method in ("merge", "squash", "rebase"):
        found = rows(silver["changes"], "change_id", edge[f"{method}_change_ids"])
        assert set(found["merge_method"]) == {method}
    direct = rows(silver["changes"], "change_id", edge["direct_change_ids"])
    assert set(direct["kind"]) == {"commit"} and set(direct["merge_method"]) == {"direct"}
    # fork PRs have no pushes to their branch: first commit time falls back to the PR's creation
    assert rows(silver["changes"], "change_id", edge["fork_pr_change_ids"])["first_commit_at"].notna().all()
    # PRs closed without merging are no change at all
    assert not silver["changes"]["change_id"].isin(edge["abandoned_pr_ids"]).any()


def test_deployment_situations(planted) -> None:
    edge, silver, _ = planted
    deployments = silver["deployments"]
    assert rows(deployments, "deployment_id", edge["rollback_deployment_ids"])["is_rollback"].all()
    staging_ids = edge["staging_deployment_ids"] + edge["staging_only_deployment_ids"]
    staging = rows(deployments, "deployment_id", staging_ids)
    assert not staging["is_production"].any()
    batched = rows(deployments, "deployment_id", edge["batched_deployment_ids"])
    assert (batched["change_ids"].str.count(",") >= 1).all()
    unknown = rows(deployments, "deployment_id", edge["unknown_sha_deployment_ids"])
    assert not unknown["changes_known"].any() and (unknown["final_status"] == "success").all()
    for pair in edge["failed_then_retried"]:
        failed = rows(deployments, "deployment_id", [pair["failed_deployment_id"]]).iloc[0]
        retry = rows(deployments, "deployment_id", [pair["retry_deployment_id"]]).iloc[0]
        assert failed["final_status"] in ("failure", "error") and retry["final_status"] == "success"
        assert failed["sha"] == retry["sha"] and failed["change_ids"] == ""


def test_incident_situations(planted) -> None:
    edge, silver, _ = planted
    incidents = silver["incidents"]
    assert (rows(incidents, "incident_id", edge["incidents_reopened"])["reopened_count"] >= 1).all()
    still_open = rows(incidents, "incident_id", edge["incidents_still_open"])
    assert still_open["is_open"].all() and still_open["resolved_at"].isna().all()
    assert rows(incidents, "incident_id", edge["incidents_without_root_cause"])["root_cause_sha"].isna().all()
    short = rows(incidents, "incident_id", edge["incidents_root_cause_short_sha"])
    assert (short["root_cause_sha"].str.len() == 40).all(), "short shas resolve to the full main-line sha"
    in_comment = rows(incidents, "incident_id", edge["incidents_root_cause_in_comment"])
    assert in_comment["root_cause_sha"].notna().all()
    rows(incidents, "incident_id", edge["incidents_labeled_later"])
    assert not incidents["incident_id"].isin(edge["non_incident_issue_ids"]).any()
    hotfixes = rows(silver["changes"], "change_id", [h["change_id"] for h in edge["hotfix_changes"]])
    assert (hotfixes["fixes_issues"] != "").all()


def test_branch_deletions_and_late_deliveries(planted) -> None:
    edge, silver, warehouse = planted
    bronze = warehouse.read_table("bronze_deliveries", columns=["delivery_id", "event_day", "received_day"])
    rows(bronze, "delivery_id", edge["branch_deletion_push_delivery_ids"])  # kept raw in Bronze ...
    assert not (silver["changes"]["head_sha"] == "0" * 40).any()  # ... but a deletion is no change
    assert not silver["changes"]["commit_shas"].str.contains("0" * 40).any()
    late = {d["delivery_id"]: d for d in edge["late_deliveries"]}
    stored = rows(bronze, "delivery_id", list(late)).set_index("delivery_id")
    for delivery_id, planted_late in late.items():
        # a late delivery belongs to its event's day, not to the day it was received
        assert stored.loc[delivery_id, "event_day"] == pd.Timestamp(planted_late["anchor_day"])
        assert stored.loc[delivery_id, "received_day"] == pd.Timestamp(planted_late["received_day"])
