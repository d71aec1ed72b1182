"""The real-time watcher: what alerts, resuming after a restart (nothing lost, nothing twice), the
MongoDB change stream and the DuckDB tail, refreshing exactly the affected days, and alert latency."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.config import DoraRules
from devmetrics_assets.demo.bench.alert_latency import (
    bronze_frame,
    bronze_row,
    deployment_status_body,
    issue_body,
    measure_alert_latency,
    push_body,
)
from devmetrics_assets.realtime.classify import Classifier, Delivery
from devmetrics_assets.realtime.materialise import DagsterMaterialiser
from devmetrics_assets.realtime.state import WatcherState
from devmetrics_assets.realtime.watcher import Watcher
from devmetrics_assets.storage.mongo import MongoWarehouse
from devmetrics_assets.storage.mongo_guards import MongoDeploymentError
from devmetrics_assets.storage.warehouse import Warehouse

RULES = DoraRules(production_environment_pattern="prod-.*", repo_owners={"acme/api": {"team": "payments"}})
SHAS = [f"{i:x}" * 40 for i in range(1, 6)]  # main-line commits c1..c5, oldest first
SHA = {f"c{i + 1}": s[:40] for i, s in enumerate(SHAS)}


class Recorder:
    """A Notifier that keeps everything it is given (no de-duplication of its own)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.got: list[Notification] = []
        self.fail_on = fail_on

    def notify(self, notification: Notification) -> bool:
        if self.fail_on is not None and len(self.got) + 1 == self.fail_on:
            self.fail_on = None
            raise ConnectionError("notifier down")
        self.got.append(notification)
        return True

    def keys(self) -> list[str]:
        return [n.problem_key for n in self.got]


class Days:
    def __init__(self) -> None:
        self.days: list[date] = []

    def request(self, days) -> None:
        self.days.extend(days)

    def close(self, timeout=None) -> None:
        pass


def deliveries(tag: str) -> list[dict]:
    """A small story on acme/api: main line c1..c3, deploys, a failure, an incident, a rollback."""
    rows = [
        ("push", push_body("acme/api", [SHA["c1"], SHA["c2"], SHA["c3"]], 1736500000), "2025-01-10"),
        ("deployment_status", deployment_status_body("acme/api", 1, SHA["c3"], "success"), "2025-01-10"),
        ("deployment_status", deployment_status_body("acme/api", 2, SHA["c3"], "failure"), "2025-01-11"),
        ("deployment_status", deployment_status_body("acme/api", 2, SHA["c3"], "error"), "2025-01-11"),
        ("deployment_status", deployment_status_body("acme/api", 3, SHA["c2"], "failure", env="staging"),
         "2025-01-11"),
        ("issues", issue_body("acme/api", 7, "opened", ["bug", "INCIDENT"]), "2025-01-12"),
        ("issues", issue_body("acme/api", 8, "opened", ["bug"]), "2025-01-12"),
        ("deployment_status", deployment_status_body("acme/api", 4, SHA["c1"][:7], "success",
                                                     env="prod-eu"), "2025-01-13"),
    ]
    return [bronze_row(et, body, f"{tag}-{i}", event_at=f"{day}T12:00:00Z")
            for i, (et, body, day) in enumerate(rows)]


EXPECTED = [
    "realtime:deployment_failed:acme/api:2",  # failure, then error: one problem
    "realtime:incident:acme/api#7",  # INCIDENT label (case-insensitive); #8 is a plain bug
    "realtime:deployment_failed:acme/api:2",  # recovered by deployment 4 ...
    "realtime:rollback:acme/api:4",  # ... which put c1 back after c3 (short sha)
]


def classify_all(rows: list[dict], state: WatcherState) -> list[Notification]:
    classifier = Classifier(RULES, state)
    return [n for r in bronze_frame(rows).to_dict("records")
            for n in classifier.classify(Delivery.from_record({**r, "event_day": r["event_at"]}))]


def test_classifier_alerts_on_failed_production_deploys_incidents_and_rollbacks(tmp_path):
    notes = classify_all(deliveries("a"), WatcherState(tmp_path / "s.sqlite3"))
    assert [n.problem_key for n in notes] == EXPECTED
    failed, incident, recovered, rollback = notes
    assert (failed.kind, failed.severity, failed.recovery) == ("deployment_failed", "error", False)
    assert failed.owners == ("team:payments",) and failed.group == "realtime"
    assert failed.details["event_day"] == "2025-01-11" and failed.asset_key == "silver_deployments"
    assert (incident.kind, incident.severity) == ("incident_opened", "critical")
    assert recovered.recovery and recovered.kind == "recovered"
    assert rollback.kind == "rollback" and rollback.details["rolled_back_from_sha"] == SHA["c3"]


