"""The Bronze asset of a `github_api` source, materialised by Dagster against the local fake GitHub."""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.defs.bronze import build_bronze_asset, secret_resource_key
from devmetrics_assets.defs.resources import WebhookSecretResource
from devmetrics_assets.partitions import partition_set
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.io_manager import WarehouseResource
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.sources.pull.github_fake import FakeGitHub


def test_bronze_partition_of_an_api_source_is_a_backfill_that_reruns_to_nothing(
    tmp_path, api, monkeypatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    FakeGitHub(api)
    spec = SourceSpec(
        name="gh_api",
        type="github_api",
        provider="github",
        landing_dir=tmp_path / "landing" / "gh_api",
        secret_env=None,
        description="GitHub REST pull",
        options=FakeGitHub.options(api),
    )
    asset = build_bronze_asset(spec, partition_set("2024-12-01").daily)
    resources = {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        secret_resource_key(spec): WebhookSecretResource(secret=None),
    }
    instance = dg.DagsterInstance.ephemeral()

    first = dg.materialize([asset], resources=resources, partition_key="2025-03-10", instance=instance)
    second = dg.materialize([asset], resources=resources, partition_key="2025-03-10", instance=instance)

    meta = [next(iter(r.asset_materializations_for_node(spec.asset_name))).metadata for r in (first, second)]
    assert meta[0]["inserted"].value == meta[0]["deliveries_read"].value == 28
    assert meta[1]["inserted"].value == 0 and meta[1]["duplicates_skipped"].value == 28
    assert meta[0]["quarantined"].value == 1
    stored = Warehouse(tmp_path / "w.duckdb").query(
        "SELECT count(*) AS n, min(received_day) AS lo, max(received_day) AS hi FROM bronze_deliveries"
    )
    assert (
        stored["n"].iloc[0] == 28
        and str(stored["lo"].iloc[0])[:10] == str(stored["hi"].iloc[0])[:10] == "2025-03-10"
    )
