"""Shared fixtures: a small sample organisation materialised once through the real graph.

The graph runs on a real SQLite Dagster instance and a real DuckDB warehouse in a temporary
folder, exactly as the CLI does, so the end-to-end tests compare Gold with the generator's truth.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.config import Settings, configured_partition_start
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, SampleOrg, generate_sample_org
from devmetrics_assets.runner import materialise_days
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.pg_server import PostgresServer, find_bin_dir, running_postgres

SAMPLE_START = date(2025, 1, 1)


@dataclass
class Materialised:
    org: SampleOrg
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Warehouse
    days: list[date]


def settings_in(root: Path) -> Settings:
    return Settings(
        home=root,
        warehouse_path=root / "warehouse.duckdb",
        landing_dir=root / "landing",
        rules_path=root / "rules.yaml",
        partition_start=configured_partition_start(),
    )


def land_sample(org: SampleOrg, settings: Settings) -> list[date]:
    landing = settings.landing_dir / "github"
    landing.mkdir(parents=True, exist_ok=True)
    for path in org.deliveries_dir.glob("*.jsonl"):
        shutil.copyfile(path, landing / path.name)
    shutil.copyfile(org.rules_path, settings.rules_path)
    received = sorted(date.fromisoformat(p.stem) for p in org.deliveries_dir.glob("*.jsonl"))
    return [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]


@pytest.fixture(scope="session")
def materialised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Materialised]:
    root = tmp_path_factory.mktemp("sample")
    org = generate_sample_org(root / "generated", repos=4, days=45, start=SAMPLE_START, seed=11)
    settings = settings_in(root / "home")
    days = land_sample(org, settings)
    previous = os.environ.get("GITHUB_WEBHOOK_SECRET")
    os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
    # These suites are about the embedded DuckDB default; the MongoDB suites read MONGODB_URI themselves.
    mongodb_uri = os.environ.pop("MONGODB_URI", None)
    try:
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            results = materialise_days(defs, instance, days)
            assert all(r.success for r in results)
            yield Materialised(org, settings, defs, instance, Warehouse(settings.warehouse_path), days)
    finally:
        if mongodb_uri is not None:
            os.environ["MONGODB_URI"] = mongodb_uri
        if previous is None:
            os.environ.pop("GITHUB_WEBHOOK_SECRET", None)
        else:
            os.environ["GITHUB_WEBHOOK_SECRET"] = previous


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server (127.0.0.1, free port, temporary folder) for the `postgres` tests."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb on the PATH or in /usr/lib/postgresql/*/bin); "
                    "Debian: apt-get install postgresql")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    with running_postgres(bin_dir) as server:
        yield server
