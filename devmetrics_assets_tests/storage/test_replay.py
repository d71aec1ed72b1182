"""replay_quarantine on a real DuckDB file, and a replay that really re-reads a fixed landing file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.defs.bronze import build_bronze_asset, secret_resource_key
from devmetrics_assets.defs.resources import WebhookSecretResource
from devmetrics_assets.partitions import partition_set
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.io_manager import WarehouseResource
from devmetrics_assets.storage.replay import ReplayTarget, plan_replay, replay_quarantine
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms.quarantine import quarantine_rows


def rejects(rows: list[tuple[str, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["github"] * len(rows),
            "record_ref": [r[0] for r in rows],
            "partition_day": pd.Series(
                [pd.Timestamp(r[1]) if r[1] else pd.NaT for r in rows], dtype="datetime64[us]"
            ),
            "reason": [r[2] for r in rows],
            "record": ["{}"] * len(rows),
        }
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb")
    w.upsert_quarantine(
        quarantine_rows(
            "bronze",
            "bronze_github",
            rejects(
                [
                    ("file:2025-03-04.jsonl:3", None, "line is not valid JSON"),  # day from the file name
                    ("file:2025-03-06.jsonl:1", "2025-03-06", "signature mismatch: X-Hub-Signature-256"),
                    ("file:import-ab12.jsonl:7", None, "line is not valid JSON"),  # no day anywhere
                    ("file:import-ab12.jsonl:8", "2025-03-02", "headers is missing or not an object"),
                ]
            ),
        )
    )
    for day in ("2025-03-01", "2025-03-03"):
        w.upsert_quarantine(
            quarantine_rows(
                "silver",
                "silver_deployments",
                rejects([(f"dep-{day}", day, "deployment.created_at missing")]),
            ),
            replace_asset="silver_deployments",
            start=day,
            end=pd.Timestamp(day) + pd.Timedelta(days=1),
        )
    w.upsert_quarantine(
        quarantine_rows(
            "silver",
            "silver_incidents",
            rejects(
                [
                    ("inc-1", "2025-03-02", "issue.created_at missing"),
                    ("inc-2", "2025-03-02", "issue.number missing"),
                ]
            ),
        )
    )
    return w


def test_targets_per_asset_bronze_first_with_the_days_to_rerun(warehouse: Warehouse):
    targets = replay_quarantine(warehouse)
    assert targets == [
        ReplayTarget(
            "bronze",
            "bronze_github",
            (date(2025, 3, 2), date(2025, 3, 4), date(2025, 3, 6)),
            4,
            unresolved=("file:import-ab12.jsonl:7",),
        ),
        ReplayTarget("silver", "silver_deployments", (date(2025, 3, 1), date(2025, 3, 3)), 2),
        ReplayTarget("silver", "silver_incidents", (date(2025, 3, 2),), 2),
    ]
    asset, days = targets[1]  # unpacks as (asset, partition days)
    assert asset == "silver_deployments" and days == (date(2025, 3, 1), date(2025, 3, 3))


def test_filters_by_layer_asset_and_reason(warehouse: Warehouse):
    assert [t.asset for t in replay_quarantine(warehouse, layer="silver")] == [
        "silver_deployments",
        "silver_incidents",
    ]
    assert [
        (t.asset, t.rows)
        for t in replay_quarantine(warehouse, asset="silver_incidents", reason_like="NUMBER")
    ] == [("silver_incidents", 1)]
    (sig,) = replay_quarantine(warehouse, reason_like="signature")
    assert sig.days == (date(2025, 3, 6),) and sig.unresolved == ()
    (pattern,) = replay_quarantine(warehouse, reason_like="deployment.%missing")
    assert pattern.asset == "silver_deployments" and pattern.rows == 2
    assert len(replay_quarantine(warehouse, reason_like="created_at")) == 2
    assert replay_quarantine(warehouse, layer="gold") == []
    with pytest.raises(ValueError, match="unknown layer 'platinum'"):
        replay_quarantine(warehouse, layer="platinum")


def test_nothing_quarantined_is_nothing_to_replay(tmp_path: Path):
    assert replay_quarantine(Warehouse(tmp_path / "none.duckdb")) == []
    assert plan_replay(pd.DataFrame(columns=["layer", "asset", "record_ref", "partition_day"])) == []


def envelope(delivery_id: str, received_at: str) -> str:
    body = {
        "zen": "Keep it logically awesome.",
        "hook_id": 1,
        "repository": {"full_name": "acme/api", "default_branch": "main"},
    }
    return json.dumps(
        {
            "received_at": received_at,
            "delivery_id": delivery_id,
            "headers": {"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery_id},
            "body": body,
        }
    )


def test_replaying_the_bronze_target_rereads_the_fixed_landing_file(tmp_path: Path):
    landing = tmp_path / "landing" / "github"
    landing.mkdir(parents=True)
    day_file = landing / "2025-03-04.jsonl"
    good = envelope("d-1", "2025-03-04T09:00:00Z")
    broken = envelope("d-2", "2025-03-04T10:00:00Z")[:-5]  # truncated: not JSON
    day_file.write_text(good + "\n" + broken + "\n")
    spec = SourceSpec(
        name="github",
        type="github_jsonl",
        provider="github",
        landing_dir=landing,
        secret_env=None,
        description="test source",
    )
    bronze = build_bronze_asset(spec, partition_set("2024-12-01").daily)
    path = tmp_path / "w.duckdb"
    resources = {
        "warehouse": WarehouseResource(path=str(path)),
        secret_resource_key(spec): WebhookSecretResource(),
    }
    warehouse = Warehouse(path)
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [bronze], instance=instance, resources=resources, partition_key="2025-03-04"
        ).success
        assert warehouse.query("SELECT count(*) AS n FROM bronze_deliveries")["n"][0] == 1
        (target,) = replay_quarantine(warehouse, layer="bronze")
        assert (target.asset, target.days) == ("bronze_github", (date(2025, 3, 4),))

        day_file.write_text(good + "\n" + envelope("d-2", "2025-03-04T10:00:00Z") + "\n")  # the fix
        for day in target.days:
            assert dg.materialize(
                [bronze], instance=instance, resources=resources, partition_key=day.isoformat()
            ).success
    ids = warehouse.query("SELECT delivery_id FROM bronze_deliveries ORDER BY delivery_id")["delivery_id"]
    assert list(ids) == ["d-1", "d-2"]  # the fixed line is in, the good one is not doubled
