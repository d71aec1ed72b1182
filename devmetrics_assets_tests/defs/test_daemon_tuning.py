"""The daemon knobs read when the definitions load: sensor intervals and the run executor."""

from __future__ import annotations

import dagster as dg
import pytest

from devmetrics_assets.config import ConfigError
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.defs import daemon_tuning as T
from devmetrics_assets_tests.conftest import settings_in


def test_unset_knobs_keep_each_sensors_default_and_run_steps_in_process() -> None:
    assert T.sensor_interval_seconds(30, {}) == 30
    assert T.sensor_interval_seconds(60, {T.INTERVAL_ENV: " "}) == 60
    assert T.run_executor({}) is dg.in_process_executor


def test_the_knobs_set_every_devmetrics_sensor_and_the_executor() -> None:
    assert T.sensor_interval_seconds(60, {T.INTERVAL_ENV: "5"}) == 5
    assert T.run_executor({T.EXECUTOR_ENV: "In_Process"}) is dg.in_process_executor
    assert T.run_executor({T.EXECUTOR_ENV: "multiprocess"}) is dg.multiprocess_executor


@pytest.mark.parametrize(("environ", "says"), [
    ({T.INTERVAL_ENV: "0"}, "at least 1"), ({T.INTERVAL_ENV: "2.5"}, "whole number"),
    ({T.EXECUTOR_ENV: "threads"}, "expected one of in_process, multiprocess"),
])
def test_a_bad_value_is_one_line_naming_the_variable(environ, says) -> None:
    with pytest.raises(ConfigError, match=says) as raised:
        T.sensor_interval_seconds(30, environ)
        T.run_executor(environ)
    assert next(iter(environ)) in str(raised.value)


def test_the_definitions_apply_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(T.INTERVAL_ENV, "7")
    monkeypatch.setenv(T.EXECUTOR_ENV, "multiprocess")  # the default is in process
    defs = build_definitions(settings_in(tmp_path / "home"))
    intervals = {s.name: s.minimum_interval_seconds for s in defs.sensors}
    named = ("devmetrics_automation", "alerting_failed_runs", "devmetrics_run_reaper")
    assert {intervals[n] for n in named} == {7}
    job = defs.get_repository_def().get_implicit_global_asset_job_def()
    assert job.executor_def is dg.multiprocess_executor
