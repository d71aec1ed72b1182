"""The Gold fact tables as assets: dg.materialize on a temporary DuckDB warehouse holding hand-built Silver.

Silver (hand-built, as silver_* would write it): org/api releases d1 (3 Mar, baseline shipping c0), d2
(4 Mar, shipping c1 first committed 3 Mar 08:00, live 4 Mar 10:30: 26.5 h) and a failed attempt d3
(5 Mar); incident #1 opened 4 Mar 12:00 names c1's commit (d2 is a change failure, recovered at 14:00 when
the incident was resolved: 2 h after it was opened, which is after d2 finished). org/web: release w1 on 6 Mar.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.config import load_rules
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.defs.gold_dora import build_gold_asset
from devmetrics_assets.defs.gold_facts import build_gold_facts_asset
from devmetrics_assets.defs.resources import RulesResource
from devmetrics_assets.partitions import partition_set
from devmetrics_assets.runner import DAILY_JOB
from devmetrics_assets.storage.io_manager import DuckDBPartitionIOManager, WarehouseResource
from devmetrics_assets.storage.loaders import load_facts
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.fact_tables import FACT_TABLES
from devmetrics_assets_tests.conftest import settings_in
from devmetrics_assets_tests.transforms.test_gold_facts import (
    WEB,
    at,
    change,
    changes_frame,
    deploy,
    deployments_frame,
    incident,
    incidents_frame,
    sha,
)

START, END = "2025-03-03", "2025-03-09"  # inclusive partition keys
RANGE = {"dagster/asset_partition_range_start": START, "dagster/asset_partition_range_end": END}
RULES_YAML = "repos:\n  org/api: {team: payments, service: api}\n  org/web: {team: web, service: web}\n"


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    c0, c1 = change("org/api#1", at(-1, 9)), change("org/api#2", at(0, 8))
    c0["commit_shas"], c1["commit_shas"] = sha(1), sha(2)
    deps = deployments_frame([
        deploy(1, 0, 10, changes=("org/api#1",), commits=(sha(1),), baseline=True),
        deploy(2, 1, 10, changes=("org/api#2",), commits=(sha(2),), prev=1),
        deploy(3, 2, 10, status="failure"),
        deploy(4, 3, 9, repo=WEB, baseline=True),
    ])
    incs = incidents_frame([incident(1, at(1, 12), at(1, 14), root_cause=sha(2))])
    for table, frame in (("silver_deployments", deps), ("silver_changes", changes_frame([c0, c1])),
                         ("silver_incidents", incs)):
        wh.replace_partition(table, frame, "event_day", "2025-03-01", "2025-03-10")
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    return tmp_path


def materialize(home: Path, *assets: dg.AssetsDefinition) -> dg.ExecuteInProcessResult:
    path = str(home / "warehouse.duckdb")
    return dg.materialize(
        list(assets),
        resources={"io_manager": DuckDBPartitionIOManager(path=path),
                   "warehouse": WarehouseResource(path=path),
                   "rules": RulesResource(path=str(home / "rules.yaml"))},
        tags=RANGE, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
    )


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()
            if e.check_name == "reconciles_with_gold"}


def test_facts_are_written_for_the_window_and_reconcile_with_daily_gold(home: Path) -> None:
    parts = partition_set("2025-03-01")
    result = materialize(home, build_gold_asset("day", parts), build_gold_facts_asset(parts))
    assert result.success
    assert checks(result) == dict.fromkeys(["gold_fact_deployments", "gold_fact_changes",
                                            "gold_fact_incidents"], True)
    wh = home / "warehouse.duckdb"
    rules = load_rules(home / "rules.yaml")
    deps = load_facts("deployments", warehouse=wh, rules=rules).set_index("deployment_id")
    assert list(deps.index) == ["org/api:1", "org/api:2", "org/api:3", "org/web:4"]
    assert deps.loc["org/api:2", "failure_kinds"] == "root_cause"
    assert deps.loc["org/api:2", "recovery_h"] == pytest.approx(2.0)
    assert deps["team"].tolist() == ["payments", "payments", "payments", "web"]
    assert not deps.loc["org/api:3", "is_success"] and deps.loc["org/api:3", "is_failed_attempt"]
    changes = load_facts("changes", warehouse=wh, rules=rules).set_index("change_id")
    assert changes.loc["org/api#2", "lead_time_h"] == pytest.approx(26.5)
    assert changes.loc["org/api#1", "lead_time_status"] == "baseline"
    incidents = load_facts("incidents", warehouse=wh, rules=rules)
    assert incidents[["incident_id", "deployment_id", "link"]].values.tolist() == [
        ["org/api#1", "org/api:2", "root_cause"]]
    # Each partition carries its own day's counts, not the window's.
    meta = {e.materialization.partition: e.materialization.metadata
            for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == "gold_fact_deployments"}
    assert meta["2025-03-04"]["rows"].value == 1 and meta["2025-03-04"]["is_change_failure"].value == 1
    assert meta["2025-03-05"]["is_failed_attempt"].value == 1 and meta["2025-03-05"]["is_success"].value == 0
    assert meta["2025-03-08"]["rows"].value == 0


def test_tampered_daily_gold_fails_the_blocking_check(home: Path) -> None:
    parts = partition_set("2025-03-01")
    assert materialize(home, build_gold_asset("day", parts)).success
    wh = Warehouse(home / "warehouse.duckdb")
    gold = wh.read_window("gold_dora_daily", "period_start", "2025-03-03", "2025-03-10")
    gold.loc[(gold["scope_type"] == "team") & (gold["period_start"] == pd.Timestamp("2025-03-04")),
             "change_failures"] = 0
    wh.replace_partition("gold_dora_daily", gold, "period_start", "2025-03-03", "2025-03-10")
    result = materialize(home, build_gold_facts_asset(parts))
    assert not result.success  # blocking, ERROR severity: the run fails
    found = checks(result)
    assert found == {"gold_fact_deployments": False, "gold_fact_changes": True, "gold_fact_incidents": True}
    failed = next(e for e in result.get_asset_check_evaluations()
                  if e.asset_key.to_user_string() == "gold_fact_deployments")
    summary = failed.metadata["summary"].value
    assert "2025-03-04" in summary and "change_failures" in summary


def test_the_daily_job_materialises_the_facts_after_daily_gold(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    defs = build_definitions(settings_in(tmp_path / "home"))
    job = defs.resolve_job_def(DAILY_JOB)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert set(FACT_TABLES.values()) | {"gold_dora_daily"} <= keys
    graph = defs.resolve_asset_graph()
    for table in FACT_TABLES.values():
        node = graph.get(dg.AssetKey(table))
        assert node.group_name == "gold" and dg.AssetKey("gold_dora_daily") in node.parent_keys
        assert node.partitions_def is not None and node.automation_condition is not None
        assert node.freshness_policy is not None  # the daily Gold tier policy (with_tier_freshness)
