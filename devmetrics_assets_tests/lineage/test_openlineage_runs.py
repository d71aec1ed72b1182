"""Lineage of real runs (defs/openlineage.py): the asset graph through the runner, a failing run, an endpoint
that is down or failing, and the run-status sensors that cover daemon-launched runs."""


import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.defs.openlineage import OpenLineageResource, lineage_resource, lineage_sensors
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.instance_setup import PID_TAG
from devmetrics_assets.openlineage_events import URL_ENV
from devmetrics_assets.runner import DAILY_JOB, materialise_days, run_range
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.conftest import land_sample, settings_in
from devmetrics_assets_tests.lineage.receiver import (
    Receiver,
    check_run_event,
    closed_port_url,
    lineage_receiver,
)

DAY = date(2025, 3, 3)
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2025-03-01")


def by_job(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for event in events:
        check_run_event(event)
        out.setdefault(event["job"]["name"], []).append(event)
    return out


def rows_of(event: dict) -> int:
    return event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]


# ---- the real asset graph, through the runner the CLI uses -------------------------------------------
@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with lineage_receiver() as running:
        yield running


@pytest.mark.slow  # about 16 s here: the in-process runs of the real graph dominate
def test_materialising_the_graph_sends_start_then_complete_per_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    org = generate_sample_org(tmp_path / "generated", repos=1, days=4, start=DAY, seed=3)
    settings = settings_in(tmp_path / "home")
    days = land_sample(org, settings)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv(URL_ENV, receiver.url)
    defs = build_definitions(settings)
    assert {s.name for s in defs.sensors or []} >= {"openlineage_on_success", "openlineage_on_failure"}

    with dg.DagsterInstance.ephemeral() as instance:
        # What `devmetrics demo` / `load` run: the daily range, its weeks and months, then quarantine.
        results = materialise_days(defs, instance, days)
    assert all(r.success for r in results)
    daily = results[0]

    jobs = by_job(receiver.events)
    namespace = f"devmetrics://{(tmp_path / 'home').resolve().as_posix()}"
    assert {e["job"]["namespace"] for e in receiver.events} == {namespace}
    assert {"bronze_github", "silver_changes", "silver_deployments", "silver_incidents", "gold_dora_daily",
            "gold_fact_deployments", "gold_dora_weekly", "gold_dora_monthly", "quarantine"} <= set(jobs)
    for name, events in jobs.items():
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"], name
        assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
        assert events[1]["run"]["facets"]["parent"]["run"]["runId"] in {r.run_id for r in results}
        assert [d["name"] for d in events[1]["outputs"]] == [name]
    parent = jobs["silver_changes"][1]["run"]["facets"]["parent"]
    assert (parent["run"]["runId"], parent["job"]["name"]) == (daily.run_id, DAILY_JOB)
    assert jobs["bronze_github"][1]["inputs"] == []
    assert "gold_dora_daily" in {d["name"] for d in jobs["gold_dora_weekly"][1]["inputs"]}
    graph = defs.resolve_asset_graph()
    for name, events in jobs.items():
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}
        assert {d["name"] for d in events[1]["inputs"]} == parents, name
    assert [d["name"] for d in jobs["silver_changes"][1]["inputs"]] == ["bronze_github"]
    assert {d["name"] for d in jobs["gold_dora_daily"][1]["inputs"]} >= {
        "silver_changes", "silver_deployments", "silver_incidents"}
    # Row counts: the sum of the run's per-partition counts, which on a first load is the whole table.
    warehouse = Warehouse(settings.warehouse_path)
    for table in ("silver_changes", "silver_deployments", "gold_dora_daily", "gold_dora_weekly"):
        stored = int(warehouse.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])
        assert rows_of(jobs[table][1]) == stored, table
    assert rows_of(jobs["bronze_github"][1]) > 0


# ---- small graphs: failure, a broken endpoint, the sensors ----------------------------------------------
@dg.asset(partitions_def=PARTITIONS)
def upstream_rows(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata({"dagster/row_count": 2}, partition_key=key)
    return dg.MaterializeResult()


@dg.asset(partitions_def=PARTITIONS, deps=[upstream_rows])
def broken_rows() -> None:
    raise RuntimeError("the source answered nonsense")


@dg.asset(partitions_def=PARTITIONS, deps=[upstream_rows])
def fine_rows(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"row_count": 5})


