"""The production instance profile on a real PostgreSQL server (started by the `postgres_server` fixture):
the written dagster.yaml loads as a PostgreSQL-backed instance, the whole graph runs on a small sample
organisation with its runs and events stored there, and a run killed with kill -9 is marked failed."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.instance_setup import WAREHOUSE_TAG, fail_orphaned_runs, prepare_environment
from devmetrics_assets.runner import GOLD_DAILY, materialise_days
from devmetrics_assets_tests.conftest import SAMPLE_START, land_sample, settings_in
from devmetrics_assets_tests.pg_server import PostgresServer
from devmetrics_assets_tests.test_instance_setup import start_and_kill

# slow like the SQLite kill -9 tests: a whole graph run and process start-ups (about 1 minute in all).
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PG_VARIABLES = ("DAGSTER_PG_URL", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


def production_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: PostgresServer, *,
                    as_url: bool) -> Path:
    """DAGSTER_HOME prepared with the production profile, pointed at `server` (its own database)."""
    for name in PG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in server.environ(as_url=as_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEVMETRICS_PROFILE", "production")
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("MONGODB_URI", raising=False)  # the DuckDB default, which the run queue limits
    return prepare_environment(Settings.from_env())


def test_the_production_profile_runs_the_graph_with_runs_and_events_in_postgresql(
        tmp_path, monkeypatch, postgres_server) -> None:
    server = postgres_server.new_database("graph")
    home = production_home(tmp_path, monkeypatch, server, as_url=True)
    text = (home / "dagster.yaml").read_text()
    assert yaml.safe_load(text)["storage"]["postgres"] == {"postgres_url": {"env": "DAGSTER_PG_URL"}}
    assert str(server.port) not in text  # the connection stays in the environment, never in the file

    org = generate_sample_org(tmp_path / "generated", repos=2, days=8, start=SAMPLE_START, seed=11)
    settings = settings_in(tmp_path / "home")
    days = land_sample(org, settings)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        results = materialise_days(build_definitions(settings), instance, days)
        assert results and all(r.success for r in results)
        runs = [instance.get_run_by_id(r.run_id) for r in results]
        assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        # Every run carries the DuckDB file it wrote: what the production run queue limits to one at a time.
        assert {run.tags.get(WAREHOUSE_TAG) for run in runs} == {str(settings.warehouse_path.resolve())}
        daily = instance.fetch_materializations(dg.AssetKey(GOLD_DAILY), limit=1000).records
        assert sorted(r.partition_key for r in daily) == [d.isoformat() for d in days]
    # Read back from PostgreSQL itself, not through Dagster: the runs and their events are stored there.
    stored_runs = {row[0] for row in server.query("SELECT run_id FROM runs WHERE status = 'SUCCESS'")}
    assert stored_runs == {r.run_id for r in results}
    materialised = server.query("SELECT count(*) FROM event_logs"
                                " WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
                                f" AND asset_key = '{dg.AssetKey(GOLD_DAILY).to_string()}'")
    assert materialised[0][0] == len(days)


@pytest.mark.parametrize("tagged", [True, False], ids=["cli-run", "launched-run"])
def test_a_run_killed_with_kill_9_is_marked_failed_on_postgresql(tmp_path, monkeypatch, postgres_server,
                                                                 tagged) -> None:
    server = postgres_server.new_database(re.sub(r"\W", "_", f"killed_{tagged}").lower())
    production_home(tmp_path, monkeypatch, server, as_url=False)
    run_id = start_and_kill(tagged)  # a separate process, reading the same dagster.yaml and variables
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        assert fail_orphaned_runs(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert fail_orphaned_runs(instance) == []
    assert server.query(f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [("FAILURE",)]
