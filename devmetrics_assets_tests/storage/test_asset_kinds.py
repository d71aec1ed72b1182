"""Asset kinds name the configured storage backend (storage/selection.py), not a hard-coded DuckDB."""

from __future__ import annotations

import pytest

from devmetrics_assets.definitions import build_definitions
from devmetrics_assets_tests.conftest import settings_in


def storage_kinds(defs) -> dict[str, set[str]]:
    """asset key -> the storage kinds among its kinds."""
    specs = defs.resolve_all_asset_specs()
    return {spec.key.to_user_string(): set(spec.kinds) & {"duckdb", "mongodb"} for spec in specs}


@pytest.mark.parametrize("uri, kind", [("mongodb://127.0.0.1:1/?replicaSet=rs0", "mongodb"), ("", "duckdb")])
def test_asset_kinds_follow_the_configured_backend(tmp_path, monkeypatch, uri, kind):
    monkeypatch.setenv("MONGODB_URI", uri)  # building the definitions connects to nothing
    kinds = storage_kinds(build_definitions(settings_in(tmp_path)))
    layers = {"bronze_github", "silver_changes", "silver_deployments", "silver_incidents", "gold_dora_daily",
              "gold_dora_weekly", "gold_dora_monthly", "gold_fact_deployments", "quarantine"}
    assert layers <= set(kinds)
    assert {k: v for k, v in kinds.items() if k in layers} == {k: {kind} for k in layers}
