"""The Dagster instance set-up: dagster.yaml with run monitoring, runs killed with kill -9 marked failed
and notified, one UI per home. The killed runs are real processes on a real SQLite instance."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.sensors import notification_sensors
from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.instance_setup import (
    DAGSTER_YAML,
    MARKER,
    PROFILE_ENV,
    WAREHOUSE_TAG,
    InstanceProfileError,
    UiAlreadyRunningError,
    fail_orphaned_runs,
    instance_profile,
    prepare_environment,
    ui_lock,
    warehouse_tags,
)
from devmetrics_assets.runner import DAILY_JOB, MONTHLY_JOB, WEEKLY_JOB
from devmetrics_assets_tests.cli.test_user_errors import devmetrics, one_line_error
from devmetrics_assets_tests.conftest import settings_in

SLOW_RUN = textwrap.dedent("""
    import time, dagster as dg
    from devmetrics_assets.runner import process_tags

    @dg.asset(group_name="silver")
    def slow_asset():
        time.sleep(120)

    with dg.DagsterInstance.get() as instance:
        dg.materialize([slow_asset], instance=instance, tags=process_tags() if {tagged} else {{}})
""")


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return prepare_environment(Settings.from_env())


def test_the_instance_config_enables_run_monitoring_and_keeps_a_file_someone_else_wrote(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    home = prepare_environment(Settings.from_env())
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True and config["telemetry"]["enabled"] is False
    with dg.DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")  # someone's own file
    prepare_environment(Settings.from_env())
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # what older versions wrote
    prepare_environment(Settings.from_env())
    assert (home / "dagster.yaml").read_text().startswith(MARKER)


def start_and_kill(tagged: bool) -> str:
    """Start a slow run in its own process, kill -9 it once STARTED; return its run id."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN.format(tagged=tagged)], env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with dg.DagsterInstance.get() as instance:
                started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                if started and instance.get_records_for_run(started[0].run_id, limit=50).records:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the run never started")
        time.sleep(1.0)  # inside the step
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return started[0].run_id


@pytest.mark.slow
@pytest.mark.parametrize("tagged", [True, False], ids=["cli-run", "launched-run"])
def test_a_run_killed_with_kill_9_is_marked_failed_and_notified(dagster_home, tmp_path, tagged) -> None:
    run_id = start_and_kill(tagged)
    home = tmp_path / "home"
    failed_runs = notification_sensors(lambda: build_notifier(None, home))[1]
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # Dagster alone: forever
        first = failed_runs.evaluate_tick(dg.build_sensor_context(instance=instance))  # starts watching
        assert fail_orphaned_runs(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert fail_orphaned_runs(instance) == []  # once
        failed_runs.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    told = [json.loads(line) for line in (home / "notifications.jsonl").read_text().splitlines()]
    assert [n["title"] for n in told] == ["Materialisation failed: slow_asset"]
    assert "is gone" in told[0]["body"] and run_id in told[0]["body"]


def test_a_second_ui_lock_on_the_same_home_is_refused(dagster_home) -> None:
    first = ui_lock(dagster_home)
    try:
        with pytest.raises(UiAlreadyRunningError, match="already running"):
            ui_lock(dagster_home)
    finally:
        first.close()
    ui_lock(dagster_home).close()  # released with its holder


def test_the_local_profile_is_the_default_and_writes_the_sqlite_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert instance_profile() == "local"
    assert (prepare_environment(Settings.from_env()) / "dagster.yaml").read_text() == DAGSTER_YAML
    # One writer per DuckDB file on this profile too: automation and arrival runs queue, never collide.
    assert yaml.safe_load(DAGSTER_YAML)["run_queue"]["tag_concurrency_limits"] == [
        {"key": WAREHOUSE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    monkeypatch.setenv(PROFILE_ENV, "Local")
    assert instance_profile() == "local"


@pytest.mark.parametrize(("environ", "says"), [
    ({PROFILE_ENV: "staging"}, "expected one of local, production"),
    ({PROFILE_ENV: "production"}, "set DAGSTER_PG_URL, or DAGSTER_PG_HOST, DAGSTER_PG_USER, DAGSTER_PG_DB, "
                                  "DAGSTER_PG_PASSWORD"),
    ({PROFILE_ENV: "production", "DAGSTER_PG_HOST": "db", "DAGSTER_PG_USER": "u", "DAGSTER_PG_DB": "d"},
     "set DAGSTER_PG_URL, or DAGSTER_PG_PASSWORD"),
    ({PROFILE_ENV: "production", "DAGSTER_PG_HOST": "db", "DAGSTER_PG_USER": "u", "DAGSTER_PG_DB": "d",
      "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_PORT": "5x"}, "DAGSTER_PG_PORT='5x'"),
    ({PROFILE_ENV: "production", "DAGSTER_PG_URL": "postgresql://u@db/d"}, "must start with postgresql+psycopg2://"),
], ids=["unknown", "no-postgres", "no-password", "bad-port", "url-without-driver"])
def test_a_bad_profile_names_what_to_set(environ, says) -> None:
    with pytest.raises(InstanceProfileError, match=re.escape(says)):
        instance_profile(environ)


def test_the_production_file_reads_the_connection_from_the_environment_and_never_holds_it(
        tmp_path, monkeypatch) -> None:
    secret = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_USER": "dagster", "DAGSTER_PG_DB": "dagster",
              "DAGSTER_PG_PASSWORD": "s3cret-Pa55", "DAGSTER_PG_PORT": "6543"}
    for name, value in {PROFILE_ENV: "production", **secret}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    text = (prepare_environment(Settings.from_env()) / "dagster.yaml").read_text()
    assert text.startswith(MARKER)
    assert not [value for value in secret.values() if value != "dagster" and value in text]
    config = yaml.safe_load(text)
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert config["storage"]["postgres"]["postgres_db"]["port"] == {"env": "DAGSTER_PG_PORT"}
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]
    assert config["run_queue"]["tag_concurrency_limits"] == [
        {"key": WAREHOUSE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert config["retention"]["sensor"]["purge_after_days"]["skipped"] > 0
    monkeypatch.setenv(PROFILE_ENV, "local")  # back to local: our file is rewritten
    assert (prepare_environment(Settings.from_env()) / "dagster.yaml").read_text() == DAGSTER_YAML


def test_the_asset_jobs_carry_the_duckdb_file_they_write(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    settings = settings_in(tmp_path)
    defs = build_definitions(settings, sources=[])
    for job in (DAILY_JOB, WEEKLY_JOB, MONTHLY_JOB):
        assert defs.resolve_job_def(job).tags[WAREHOUSE_TAG] == str(settings.warehouse_path.resolve())
    assert warehouse_tags(settings, {"MONGODB_URI": "mongodb://db"}) == {}  # MongoDB takes many writers


def test_devmetrics_refuses_a_bad_profile_in_one_line_before_writing(tmp_path) -> None:
    env = {"DEVMETRICS_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dh"),
           PROFILE_ENV: "production", "DAGSTER_PG_URL": ""}
    one_line_error(devmetrics("status", env=env), "DEVMETRICS_PROFILE=production needs PostgreSQL")
    one_line_error(devmetrics("ui", "--profile", "production", env={**env, PROFILE_ENV: "local"}),
                   "set DAGSTER_PG_URL")
    assert not (tmp_path / "dh" / "dagster.yaml").exists()