def test_incident_close_clears_and_reopen_alerts_again(tmp_path):
    state = WatcherState(tmp_path / "s.sqlite3")
    rows = [bronze_row("issues", issue_body("acme/web", 3, a, ["incident"], state=s), f"i{i}")
            for i, (a, s) in enumerate([("opened", "open"), ("opened", "open"), ("closed", "closed"),
                                        ("reopened", "open")])]
    labeled = issue_body("acme/web", 4, "labeled", ["incident"], label="incident")
    rows.append(bronze_row("issues", labeled, "i9"))
    notes = classify_all(rows, state)
    assert [(n.kind, n.recovery) for n in notes] == [
        ("incident_opened", False), ("incident_resolved", True), ("incident_reopened", False),
        ("incident_opened", False)]


def test_duckdb_tail_resumes_after_restart_without_losing_or_repeating(tmp_path):
    wh = Warehouse(tmp_path / "wh.duckdb")
    rows = deliveries("x")
    wh.append_bronze(bronze_frame(rows[:3]))  # stored before the watcher ever ran: history
    notifier, days, state_path = Recorder(), Days(), tmp_path / "watcher.sqlite3"

    def watcher() -> Watcher:
        return Watcher(wh, notifier, RULES, WatcherState(state_path), days, bootstrap_days=100_000)

    first = watcher()
    assert first.drain() == 0  # first start: cursor at "now", history only seeds the rollback index
    wh.append_bronze(bronze_frame(rows[3:6]))
    assert first.drain() == 3
    first.close()
    wh.append_bronze(bronze_frame(rows[6:]))  # while the watcher is down
    wh.append_bronze(bronze_frame(rows))  # a replay of the whole file: Bronze stores nothing new
    second = watcher()
    assert second.drain() == 2
    # the failure status of #2 was history (quiet); its later error status is live and alerts
    assert notifier.keys() == EXPECTED
    assert watcher().drain() == 0 and len(notifier.got) == 4
    assert days.days == [date(2025, 1, 11), date(2025, 1, 12), date(2025, 1, 13)]  # event days


@pytest.mark.mongo
def test_mongo_change_stream_resumes_after_restart_and_crash(replica_set_uri, fresh_database, tmp_path):
    wh = MongoWarehouse(replica_set_uri, fresh_database(replica_set_uri))
    home = tmp_path / "home"
    notifier = build_notifier(None, home)  # the real one: routing, problem keys, durable outbox
    state_path = tmp_path / "watcher.sqlite3"
    rows = deliveries("m")

    def watcher(n=notifier) -> Watcher:
        return Watcher(wh, n, RULES, WatcherState(state_path), Days(), from_beginning=False,
                       bootstrap_days=0, max_await_ms=50)

    first = watcher()
    first.open()
    wh.append_bronze(bronze_frame(rows[:4]))
    assert first.drain() == 4 and first.stats.notified == 1
    first.close()
    wh.append_bronze(bronze_frame(rows[4:6]))  # while down
    # crash after handing the incident over but before committing the cursor
    crashing = watcher()
    original = crashing.state.commit
    calls = {"n": 0}

    def commit_then_crash() -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed")
        original()

    crashing.state.commit = commit_then_crash
    with pytest.raises(SystemExit):
        crashing.drain()
    crashing.close()
    wh.append_bronze(bronze_frame(rows[6:]))
    resumed = watcher()
    assert resumed.drain() == 3  # the incident again (not committed), bug #8, deployment 4
    assert resumed.stats.deduplicated == 1  # the incident had been handed over before the crash
    messages = [m.problem_key for m in notifier.outbox.messages()]
    assert messages == EXPECTED  # each once: failure, incident, recovery, rollback
    assert all(m.status == "delivered" for m in notifier.outbox.messages())
    assert watcher().drain() == 0


