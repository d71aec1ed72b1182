"""Bronze on arrival reads only new whole lines, and ends where a whole read of the same file ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.defs.bronze import READ_NEW_LINES, READ_TAG, build_bronze_asset
from devmetrics_assets.defs.resources import WebhookSecretResource
from devmetrics_assets.sources.landing_files import encode_line, envelope
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.io_manager import WarehouseResource
from devmetrics_assets.storage.warehouse import Warehouse

DAY = "2025-03-04"
KEPT = ["source", "provider", "delivery_id", "event_type", "received_at", "received_day", "event_at",
        "event_day", "headers", "body", "payload_sha256", "signature_status"]


def line(i: int, minute: int, delivery: str | None = None) -> bytes:
    body = {"ref": "refs/heads/main", "after": f"{i:040x}", "commits": [], "repository": {"full_name": "a/b"}}
    return encode_line(envelope(
        received_at=datetime(2025, 3, 4, 10, minute, tzinfo=UTC), delivery_id=delivery or f"d-{i}",
        provider="github", event_type="push", signature_status="verified", headers={},
        body_raw=json.dumps(body)))


def spec_in(home: Path) -> SourceSpec:
    return SourceSpec(name="hooks", type="landing_jsonl", provider="github", secret_env=None,
                      description="test", landing_dir=home / "landing" / "hooks", tier="near_real_time")


def run(home: Path, instance: dg.DagsterInstance, incremental: bool) -> dict:
    partitions = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_offset=1)
    asset = build_bronze_asset(spec_in(home), partitions)
    result = dg.materialize(
        [asset], instance=instance, partition_key=DAY, tags={READ_TAG: READ_NEW_LINES} if incremental else {},
        resources={"warehouse": WarehouseResource(path=str(home / "w.duckdb")),
                   "hooks_webhook_secret": WebhookSecretResource(secret=None)})
    assert result.success
    (mat,) = result.asset_materializations_for_node("bronze_hooks")
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def stored(home: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    wh = Warehouse(home / "w.duckdb")
    rows = wh.read_table("bronze_deliveries")[KEPT].sort_values("delivery_id").reset_index(drop=True)
    bad = wh.read_table("quarantine")[["record_ref", "reason", "partition_day"]]
    return rows, bad.sort_values("record_ref").reset_index(drop=True)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


@pytest.fixture(autouse=True)
def pinned(monkeypatch, tmp_path):
    monkeypatch.setenv("DEVMETRICS_NOW", "2025-03-04T12:00:00Z")
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "settings"))


def test_incremental_reads_equal_one_whole_read_and_a_rerun_changes_nothing(tmp_path: Path):
    steps = tmp_path / "steps"
    whole = tmp_path / "whole"
    for home in (steps, whole):
        (home / "landing" / "hooks").mkdir(parents=True)
    path = steps / "landing" / "hooks" / f"{DAY}.jsonl"
    second = line(3, 3)
    with dg.instance_for_test() as instance:
        append(path, line(1, 1) + b"not json\n" + line(2, 2) + second[:20])  # the receiver mid-append
        first = run(steps, instance, incremental=True)
        assert (first["deliveries_read"], first["inserted"], first["run_rejects"]) == (2, 2, 1)
        append(path, second[20:] + line(4, 4) + line(1, 5, delivery="d-1"))  # d-1 redelivered
        later = run(steps, instance, incremental=True)
        assert (later["deliveries_read"], later["inserted"], later["duplicates_skipped"]) == (3, 2, 1)
        nothing = run(steps, instance, incremental=True)
        assert (nothing["deliveries_read"], nothing["inserted"], nothing["run_rejects"]) == (0, 0, 0)
        (whole / "landing" / "hooks" / path.name).write_bytes(path.read_bytes())
        run(whole, instance, incremental=False)
        by_steps, by_whole = stored(steps), stored(whole)
        pd.testing.assert_frame_equal(by_steps[0], by_whole[0])
        pd.testing.assert_frame_equal(by_steps[1], by_whole[1])
        # A full re-run of the partition (a backfill) after the incremental ones stores the same result.
        rerun = run(steps, instance, incremental=False)
        assert rerun["inserted"] == 0
        pd.testing.assert_frame_equal(stored(steps)[0], by_whole[0])
        pd.testing.assert_frame_equal(stored(steps)[1], by_whole[1])
        assert Warehouse(steps / "w.duckdb").landing_offsets("hooks") == {
            path.name: (path.stat().st_size, 6)}
