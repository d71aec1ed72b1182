"""A recovery is sent only when a later execution passed over the partitions that failed.

The pure fold first, then the check sensor on a real SQLite instance: a daily-partitioned toy asset
yields its check through the product's own result builder (checks/bronze_checks.as_check_result with the
run's PartitionScope), so the metadata the sensor reads is the metadata the real checks write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from devmetrics_assets.alerting import check_recovery as R
from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.sensors import notification_sensors
from devmetrics_assets.checks.bronze_checks import as_check_result
from devmetrics_assets.checks.validations_core import Validation, failing_on
from devmetrics_assets.checks.validations_scope import PartitionScope, scope_metadata

BAD: set[str] = set()
DAYS = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_date="2025-04-01")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


# ---- the pure fold ------------------------------------------------------------------------------
def meta(first: str, last: str, failed: list[str] | None = None, passed: bool = True) -> dict:
    days = pd.date_range(first, last, freq="D").strftime("%Y-%m-%d")
    return scope_metadata(PartitionScope.of(days), passed, failed)


def test_a_pass_over_other_days_does_not_recover_a_failed_day():
    step = R.fold((), False, meta("2025-03-01", "2025-03-01", ["2025-03-01"], passed=False))
    assert step.failing == ("2025-03-01",) and not step.recovered
    step = R.fold(step.failing, True, meta("2025-03-02", "2025-03-02"))
    assert step.failing == ("2025-03-01",) and not step.recovered and step.cleared == ()
    step = R.fold(step.failing, True, meta("2025-02-20", "2025-03-05"))  # a range covering it
    assert step.failing == () and step.recovered and step.cleared == ("2025-03-01",)


def test_only_the_failed_partitions_of_a_range_must_pass_again():
    failed = meta("2025-03-01", "2025-03-31", ["2025-03-04", "2025-03-20"], passed=False)
    step = R.fold((), False, failed)
    assert step.failing == ("2025-03-04", "2025-03-20")
    step = R.fold(step.failing, True, meta("2025-03-04", "2025-03-04"))
    assert step.failing == ("2025-03-20",) and not step.recovered
    assert R.fold(step.failing, True, meta("2025-03-20", "2025-03-20")).recovered


def test_checks_without_partitions_or_judging_time_recover_on_any_pass():
    assert R.fold((), False, {}).failing == (R.WHOLE,)
    assert R.fold((R.WHOLE,), True, {}).recovered
    assert R.fold((R.WHOLE,), True, meta("2025-03-09", "2025-03-09")).recovered  # no partition named
    freshness = {"partitions": "2025-03-01", "judges": "now"}
    assert R.fold(("2025-03-01", "2025-03-02"), True, freshness).recovered
    assert R.fold((), True, meta("2025-03-01", "2025-03-01")) == R.Step((), False, ())
    nine = ["2025-03-0" + str(i) for i in range(1, 10)]
    assert R.describe(nine, shown=2) == "2025-03-01, 2025-03-02 (+7 more)"


# ---- the sensor on a real instance --------------------------------------------------------------
@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), group_name="bronze",
          check_specs=[dg.AssetCheckSpec("volume_anomaly", asset="toy_days", blocking=False)])
def toy_days(context):
    scope = PartitionScope.of(context.partition_keys)
    yield dg.MaterializeResult()
    bad = [k for k in scope.keys if k in BAD]
    found = Validation("volume_anomaly", not bad, f"{len(bad)} anomalous day(s)",
                       {"anomalous_days": len(bad)})
    yield as_check_result(failing_on(found, bad), scope=scope)


@pytest.fixture
def setup(tmp_path: Path, http_receiver) -> Iterator[tuple]:
    BAD.clear()
    (tmp_path / "alerting.yaml").write_text(yaml.safe_dump({
        "channels": {"hook": {"type": "webhook", "url": http_receiver.url("/hook")}},
        "default_channels": ["hook"],
    }))
    sensors = notification_sensors(lambda: build_notifier(tmp_path / "alerting.yaml", tmp_path))
    defs = dg.Definitions(assets=[toy_days], sensors=sensors)
    sensor = next(s for s in sensors if s.name == "alerting_asset_checks")
    with dg.instance_for_test() as instance:
        yield instance, defs, sensor, http_receiver


class Ticker:
    def __init__(self, instance: dg.DagsterInstance, defs: dg.Definitions, sensor: dg.SensorDefinition):
        self.instance, self.defs, self.sensor, self.cursor = instance, defs, sensor, None

    def tick(self) -> str:
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=self.defs)
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result.skip_message or ""


def run(instance: dg.DagsterInstance, first: str, last: str | None = None) -> None:
    result = dg.materialize([toy_days], instance=instance,
                            tags={RANGE_START: first, RANGE_END: last or first})
    assert result.success


def sent(receiver) -> list[tuple[str, bool]]:
    return [(r.json["problem_key"], r.json["recovery"]) for r in receiver.requests]


def test_fail_on_day_a_pass_on_day_b_no_recovery_then_day_a_fixed_recovers(setup):
    instance, defs, sensor, receiver = setup
    checks = Ticker(instance, defs, sensor)
    checks.tick()
    BAD.add("2025-03-03")
    run(instance, "2025-03-03")  # day A fails
    checks.tick()
    receiver.wait_for(1)
    assert sent(receiver) == [("check:toy_days:volume_anomaly", False)]
    assert "Failed partitions: 2025-03-03" in receiver.requests[0].json["body"]

    run(instance, "2025-03-04")  # day B passes: the anomaly of day A is still in the data
    summary = checks.tick()
    assert len(receiver.requests) == 1 and "1 still_failing" in summary

    BAD.clear()
    run(instance, "2025-03-03")  # day A re-run and passing: recovered
    checks.tick()
    receiver.wait_for(2)
    assert sent(receiver)[1:] == [("check:toy_days:volume_anomaly", True)]
    assert "2025-03-03" in receiver.requests[1].json["body"]


def test_a_range_failure_recovers_once_every_failed_day_passed_and_a_new_cursor_remembers(setup):
    instance, defs, sensor, receiver = setup
    checks = Ticker(instance, defs, sensor)
    checks.tick()
    BAD.update({"2025-03-02", "2025-03-10"})
    run(instance, "2025-03-01", "2025-03-15")
    checks.tick()
    BAD.clear()
    run(instance, "2025-03-02")
    checks.tick()
    assert sent(receiver) == [("check:toy_days:volume_anomaly", False)]
    # a sensor whose cursor predates the failing-partition state (v1) rebuilds it from the history
    state = json.loads(checks.cursor)
    checks.cursor = json.dumps({"v": 1, "seen": state["seen"]})
    run(instance, "2025-03-20", "2025-03-31")
    checks.tick()
    assert len(receiver.requests) == 1
    run(instance, "2025-03-08", "2025-03-12")
    checks.tick()
    receiver.wait_for(2)
    assert sent(receiver)[1:] == [("check:toy_days:volume_anomaly", True)]