def test_documented_command_once_alerts_through_the_configured_channels(tmp_path, monkeypatch, capsys):
    from devmetrics_assets.realtime.__main__ import main

    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path))
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("DEVMETRICS_ALERTING", raising=False)
    for var in ("DEVMETRICS_WAREHOUSE", "DEVMETRICS_RULES", "DEVMETRICS_LANDING"):
        monkeypatch.delenv(var, raising=False)
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    rows = deliveries("cli")
    wh.append_bronze(bronze_frame(rows[:2]))
    assert main(["--once", "--no-materialise"]) == 0  # first start: history is not alerted
    wh.append_bronze(bronze_frame(rows[2:3]))
    assert main(["--once", "--no-materialise"]) == 0
    assert main(["--once", "--no-materialise"]) == 0
    sent = (tmp_path / "notifications.jsonl").read_text().splitlines()  # alerting's default channel
    assert len(sent) == 1 and "realtime:deployment_failed:acme/api:2" in sent[0]
    assert "notified 1" in capsys.readouterr().err


@pytest.mark.mongo
def test_watcher_refuses_standalone_mongodb(secantus_standalone_uri, fresh_database, tmp_path):
    wh = MongoWarehouse(secantus_standalone_uri, fresh_database(secantus_standalone_uri))
    w = Watcher(wh, Recorder(), RULES, WatcherState(tmp_path / "s.sqlite3"))
    with pytest.raises(MongoDeploymentError, match="Change streams need a replica set"):
        w.open()


def test_materialiser_coalesces_days_and_retries_a_failed_run():
    runs: list[list[date]] = []
    fail = {"once": True}

    def run(days):
        if fail.pop("once", False):
            raise RuntimeError("dagster run failed")
        runs.append(list(days))

    m = DagsterMaterialiser(run, debounce_seconds=0.2)
    m.request([date(2025, 1, 2)])
    assert m.wait_idle(5)
    assert runs == []  # failed; kept for the next request
    for d in (3, 2, 3):
        m.request([date(2025, 1, d)])
    assert m.wait_idle(5)
    m.close()
    assert runs == [[date(2025, 1, 2), date(2025, 1, 3)]]


@pytest.mark.mongo
@pytest.mark.benchmark
def test_alert_latency_is_measured_end_to_end(tmp_path):
    result = measure_alert_latency(10, backend="mongodb")
    assert result["received"] == 10 and result["lost"] == 0
    assert 0 < result["median_ms"] <= result["p95_ms"] < 5000


@pytest.mark.slow
def test_watcher_refreshes_exactly_the_alerting_day_through_dagster(tmp_path, monkeypatch):
    """DuckDB end to end: a failed production deployment stored for a past day is alerted and its
    Silver/Gold partitions are re-materialised by the watcher's Dagster materialiser."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
    from devmetrics_assets.runner import materialise_days
    from devmetrics_assets.storage.loaders import load_gold, load_silver
    from devmetrics_assets_tests.conftest import land_sample, settings_in

    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("MONGODB_URI", raising=False)
    org = generate_sample_org(tmp_path / "org", repos=2, days=10, start=date(2025, 1, 1), seed=3)
    settings = settings_in(tmp_path / "home")
    days = land_sample(org, settings)
    Path(tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as instance:
        assert all(r.success for r in materialise_days(build_definitions(settings), instance, days))
    wh = Warehouse(settings.warehouse_path)
    before = load_gold("day", "2025-01-05", "2025-01-05", warehouse=wh)["failed_deploy_attempts"].sum()
    repo = load_silver("deployments", warehouse=wh)["repo"].iloc[0]
    recorder = Recorder()
    materialiser = DagsterMaterialiser.for_settings(settings, debounce_seconds=0.1)
    watcher = Watcher(wh, recorder, DoraRules(), WatcherState(tmp_path / "w.sqlite3"), materialiser)
    watcher.open()
    body = deployment_status_body(repo, 990001, "f" * 40, "failure", created_at="2025-01-05T09:00:00Z")
    late = bronze_row("deployment_status", body, "late-failure", received_at=datetime.now(UTC),
                      event_at="2025-01-05T09:00:00Z")
    wh.append_bronze(bronze_frame([late]))
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run_forever, args=(stop, 0.05))
    thread.start()
    try:
        deadline = datetime.now(UTC).timestamp() + 60
        while not materialiser.completed and datetime.now(UTC).timestamp() < deadline:
            stop.wait(0.1)
    finally:
        stop.set()
        thread.join(10)
        materialiser.close()
    assert [n.kind for n in recorder.got] == ["deployment_failed"]
    assert materialiser.completed == [[date(2025, 1, 5)]]
    deployments = load_silver("deployments", "2025-01-05", "2025-01-05", warehouse=wh)
    assert f"{repo}:990001" in set(deployments["deployment_id"])
    after = load_gold("day", "2025-01-05", "2025-01-05", warehouse=wh)["failed_deploy_attempts"].sum()
    assert after == before + 1  # org scope: one more failed production deployment attempt that day
