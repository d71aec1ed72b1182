"""The production profile's sensors through a real `dagster-daemon run` on a real PostgreSQL server.

One daemon for the module, loading the code location from the repository's workspace.yaml, on a home
that already holds a small organisation's last 13 days of a month (loaded in process, as `devmetrics
load` does):

- a late production `success` status lands (with lines that are not JSON) and Bronze reloads its received
  day: the daemon's automation sensor materialises exactly the late event day's Silver and daily Gold,
  then its week and month, in runs tagged devmetrics/trigger=automation, and Gold ends equal to a load
  of everything at once; the Bronze `quarantine_rate` failure reaches a webhook on 127.0.0.1 through the
  daemon's check sensor;
- a run killed with kill -9 is marked failed by the daemon (the `devmetrics_run_reaper` sensor: Dagster's
  run monitoring cannot see a dead process under the default run launcher) and its failure reaches the
  webhook through the run-failure sensor.

Sensor intervals are 5 s and runs execute in process here (DEVMETRICS_SENSOR_INTERVAL_SECONDS,
DEVMETRICS_EXECUTOR; defs/daemon_tuning.py); every wait is a poll with a generous
deadline that, when missed, prints what it saw and the daemon's log.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.defs.automation import AUTOMATION_SENSOR, RUN_TAGS
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.instance_setup import prepare_environment
from devmetrics_assets.runner import DAILY_JOB, materialise_days, run_range
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.alerting.conftest import HttpReceiver
from devmetrics_assets_tests.daemon_process import (
    DaemonProcess,
    start_daemon,
    stop_daemon,
    wait_for,
    wait_until_alive,
)
from devmetrics_assets_tests.pg_server import PostgresServer
from devmetrics_assets_tests.test_instance_postgres import PG_VARIABLES
from devmetrics_assets_tests.test_instance_setup import start_and_kill

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = REPO_ROOT / "workspace.yaml"
# The last 13 days of January 2025: the late delivery's event day, its ISO week and its month then lie
# wholly inside the loaded history (automation waits while a partition Gold reads is missing, and with
# Dagster's real clock every later day of a past month exists).
START = date(2025, 1, 19)
DAYS = 13
SEED = 9  # its history has a late production `success` status 4 days after its deployment (2025-01-20)
SILVER = ["silver_changes", "silver_deployments", "silver_incidents"]
TRIGGER_KEY, TRIGGER = next(iter(RUN_TAGS.items()))
SENSORS = (AUTOMATION_SENSOR, "alerting_asset_checks", "alerting_failed_runs", "devmetrics_run_reaper")
# Generous: the late day takes five runs one after another (one writer per DuckDB file), each a process
# start on 2 shared cores; about 2 minutes here.
DEADLINE = 300.0
QUARANTINE_RATE = "Check failed: bronze_github / quarantine_rate"


@dataclass
class Deployment:
    server: PostgresServer
    settings: Settings
    landing: Path
    reference: Warehouse  # everything loaded at once, in process, on another home
    late: dict
    held: str
    hook: HttpReceiver
    daemon: DaemonProcess


def _environment(tmp: Path, server: PostgresServer) -> dict[str, str | None]:
    env: dict[str, str | None] = {name: None for name in PG_VARIABLES}
    env.update(server.environ(as_url=True))
    env.update({
        "DEVMETRICS_PROFILE": "production",
        "DEVMETRICS_HOME": str(tmp / "home"),
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "DEVMETRICS_PARTITION_START": START.isoformat(),
        # The product's judgement (freshness, complete days) as just after the history's last day; Dagster's
        # own clock (partitions, ticks) stays real.
        "DEVMETRICS_NOW": (START + timedelta(days=DAYS)).isoformat() + "T00:00:00Z",
        "DEVMETRICS_SENSOR_INTERVAL_SECONDS": "5",
        "DEVMETRICS_EXECUTOR": "in_process",  # a run process, no process per step: seconds, not minutes
        "GITHUB_WEBHOOK_SECRET": SAMPLE_WEBHOOK_SECRET,
        "DEVMETRICS_UI_URL": None, "DEVMETRICS_ALERTING": None, "DEVMETRICS_SOURCES": None,
        "DEVMETRICS_OPENLINEAGE_URL": None, "MONGODB_URI": None, "DEVMETRICS_WAREHOUSE": None,
        "DEVMETRICS_LANDING": None, "DEVMETRICS_RULES": None,
    })
    return env


def _alerting_yaml(home: Path, hook: HttpReceiver) -> None:
    config = {"channels": {"hook": {"type": "webhook", "url": hook.url("/devmetrics")}},
              "default_channels": ["hook"], "fallback_channel": "console"}
    (home / "alerting.yaml").write_text(yaml.safe_dump(config))


def _land(org_dir: Path, settings: Settings) -> list[date]:
    landing = settings.landing_dir / "github"
    shutil.copytree(org_dir, landing)
    received = sorted(date.fromisoformat(p.stem) for p in landing.glob("*.jsonl"))
    return [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]


def hold_back_late_success(org_root: Path, landing: Path) -> tuple[dict, str]:
    """Remove a late production deployment `success` status from the landing folder; return it and its line.

    Without it the deployment never finished, so it is no release: its arrival changes that day's Gold."""
    edge = json.loads((org_root / "truth" / "truth_edge_cases.json").read_text())
    redelivered = set(edge["redelivered_delivery_ids"])
    for late in edge["late_deliveries"]:
        if late["event_type"] != "deployment_status" or late["delivery_id"] in redelivered:
            continue
        path = landing / f"{late['received_day']}.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        held = next(line for line in lines if late["delivery_id"] in line)
        body = json.loads(held)["body"]
        status, environment = body["deployment_status"]["state"], body["deployment"]["environment"]
        if status == "success" and environment == "production":
            path.write_text("".join(line for line in lines if line is not held))
            return late, held
    raise AssertionError(f"seed {SEED}: no late production success status in {edge['late_deliveries']}")


