"""The alerting sensors on a real SQLite Dagster instance, delivering to a real local HTTP receiver.

Toy assets whose checks fail and then pass are materialised with `dg.materialize`; each sensor tick
is evaluated with `build_sensor_context(instance=, cursor=, definitions=)` and the returned cursor is
fed to the next tick, as the daemon does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.sensors import notification_sensors

STATE = {"schema_ok": False, "volume_ok": False, "gold_raises": False}


@dg.asset(
    group_name="silver",
    owners=["team:payments"],
    check_specs=[
        dg.AssetCheckSpec("schema", asset="toy_silver", blocking=True, description="columns and types"),
        dg.AssetCheckSpec("volume", asset="toy_silver"),
    ],
)
def toy_silver():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="schema", passed=STATE["schema_ok"], metadata={"failures": 2})
    yield dg.AssetCheckResult(
        check_name="volume", passed=STATE["volume_ok"], severity=dg.AssetCheckSeverity.WARN
    )


@dg.asset(group_name="gold", deps=[toy_silver])
def toy_gold():
    if STATE["gold_raises"]:
        raise ValueError("division by zero in lead time")


@dg.asset(
    group_name="bronze", freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=1))
)
def toy_bronze():
    return None


@pytest.fixture
def setup(tmp_path: Path, http_receiver) -> Iterator[tuple]:
    STATE.update(schema_ok=False, volume_ok=False, gold_raises=False)
    (tmp_path / "alerting.yaml").write_text(
        yaml.safe_dump(
            {
                "channels": {"hook": {"type": "webhook", "url": http_receiver.url("/hook")}},
                "default_channels": ["hook"],
                "delivery": {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05},
            }
        )
    )
    sensors = notification_sensors(lambda: build_notifier(tmp_path / "alerting.yaml", tmp_path))
    defs = dg.Definitions(assets=[toy_silver, toy_gold, toy_bronze], sensors=sensors)
    with dg.instance_for_test() as instance:
        yield instance, defs, {s.name: s for s in sensors}, http_receiver


class Ticker:
    """Evaluates one sensor tick after another, carrying the cursor like the daemon."""

    def __init__(self, instance, defs, sensor):
        self.instance, self.defs, self.sensor, self.cursor = instance, defs, sensor, None

    def tick(self):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        assert not result.run_requests
        return result


def run(instance, *assets):
    return dg.materialize(list(assets), instance=instance, raise_on_error=False)


def keys(receiver) -> list[tuple[str, bool]]:
    return [(r.json["problem_key"], r.json["recovery"]) for r in receiver.requests]


def test_sensors_are_running_by_default_with_a_short_interval(setup):
    _, _, sensors, _ = setup
    assert sorted(sensors) == [
        "alerting_asset_checks",
        "alerting_failed_runs",
        "alerting_freshness",
        "alerting_outbox",
    ]
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds == 30


def test_check_failures_are_notified_once_across_ticks_and_recover_once(setup, capsys):
    instance, defs, sensors, receiver = setup
    checks = Ticker(instance, defs, sensors["alerting_asset_checks"])
    checks.tick()
    assert receiver.requests == []
    assert not run(instance, toy_silver).success  # the blocking check fails the run
    started = time.time()
    checks.tick()
    arrived = receiver.wait_for(2)
    assert keys(receiver) == [("check:toy_silver:schema", False), ("check:toy_silver:volume", False)]
    schema, volume = (r.json for r in arrived)
    assert (schema["severity"], volume["severity"]) == ("error", "warning")
    assert schema["group"] == "silver" and schema["owners"] == ["team:payments"]
    assert (
        "blocking" in schema["body"]
        and "columns and types" in schema["body"]
        and "failures: 2" in schema["body"]
    )
    assert schema["details"]["links"]["run"].startswith("http://127.0.0.1:3000/runs/")

    # latency: from the failing check being recorded to the notification arriving, in one tick
    recorded = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("toy_silver"), "schema")]
    )
    event_time = next(iter(recorded.values())).event.timestamp
    with capsys.disabled():
        print(
            f"\n[latency] check recorded -> received: {arrived[0].at - event_time:.3f}s "
            f"(tick start -> received: {arrived[0].at - started:.3f}s)"
        )
    assert arrived[0].at - started < 5

    for _ in range(3):
        checks.tick()
    assert not run(instance, toy_silver).success  # still failing: same problems, nothing new
    checks.tick()
    assert len(receiver.requests) == 2

    STATE.update(schema_ok=True, volume_ok=True)
    assert run(instance, toy_silver).success
    checks.tick()
    checks.tick()
    assert keys(receiver)[2:] == [("check:toy_silver:schema", True), ("check:toy_silver:volume", True)]
    assert receiver.requests[2].json["title"] == "Check passed again: toy_silver / schema"

    # failing and passing again between two ticks is still one failure and one recovery
    STATE.update(volume_ok=False)
    run(instance, toy_silver)
    STATE.update(volume_ok=True)
    run(instance, toy_silver)
    checks.tick()
    checks.tick()
    assert keys(receiver)[4:] == [("check:toy_silver:volume", False), ("check:toy_silver:volume", True)]


def test_first_tick_reports_the_current_state_not_old_history(setup):
    instance, defs, sensors, receiver = setup
    run(instance, toy_silver)  # failed ...
    STATE.update(schema_ok=True)
    run(instance, toy_silver)  # ... then schema passed; volume still failing
    Ticker(instance, defs, sensors["alerting_asset_checks"]).tick()
    assert keys(receiver) == [("check:toy_silver:volume", False)]


def test_failed_materialisations_are_notified_once_and_recover(setup):
    instance, defs, sensors, receiver = setup
    runs = Ticker(instance, defs, sensors["alerting_failed_runs"])
    runs.tick()  # first tick: starts watching from now
    STATE.update(gold_raises=True)
    assert not run(instance, toy_gold).success
    assert not run(instance, toy_silver).success  # blocking check failure: the check sensor's, not this one's
    runs.tick()
    runs.tick()
    assert keys(receiver) == [("materialization:toy_gold", False)]
    (failed,) = (r.json for r in receiver.requests)
    assert failed["kind"] == "materialization_failed" and "division by zero in lead time" in failed["body"]
    assert not run(instance, toy_gold).success  # fails again: same open problem
    runs.tick()
    assert len(receiver.requests) == 1
    STATE.update(gold_raises=False)
    assert run(instance, toy_gold).success
    runs.tick()
    runs.tick()
    assert keys(receiver) == [("materialization:toy_gold", False), ("materialization:toy_gold", True)]


def test_freshness_state_failures_and_recovery(setup):
    instance, defs, sensors, receiver = setup
    fresh = Ticker(instance, defs, sensors["alerting_freshness"])

    def state(new, previous):
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=dg.AssetKey("toy_bronze"),
                new_state=new,
                previous_state=previous,
                state_change_timestamp=time.time(),
            )
        )

    state(FreshnessState.WARN, FreshnessState.PASS)
    fresh.tick()
    fresh.tick()
    state(FreshnessState.FAIL, FreshnessState.WARN)  # worse: sent again as an escalation
    fresh.tick()
    fresh.tick()
    state(FreshnessState.PASS, FreshnessState.FAIL)
    fresh.tick()
    fresh.tick()
    sent = [(r.json["severity"], r.json["recovery"]) for r in receiver.requests]
    assert sent == [("warning", False), ("error", False), ("info", True)]
    assert {r.json["problem_key"] for r in receiver.requests} == {"freshness:toy_bronze"}
    assert receiver.requests[0].json["kind"] == "freshness_failed"


def test_outbox_sensor_delivers_what_was_queued_while_the_receiver_was_down(setup):
    instance, defs, sensors, receiver = setup
    checks = Ticker(instance, defs, sensors["alerting_asset_checks"])
    outbox = Ticker(instance, defs, sensors["alerting_outbox"])
    receiver.stop()
    run(instance, toy_silver)
    checks.tick()  # notified: queued, the immediate attempt failed
    receiver.start()
    time.sleep(0.06)  # past the (test-sized) backoff
    result = outbox.tick()
    assert sorted(keys(receiver)) == [("check:toy_silver:schema", False), ("check:toy_silver:volume", False)]
    assert "delivered 2" in result.skip_message
    outbox.tick()
    assert len(receiver.requests) == 2


def test_a_malformed_alerting_yaml_fails_the_tick_naming_file_and_field(setup, tmp_path: Path):
    instance, defs, sensors, _ = setup
    (tmp_path / "alerting.yaml").write_text("routes:\n  - match: {group: gold}\n    channels: [pager]\n")
    with pytest.raises(Exception, match=r"alerting.yaml: routes\[0\].channels: unknown channel"):
        Ticker(instance, defs, sensors["alerting_asset_checks"]).tick()
