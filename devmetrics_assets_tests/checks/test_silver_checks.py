"""Silver checks on a real DuckDB warehouse holding a small sample organisation's Silver tables.

Clean Silver (as the real transforms build it) passes every check; each check fails on data built to
break it, and the cross-table checks look up references in other partitions of the warehouse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.checks.silver_checks import silver_check_results, silver_check_specs
from devmetrics_assets.checks.silver_schemas import (
    SilverChangesSchema,
    SilverDeploymentsSchema,
    SilverIncidentsSchema,
)
from devmetrics_assets.config import load_rules
from devmetrics_assets.defs.silver_changes import compute_changes
from devmetrics_assets.defs.silver_deployments import compute_deployments
from devmetrics_assets.defs.silver_incidents import compute_incidents
from devmetrics_assets.demo.sample_org import generate_sample_org
from devmetrics_assets.sources.readers import read_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.mongo_support import copy_to_mongo

START, END = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-01-26")
MODELS = {
    "silver_changes": (compute_changes, SilverChangesSchema, ["change_id"]),
    "silver_deployments": (compute_deployments, SilverDeploymentsSchema, ["deployment_id"]),
    "silver_incidents": (compute_incidents, SilverIncidentsSchema, ["incident_id"]),
}


@dataclass
class SampleSilver:
    warehouse: Warehouse
    rules: object
    tables: dict[str, pd.DataFrame]
    rejects: dict[str, pd.DataFrame]


def build_sample_silver(root: Path, repos: int = 2, days: int = 25) -> SampleSilver:
    """Bronze and the three Silver tables of a generated sample organisation, written to DuckDB."""
    org = generate_sample_org(root / "org", repos=repos, days=days, start=date(2025, 1, 1), seed=5)
    spec = SourceSpec(name="github", type="github_jsonl", provider="github", landing_dir=org.deliveries_dir,
                      secret_env=None, description="sample")
    rows, _ = read_source(spec, start=pd.Timestamp("2025-01-01", tz="UTC"),
                          end=pd.Timestamp("2025-03-01", tz="UTC"), secret=None, load_batch_id="sample")
    warehouse = Warehouse(root / "wh.duckdb")
    warehouse.ensure_schema()
    warehouse.append_bronze(rows)
    rules = load_rules(org.rules_path)
    tables, rejects = {}, {}
    for name, (compute, _, _) in MODELS.items():
        tables[name], rejects[name] = compute(warehouse, rules, START, END)
        warehouse.replace_partition(name, tables[name], "event_day", START, END)
    return SampleSilver(warehouse, rules, tables, rejects)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> SampleSilver:
    return build_sample_silver(tmp_path_factory.mktemp("silver"))


def check(
    sample: SampleSilver, name: str, rows: pd.DataFrame | None = None, rejects: pd.DataFrame | None = None,
    start: pd.Timestamp = START, end: pd.Timestamp = END,
) -> dict[str, dg.AssetCheckResult]:
    _, schema, key = MODELS[name]
    rows = sample.tables[name] if rows is None else rows
    rejects = sample.rejects[name] if rejects is None else rejects
    results = silver_check_results(name, schema, key, rows, rejects, sample.warehouse, start, end)
    return {r.check_name: r for r in results}


def window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["event_day"] >= start) & (frame["event_day"] < end)].reset_index(drop=True)


def test_specs_blocking_and_warnings():
    specs = {s.name: s.blocking for s in silver_check_specs("silver_deployments", ["deployment_id"])}
    assert specs == {"schema": True, "unique_key": True, "quarantine_rate": False, "change_refs": False}
    assert "root_cause_links" in {s.name for s in silver_check_specs("silver_incidents", ["incident_id"])}
    assert "change_refs" not in {s.name for s in silver_check_specs("silver_changes", ["change_id"])}


@pytest.mark.parametrize("name", list(MODELS))
def test_clean_sample_passes_every_check(sample, name):
    results = check(sample, name)
    failed = {n: r.description for n, r in results.items() if not r.passed}
    assert not failed
    assert len(sample.tables[name]) > 0


def test_schema_and_unique_key_fail_on_broken_rows(sample):
    rows = sample.tables["silver_deployments"]
    broken = rows.assign(final_status=rows["final_status"].where(rows.index != 0, "exploded"))
    assert not check(sample, "silver_deployments", broken)["schema"].passed
    doubled = pd.concat([rows, rows.head(1)], ignore_index=True)
    result = check(sample, "silver_deployments", doubled)["unique_key"]
    assert not result.passed and result.metadata["duplicate_rows"].value == 2


def test_change_refs_resolve_changes_in_earlier_partitions(sample):
    # A one-day window whose deployment shipped a change that landed on an earlier day (partition).
    deployments = sample.tables["silver_deployments"]
    landed = sample.tables["silver_changes"].set_index("change_id")["event_day"]
    shipped = deployments.assign(change_id=deployments["change_ids"].str.split(",")).explode("change_id")
    shipped = shipped[shipped["change_id"].isin(landed.index)]
    earlier = shipped[landed.loc[shipped["change_id"]].to_numpy() < shipped["event_day"].to_numpy()]
    assert len(earlier), "the sample must ship a change that landed on an earlier day"
    day = earlier["event_day"].iloc[0]
    one_day = window(deployments, day, day + pd.Timedelta(days=1))
    results = check(sample, "silver_deployments", one_day, one_day.iloc[0:0], day, day + pd.Timedelta(days=1))
    assert results["change_refs"].passed and results["change_refs"].metadata["references"].value > 0


def test_change_refs_warn_on_a_change_missing_from_silver_changes(sample):
    deployments = sample.tables["silver_deployments"]
    shipped = deployments.loc[deployments["change_ids"] != ""].iloc[0]
    gone = shipped["change_ids"].split(",")[0]
    changes = sample.tables["silver_changes"]
    day = changes.loc[changes["change_id"] == gone, "event_day"].iloc[0]
    next_day = day + pd.Timedelta(days=1)
    kept = changes[(changes["change_id"] != gone) & (changes["event_day"] == day)]
    sample.warehouse.replace_partition("silver_changes", kept, "event_day", day, next_day)
    try:
        result = check(sample, "silver_deployments")["change_refs"]
    finally:
        restored = changes[changes["event_day"] == day]
        sample.warehouse.replace_partition("silver_changes", restored, "event_day", day, next_day)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["missing"].value == 1
    assert result.metadata["sample"].value == [f"{shipped['deployment_id']} -> {gone}"]


def test_root_cause_links_warn_on_a_sha_no_production_deployment_shipped(sample):
    incidents = sample.tables["silver_incidents"]
    linked = incidents["root_cause_sha"].notna() & (incidents["root_cause_sha"].str.len() == 40)
    assert linked.any(), "the sample must have a full-sha root cause"
    ok = check(sample, "silver_incidents")["root_cause_links"]
    assert ok.passed and ok.metadata["full_sha_root_causes"].value == int(linked.sum())
    wrong = incidents.copy()
    first = wrong.index[linked][0]
    wrong.loc[first, "root_cause_sha"] = "f" * 40
    wrong.loc[first, "root_cause_raw"] = "f" * 40
    result = check(sample, "silver_incidents", wrong)["root_cause_links"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["sample"].value == [f"{wrong.loc[first, 'incident_id']} -> {'f' * 12}"]


def test_quarantine_rate_counts_rejected_deliveries_against_the_windows_deliveries(sample):
    bronze = sample.warehouse.read_window("bronze_deliveries", "event_day", START, END,
                                          columns=["delivery_id", "event_type", "event_day"])
    deploy_events = bronze[bronze["event_type"].isin(["deployment", "deployment_status"])]
    n_bad = len(deploy_events) // 5
    rejects = pd.DataFrame({"source": "github", "record_ref": deploy_events["delivery_id"].head(n_bad),
                            "partition_day": deploy_events["event_day"].head(n_bad),
                            "reason": "deployment has no created_at", "record": "{}"})
    result = check(sample, "silver_deployments", rejects=rejects)["quarantine_rate"]
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["read"].value == len(deploy_events)
    assert result.metadata["quarantined"].value == n_bad


@pytest.fixture(scope="module")
def sample_on_mongodb(sample, secantus_rs_uri):
    from devmetrics_assets.storage.mongo import MongoWarehouse

    database = f"devmetrics_test_silver_{uuid.uuid4().hex[:12]}"
    yield copy_to_mongo(sample.warehouse, secantus_rs_uri, database,
                        {name: ("event_day", START, END) for name in MODELS})
    MongoWarehouse(secantus_rs_uri, database).client.drop_database(database)


@pytest.mark.mongo
@pytest.mark.parametrize("name", list(MODELS))
def test_the_mongodb_backend_gets_the_same_answers(sample, sample_on_mongodb, name):
    _, schema, key = MODELS[name]
    rows = sample.tables[name]
    if name == "silver_incidents":  # one unlinked root cause, so the comparison covers a failure too
        full = rows["root_cause_sha"].str.len() == 40
        rows = rows.assign(root_cause_sha=rows["root_cause_sha"].mask(full & (rows.index == full.idxmax()),
                                                                        "e" * 40))
    rejects = sample.rejects[name]
    on_duckdb = silver_check_results(name, schema, key, rows, rejects, sample.warehouse, START, END)
    on_mongodb = silver_check_results(name, schema, key, rows, rejects, sample_on_mongodb, START, END)
    assert [(r.check_name, r.passed, r.metadata) for r in on_duckdb] == \
        [(r.check_name, r.passed, r.metadata) for r in on_mongodb]