def _reference(tmp: Path, org_root: Path, deliveries: Path, rules: Path) -> Warehouse:
    """Gold of every delivery loaded at once, in process, on a home of its own (the expected Gold)."""
    root = tmp / "reference"
    settings = Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                        rules_path=root / "rules.yaml", partition_start=START.isoformat())
    days = _land(deliveries, settings)
    shutil.copyfile(rules, settings.rules_path)
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(r.success for r in materialise_days(build_definitions(settings), instance, days))
    return Warehouse(settings.warehouse_path)


def _sensor_ticks(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Sensor name -> statuses of its ticks, newest first (what the daemon recorded in PostgreSQL)."""
    ticks = {}
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        found = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
        ticks[state.instigator_name] = [t.status.value for t in found]
    return ticks


def _ticked(instance: dg.DagsterInstance, names: tuple[str, ...]) -> tuple[bool, dict]:
    """Whether each sensor named completed a tick (evaluated, whatever it decided)."""
    ticks = _sensor_ticks(instance)
    return all({"SUCCESS", "SKIPPED"} & set(ticks.get(n, [])) for n in names), ticks


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
               ) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("daemon")
    server = postgres_server.new_database("daemon")
    hook = HttpReceiver().start()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in _environment(tmp, server).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        settings = Settings.from_env()
        prepare_environment(settings)
        org = generate_sample_org(tmp / "generated", repos=2, days=DAYS, start=START, seed=SEED)
        days = _land(org.deliveries_dir, settings)
        shutil.copyfile(org.rules_path, settings.rules_path)
        landing = settings.landing_dir / "github"
        late, held = hold_back_late_success(org.root, landing)
        _alerting_yaml(settings.home, hook)
        with dg.DagsterInstance.get() as instance:
            # The history, as `devmetrics load` lands it: in process, runs and events in PostgreSQL.
            assert all(r.success for r in materialise_days(build_definitions(settings), instance, days))
            daemon = start_daemon(WORKSPACE, dict(os.environ), tmp / "daemon.log", tmp)
            try:
                # While the daemon starts its code server: the expected Gold, on a home of its own.
                reference = _reference(tmp, org.root, org.deliveries_dir, org.rules_path)
                wait_until_alive(daemon, instance, DEADLINE)
                # The automation sensor sees new Bronze loads only from its second tick on; the run-failure
                # sensor watches runs that fail after its first tick.
                wait_for("a first tick of each sensor", lambda: _ticked(instance, SENSORS), DEADLINE, daemon)
                yield Deployment(server, settings, landing, reference, late, held, hook, daemon)
            finally:
                stop_daemon(daemon)
    hook.stop()


def _gold(warehouse: Warehouse, table: str, start: str) -> pd.DataFrame:
    frame = warehouse.query(f"SELECT * FROM {table} WHERE period_start = ?", [start])
    return frame.sort_values(["scope_type", "scope"]).reset_index(drop=True)


def _periods(day: date) -> dict[str, str]:
    return {"gold_dora_daily": day.isoformat(),
            "gold_dora_weekly": (day - timedelta(days=day.weekday())).isoformat(),
            "gold_dora_monthly": day.replace(day=1).isoformat()}


def _automation_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_KEY: TRIGGER})))


def _materialised_after(instance: dg.DagsterInstance, name: str, after: int) -> list[dg.EventLogRecord]:
    return list(instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(name), after_storage_id=after), limit=100).records)


def _notifications(hook: HttpReceiver) -> list[dict]:
    return [r.json for r in hook.on("/devmetrics")]


def test_a_late_delivery_is_materialised_by_the_daemons_automation_and_its_check_failure_notified(
        deployment: Deployment) -> None:
    d = deployment
    event_day = date.fromisoformat(d.late["anchor_day"])
    received_day = date.fromisoformat(d.late["received_day"])
    # The event day's Silver reads Bronze up to 7 days later; all of them are loaded, so none is missing.
    assert event_day + timedelta(days=7) < START + timedelta(days=DAYS - 1)
    store = Warehouse(d.settings.warehouse_path)
    periods = _periods(event_day)
    before = {table: _gold(store, table, start) for table, start in periods.items()}
    expected = {table: _gold(d.reference, table, start) for table, start in periods.items()}
    assert any(not before[t].equals(expected[t]) for t in periods), "the late delivery must change Gold"

    # The history's checks were told on the sensors' first ticks; the quarantine rate was not failing.
    assert QUARANTINE_RATE not in [n["title"] for n in _notifications(d.hook)]

    with dg.DagsterInstance.get() as instance:
        assert _automation_runs(instance) == []  # a settled home: the daemon had nothing to do
        # The receiver's append: the late delivery, and lines that are no delivery at all.
        day_file = d.landing / f"{received_day.isoformat()}.jsonl"
        # Over the check's 5 % of the day's records: one line in 8 or more (at least 2) that is not JSON.
        junk = max(2, len(day_file.read_text().splitlines()) // 8 + 1)
        with day_file.open("a") as f:
            f.write(d.held)
            f.write("this line is not JSON\n" * junk)
        bronze = run_range(build_definitions(d.settings), instance, DAILY_JOB, received_day, received_day,
                           ["bronze_github"])
        assert bronze.success
        cutoff = max(r.storage_id for r in _materialised_after(instance, "bronze_github", 0))

        wanted = {**{name: {event_day.isoformat()} for name in SILVER},
                  **{table: {start} for table, start in periods.items()}}

        def automated() -> tuple[bool, dict]:
            runs = _automation_runs(instance)
            done = {name: {r.partition_key for r in _materialised_after(instance, name, cutoff)}
                    for name in wanted}
            settled = runs and all(r.is_finished for r in runs)
            return bool(settled and all(wanted[n] <= done[n] for n in wanted)), {
                "runs": [(r.run_id[:8], r.status.value, r.tags.get("dagster/partition")) for r in runs],
                "materialised": done, "ticks": _sensor_ticks(instance).get(AUTOMATION_SENSOR, [])[:5]}

        seen = wait_for("automation runs for the late event day", automated, DEADLINE, d.daemon)
        runs = _automation_runs(instance)
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}, seen
        run_ids = {r.run_id for r in runs}
        for name in wanted:
            records = _materialised_after(instance, name, cutoff)
            # Exactly the late event day and its periods (plus, for daily Gold, days it reaches back to),
            # all by the daemon's automation runs.
            assert {r.run_id for r in records} <= run_ids, (name, seen)
            if name in SILVER:
                assert {r.partition_key for r in records} == wanted[name], (name, seen)

    # Read from PostgreSQL itself: the runs the daemon launched, tagged as automation, succeeded.
    stored = d.server.query(
        "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id"
        f" WHERE t.key = '{TRIGGER_KEY}' AND t.value = '{TRIGGER}'")
    assert {run_id for run_id, _ in stored} == run_ids and {s for _, s in stored} == {"SUCCESS"}
    for table, start in periods.items():
        after = _gold(store, table, start)
        pd.testing.assert_frame_equal(after.drop(columns=["computed_at"], errors="ignore"),
                                      expected[table].drop(columns=["computed_at"], errors="ignore"),
                                      check_dtype=False, obj=f"{table} {start}")

    # The quarantined lines failed Bronze's quarantine_rate check: the daemon's check sensor told the webhook.
    def told() -> tuple[bool, list[str]]:
        titles = [n["title"] for n in _notifications(d.hook)]
        return QUARANTINE_RATE in titles, titles

    wait_for("the quarantine_rate notification at the webhook", told, DEADLINE, d.daemon)
    message = next(n for n in _notifications(d.hook) if n["title"] == QUARANTINE_RATE)
    assert message["kind"] == "check_failed" and message["asset_key"] == "bronze_github"
    assert received_day.isoformat() in message["body"]


def test_a_run_killed_with_kill_9_is_failed_by_the_daemon_and_notified(deployment: Deployment) -> None:
    d = deployment
    with dg.DagsterInstance.get() as instance:
        busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]

        def idle() -> tuple[bool, list[str]]:
            runs = instance.get_runs(filters=dg.RunsFilter(statuses=busy))
            return not runs, [f"{r.job_name}:{r.status.value}" for r in runs]

        wait_for("no run in progress before the kill", idle, DEADLINE, d.daemon)
        run_id = start_and_kill(True)  # a command-line run in a process of its own, killed with kill -9

        def failed() -> tuple[bool, str]:
            status = instance.get_run_by_id(run_id).status
            return status == dg.DagsterRunStatus.FAILURE, status.value

        wait_for("the killed run marked failed by the daemon", failed, DEADLINE, d.daemon)
        failure = [e.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
        assert any("is gone" in (m or "") for m in failure), failure
    assert d.server.query(f"SELECT status FROM runs WHERE run_id = '{run_id}'") == [("FAILURE",)]

    def told() -> tuple[bool, list[str]]:
        titles = [n["title"] for n in _notifications(d.hook)]
        return "Materialisation failed: slow_asset" in titles, titles

    wait_for("the run-failure notification at the webhook", told, DEADLINE, d.daemon)
    message = next(n for n in _notifications(d.hook) if n["title"] == "Materialisation failed: slow_asset")
    assert message["kind"] == "materialization_failed" and run_id in message["body"]
    assert "is gone" in message["body"]