def small_defs(url: str, downstream: dg.AssetsDefinition) -> dg.Definitions:
    return dg.Definitions(
        assets=[upstream_rows, downstream],
        jobs=[dg.define_asset_job("small_job")],
        resources={"openlineage": OpenLineageResource(url=url, namespace="test", timeout_s=2)},
        sensors=lineage_sensors(OpenLineageResource(url=url, namespace="test", timeout_s=2)),
    )


def test_a_failing_run_sends_fail_for_what_it_did_not_write(receiver: Receiver) -> None:
    defs = small_defs(receiver.url, broken_rows)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_range(defs, instance, "small_job", DAY, DAY, raise_on_error=False)
    assert not result.success
    jobs = by_job(receiver.events)
    assert [e["eventType"] for e in jobs["upstream_rows"]] == ["START", "COMPLETE"]
    assert rows_of(jobs["upstream_rows"][1]) == 2
    assert [e["eventType"] for e in jobs["broken_rows"]] == ["START", "FAIL"]
    fail = jobs["broken_rows"][1]
    assert "the source answered nonsense" in fail["run"]["facets"]["errorMessage"]["message"]
    assert [d["name"] for d in fail["inputs"]] == ["upstream_rows"]


@pytest.mark.parametrize("endpoint", ["down", "500"])
def test_an_endpoint_that_is_down_or_failing_leaves_the_run_successful(
    endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    with lineage_receiver(status=500) as failing, caplog.at_level(logging.WARNING), \
            dg.DagsterInstance.ephemeral() as instance:
        url = closed_port_url() if endpoint == "down" else failing.url
        result = run_range(small_defs(url, fine_rows), instance, "small_job", DAY, DAY)
    assert result.success
    assert "OpenLineage" in caplog.text and "not sent" in caplog.text
    assert len(failing.events) == (1 if endpoint == "500" else 0)


def _sensor(defs: dg.Definitions, name: str) -> dg.SensorDefinition:
    return next(s for s in defs.sensors or [] if s.name == name)


def test_the_sensor_sends_lineage_of_a_daemon_run_but_not_of_a_command_line_run(receiver: Receiver) -> None:
    defs = small_defs(receiver.url, fine_rows)
    sensor = _sensor(defs, "openlineage_on_success")
    repository = defs.get_repository_def()
    with dg.DagsterInstance.ephemeral() as instance:
        for tags in ({}, {PID_TAG: "123"}):
            result = defs.resolve_job_def("small_job").execute_in_process(
                instance=instance, partition_key=DAY.isoformat(), tags=tags)
            success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
            context = dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=success, dagster_instance=instance,
                dagster_run=result.dagster_run, repository_def=repository)
            sensor(context)
    jobs = by_job(receiver.events)  # only the first run: the second carries the command line's pid tag
    assert [e["eventType"] for e in jobs["upstream_rows"]] == ["START", "COMPLETE"]
    assert [e["eventType"] for e in jobs["fine_rows"]] == ["START", "COMPLETE"]
    assert rows_of(jobs["fine_rows"][1]) == 5
    assert [d["name"] for d in jobs["fine_rows"][1]["inputs"]] == ["upstream_rows"]


def test_the_failure_sensor_sends_fail(receiver: Receiver) -> None:
    defs = small_defs(receiver.url, broken_rows)
    sensor = _sensor(defs, "openlineage_on_failure")
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("small_job").execute_in_process(
            instance=instance, partition_key=DAY.isoformat(), raise_on_error=False)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance,
            dagster_run=result.dagster_run, repository_def=defs.get_repository_def()).for_run_failure()
        sensor(context)
    assert [e["eventType"] for e in by_job(receiver.events)["broken_rows"]] == ["START", "FAIL"]


def test_unset_url_means_no_resource_and_no_sensors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert lineage_resource(tmp_path) is None
    assert lineage_sensors(None) == []
