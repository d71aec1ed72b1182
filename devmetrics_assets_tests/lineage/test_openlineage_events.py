"""Event building, configuration and sending (devmetrics_assets/openlineage_events.py), against a real local
HTTP receiver."""

from __future__ import annotations

import json
import logging
import uuid

import jsonschema
import pytest
from openlineage.client.serde import Serde

from devmetrics_assets import openlineage_events as OL
from devmetrics_assets_tests.lineage.receiver import check_run_event, closed_port_url, lineage_receiver

RUN_ID = "6f1b5d7e-0000-4000-8000-000000000001"
T0 = 1_735_732_800.0  # 2025-01-01T12:00:00Z


def summary(*, failed: bool = False) -> OL.RunSummary:
    return OL.RunSummary(
        run_id=RUN_ID, job_name="dora_daily_job", started_at=T0, ended_at=T0 + 9, succeeded=not failed,
        assets=[OL.AssetOutcome("silver_changes", ["bronze_github"], True, 12, T0 + 4),
                OL.AssetOutcome("gold_dora_daily", ["silver_changes", "silver_deployments"], not failed,
                                3 if not failed else None, T0 + 8 if not failed else None)],
        error="gold_dora_daily: boom" if failed else None)


def as_json(events: list) -> list[dict]:
    return [json.loads(Serde.to_json(e)) for e in events]


def test_unset_url_disables_lineage() -> None:
    assert OL.LineageConfig.from_env("/tmp/h", environ={}) is None
    assert OL.LineageConfig.from_env("/tmp/h", environ={OL.URL_ENV: "  "}) is None


def test_config_from_environment_defaults_namespace_to_home_and_hides_the_key(tmp_path) -> None:
    config = OL.LineageConfig.from_env(tmp_path, environ={OL.URL_ENV: "http://marquez:5000",
                                                          OL.API_KEY_ENV: "s3cret", OL.TIMEOUT_ENV: "2.5"})
    assert config is not None
    assert config.namespace == f"devmetrics://{tmp_path.resolve().as_posix()}"
    assert (config.api_key, config.timeout_s, config.endpoint) == ("s3cret", 2.5, "api/v1/lineage")
    assert "s3cret" not in repr(config)
    named = OL.LineageConfig.from_env(tmp_path, environ={OL.URL_ENV: "http://m", OL.NAMESPACE_ENV: "prod"})
    assert named is not None and named.namespace == "prod"


def test_row_count_takes_each_partitions_own_count_before_the_windows() -> None:
    # The IO manager's row_count is the window's total on every partition; the layer's own count wins.
    partitions = [{"dagster/row_count": 2, "row_count": 10}, {"rows": 3, "row_count": 10}, {"row_count": 5}]
    assert OL.row_count(partitions) == 10
    assert OL.row_count([{"deployments": 4}, {"is_partial": True}]) is None
    assert OL.row_count([{"row_count": True}]) is None


def test_start_then_complete_per_materialised_asset_with_inputs_outputs_and_row_counts() -> None:
    events = as_json(OL.build_events(summary(), "devmetrics://h"))
    for event in events:
        check_run_event(event)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("silver_changes", "START"), ("silver_changes", "COMPLETE"),
        ("gold_dora_daily", "START"), ("gold_dora_daily", "COMPLETE")]
    complete = events[3]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [
        ("devmetrics://h", "silver_changes"), ("devmetrics://h", "silver_deployments")]
    assert complete["outputs"][0]["name"] == "gold_dora_daily"
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert events[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 12
    assert events[0]["eventTime"] == "2025-01-01T12:00:00+00:00"
    assert events[1]["eventTime"] == "2025-01-01T12:00:04+00:00"
    # One OpenLineage run per asset, stable for the Dagster run, whose job and id the parent facet names.
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]
    assert events[0]["run"]["runId"] == OL.asset_run_id(RUN_ID, "silver_changes")
    assert uuid.UUID(events[0]["run"]["runId"])
    parent = events[3]["run"]["facets"]["parent"]
    assert (parent["run"]["runId"], parent["job"]["name"]) == (RUN_ID, "dora_daily_job")


def test_an_asset_the_failed_run_did_not_write_gets_fail_with_the_error() -> None:
    events = as_json(OL.build_events(summary(failed=True), "ns"))
    for event in events:
        check_run_event(event)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE", "START", "FAIL"]
    fail = events[3]
    assert fail["run"]["facets"]["errorMessage"]["message"] == "gold_dora_daily: boom"
    assert fail["eventTime"] == "2025-01-01T12:00:09+00:00"
    assert "outputStatistics" not in fail["outputs"][0]["outputFacets"]


def test_a_non_uuid_dagster_run_id_still_gives_a_uuid_parent() -> None:
    run = OL.RunSummary("custom-id", "job", T0, T0, True, [OL.AssetOutcome("a", [], True, 1, T0)])
    for event in as_json(OL.build_events(run, "ns")):
        check_run_event(event)


def test_the_schema_check_rejects_an_event_without_a_run_id() -> None:
    event = as_json(OL.build_events(summary(), "ns"))[0]
    del event["run"]["runId"]
    with pytest.raises(jsonschema.ValidationError):
        check_run_event(event)


def test_send_posts_every_event_in_order_with_the_bearer_key() -> None:
    events = OL.build_events(summary(), "ns")
    with lineage_receiver() as receiver:
        config = OL.LineageConfig(url=receiver.url, namespace="ns", api_key="s3cret", timeout_s=2)
        assert OL.send(events, config) == 4
    assert receiver.events == as_json(events)
    assert set(receiver.paths) == {"/api/v1/lineage"}
    assert set(receiver.authorizations) == {"Bearer s3cret"}


def test_an_endpoint_answering_500_costs_one_request_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with lineage_receiver(status=500) as receiver, caplog.at_level(logging.WARNING):
        config = OL.LineageConfig(url=receiver.url, namespace="ns", api_key="s3cret", timeout_s=2)
        assert OL.send(OL.build_events(summary(), "ns"), config) == 0
    assert len(receiver.events) == 1  # no retries, and the rest of the batch is dropped
    assert "4 of 4 events not sent" in caplog.text
    assert "s3cret" not in caplog.text


def test_an_endpoint_that_is_down_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    config = OL.LineageConfig(url=closed_port_url(), namespace="ns", timeout_s=2)
    with caplog.at_level(logging.WARNING):
        assert OL.send(OL.build_events(summary(), "ns"), config) == 0
    assert "events not sent" in caplog.text
