"""Bronze checks on real DuckDB warehouses: volume, gaps, drift, freshness (test clock), quarantine rate."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.checks import validations as V
from devmetrics_assets.checks.bronze_checks import (
    bronze_check_results,
    bronze_check_specs,
    bronze_validations,
)
from devmetrics_assets.defs.bronze import build_bronze_asset, secret_resource_key
from devmetrics_assets.defs.resources import WebhookSecretResource
from devmetrics_assets.demo.sample_org import generate_sample_org
from devmetrics_assets.partitions import partition_set
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.io_manager import WarehouseResource
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.mongo_support import copy_to_mongo

WINDOW = (pd.Timestamp("2025-03-18"), pd.Timestamp("2025-03-19"))  # a Tuesday
AFTER_WINDOW = pd.Timestamp("2025-03-19 01:00", tz="UTC")
NAMES = ["quarantine_rate", "volume_anomaly", "delivery_gaps", "schema_drift", "freshness",
         "redelivery_conflicts", "signature_verification"]


def spec_for(tier: str = "daily", name: str = "github", landing: Path = Path("/nonexistent")) -> SourceSpec:
    return SourceSpec(name=name, type="github_jsonl", provider="github", landing_dir=landing, secret_env=None,
                      description="test source", tier=tier)


def push_body(i: int) -> dict:
    return {"ref": "refs/heads/main", "after": f"{i:040x}", "commits": [],
            "repository": {"id": 1, "full_name": "acme/api", "default_branch": "main"},
            "sender": {"login": "dev", "id": 7}}


def bronze_frame(source: str, received: list[pd.Timestamp], bodies: list[dict]) -> pd.DataFrame:
    texts = [json.dumps(b) for b in bodies]
    return pd.DataFrame({
        "source": source, "provider": "github",
        "delivery_id": [f"{source}-{t.value}-{i}" for i, t in enumerate(received)],
        "event_type": "push",
        "received_at": pd.Series(received, dtype="datetime64[us, UTC]"),
        "headers": "{}", "body": texts,
        "payload_sha256": [hashlib.sha256(t.encode()).hexdigest() for t in texts],
        "signature_status": "verified", "load_batch_id": "test",
    })


def history(source: str, last_day: str, per_weekday: int = 12, weeks: int = 8,
            body=push_body, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """Deliveries every working day (08:00 to 20:00) for `weeks` weeks up to and including last_day."""
    received = []
    for day in pd.date_range(pd.Timestamp(last_day) - pd.Timedelta(weeks=weeks), last_day, freq="D"):
        if day.weekday() < 5 and day.date().isoformat() not in skip:
            received += [pd.Timestamp(day, tz="UTC") + pd.Timedelta(minutes=480 + k * 720 // per_weekday)
                         for k in range(per_weekday)]
    return bronze_frame(source, received, [body(i) for i in range(len(received))])


@pytest.fixture()
def wh(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "wh.duckdb")


def results_by_name(results) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in results}


def run_checks(wh, spec=None, now=AFTER_WINDOW, rows=None, rejects=None):
    rows = pd.DataFrame({"x": range(10)}) if rows is None else rows
    rejects = pd.DataFrame({"record_ref": []}) if rejects is None else rejects
    return results_by_name(bronze_check_results(spec or spec_for(), wh, *WINDOW, rows, rejects, now=now))


def test_specs_name_the_tier_and_only_signature_verification_blocks():
    specs = {s.name: s for s in bronze_check_specs(spec_for("hourly"))}
    assert list(specs) == NAMES
    assert [name for name, s in specs.items() if s.blocking] == ["signature_verification"]
    assert "hourly" in specs["freshness"].description and "1:00:00" in specs["freshness"].description


def test_clean_source_passes_every_check(wh):
    wh.append_bronze(history("github", "2025-03-18"))
    wh.append_bronze(history("other", "2025-03-10", per_weekday=1))  # another source never counts
    results = run_checks(wh)
    assert list(results) == NAMES
    assert all(r.passed for r in results.values()), {n: r.description for n, r in results.items()}
    assert results["volume_anomaly"].metadata["deliveries_in_window"].value == 12


def test_collapsed_day_warns_on_volume_and_empty_day_on_gaps(wh):
    frame = history("github", "2025-03-18", per_weekday=40)
    window_day = frame["received_at"].dt.date == date(2025, 3, 18)
    wh.append_bronze(frame[~window_day | (frame.index % 8 == 0)])  # 5 of 40 deliveries that Tuesday
    results = run_checks(wh)
    assert not results["volume_anomaly"].passed and results["delivery_gaps"].passed
    assert results["volume_anomaly"].severity == dg.AssetCheckSeverity.WARN
    assert "2025-03-18: 5 deliveries vs median 40" in results["volume_anomaly"].description


def test_gap_day_warns(tmp_path):
    wh = Warehouse(tmp_path / "gap.duckdb")
    wh.append_bronze(history("github", "2025-03-18", skip=("2025-03-18",)))
    results = run_checks(wh, now=pd.Timestamp("2025-03-19 00:30", tz="UTC"))
    assert not results["delivery_gaps"].passed
    assert results["delivery_gaps"].metadata["sample"].value == ["2025-03-18"]
    assert results["delivery_gaps"].severity == dg.AssetCheckSeverity.WARN


def test_only_the_window_is_judged(wh):
    # A collapsed day two weeks ago does not fail today's run (checks never judge all partitions).
    frame = history("github", "2025-03-18")
    old_day = frame["received_at"].dt.date == date(2025, 3, 4)
    wh.append_bronze(frame[~old_day])
    results = run_checks(wh)
    assert results["volume_anomaly"].passed and results["delivery_gaps"].passed


def test_schema_drift_warns_with_the_field_lists(wh):
    def renamed(i: int) -> dict:
        body = push_body(i)
        body["repo"] = body.pop("repository")
        return body

    frame = history("github", "2025-03-17")
    wh.append_bronze(frame)
    received = [pd.Timestamp("2025-03-18 09:00", tz="UTC") + pd.Timedelta(minutes=i) for i in range(12)]
    wh.append_bronze(bronze_frame("github", received, [renamed(1000 + i) for i in range(12)]))
    drift = run_checks(wh)["schema_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert drift.metadata["appeared"].value == {"push": ["repo", "repo.default_branch", "repo.full_name",
                                                         "repo.id"]}
    assert "repository" in drift.metadata["disappeared"].value["push"]


@pytest.mark.parametrize("tier", ["near_real_time", "hourly", "daily"])
def test_stopped_source_fails_freshness_within_its_window_and_passes_before(wh, tier):
    frame = history("github", "2025-03-18")
    wh.append_bronze(frame)
    stopped = frame["received_at"].max()  # then the source stops
    fail, warn = V.tier_windows(tier)
    spec = spec_for(tier)

    def freshness(after: timedelta) -> dg.AssetCheckResult:
        return run_checks(wh, spec, now=stopped + after)["freshness"]

    before = freshness(warn - timedelta(minutes=1))
    assert before.passed and before.metadata["state"].value == "fresh"
    late = freshness(warn + timedelta(minutes=1))
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
    quiet = freshness(fail + timedelta(minutes=1))
    assert not quiet.passed and quiet.severity == dg.AssetCheckSeverity.ERROR
    assert quiet.metadata["last_received_at"].value == stopped.isoformat()


def test_quarantine_rate_from_the_runs_rejects(wh):
    wh.append_bronze(history("github", "2025-03-18"))
    rejects = pd.DataFrame({"record_ref": [f"file:2025-03-18.jsonl:{i}" for i in range(5)]})
    result = run_checks(wh, rows=pd.DataFrame({"x": range(10)}), rejects=rejects)["quarantine_rate"]
    assert not result.passed and result.metadata["quarantined"].value == 5
    assert result.metadata["sample"].value[0] == "file:2025-03-18.jsonl:0"


@pytest.mark.mongo
def test_the_mongodb_backend_gets_the_same_answers(wh, secantus_rs_uri, fresh_database):
    frame = history("github", "2025-03-18")
    wh.append_bronze(frame[frame.index % 7 != 0])
    mongo = copy_to_mongo(wh, secantus_rs_uri, fresh_database(secantus_rs_uri), {})
    rows, rejects = pd.DataFrame({"x": range(10)}), pd.DataFrame({"record_ref": ["a"]})
    spec = spec_for("hourly")
    on_duckdb = bronze_validations(spec, wh, *WINDOW, rows, rejects, now=AFTER_WINDOW)
    on_mongodb = bronze_validations(spec, mongo, *WINDOW, rows, rejects, now=AFTER_WINDOW)
    assert [v.metadata() for v in on_duckdb] == [v.metadata() for v in on_mongodb]


def test_the_bronze_asset_yields_the_checks_and_a_quiet_source_does_not_fail_the_run(tmp_path):
    org = generate_sample_org(tmp_path / "org", repos=2, days=10, start=date(2025, 1, 1), seed=3)
    landing = tmp_path / "landing"
    shutil.copytree(org.deliveries_dir, landing)
    spec = spec_for("daily", landing=landing)
    asset = build_bronze_asset(spec, partition_set("2024-12-01").daily)
    resources = {"warehouse": WarehouseResource(path=str(tmp_path / "wh.duckdb")),
                 secret_resource_key(spec): WebhookSecretResource(secret=None)}
    with dg.instance_for_test() as instance:
        tags = {"dagster/asset_partition_range_start": "2025-01-01",
                "dagster/asset_partition_range_end": "2025-01-10"}
        result = dg.materialize([asset], instance=instance, resources=resources, tags=tags)
        assert result.success
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert sorted(evaluations) == sorted(NAMES)
    # The sample is history: its newest delivery is long past the daily window, so freshness fails at
    # ERROR severity, and being non-blocking it does not fail the run.
    assert not evaluations["freshness"].passed
    assert evaluations["freshness"].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations["quarantine_rate"].passed and evaluations["schema_drift"].passed
