"""Two knobs for the runs and ticks the daemon drives, both read when the definitions load (in the code
server the daemon starts), both unset by default (docs/deploy.md):

- `DEVMETRICS_SENSOR_INTERVAL_SECONDS` (a whole number of seconds, at least 1) replaces the minimum
  interval of the automation, notification and housekeeping sensors. Unset, each keeps its default (30 s,
  60 s for housekeeping). The daemon's own sensor loop still wakes at most every 5 s, whatever the value.
- `DEVMETRICS_EXECUTOR=in_process|multiprocess` chooses how the runs the daemon launches (automation,
  schedules, arrivals, UI launches) execute their steps. Unset: `in_process`, the steps one after another
  in the run's own process: the runs the daemon launches are a few seconds of step work, and Dagster's
  default (`multiprocess`, a process per step) costs 20+ s per run on a small machine, more than the work;
  the steps of one run write one DuckDB file in turn anyway. `multiprocess` brings Dagster's default back.

The interval exists so tests can drive a real `dagster-daemon run` in seconds rather than minutes; a
deployment may use both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from devmetrics_assets.config import ConfigError

INTERVAL_ENV = "DEVMETRICS_SENSOR_INTERVAL_SECONDS"
EXECUTOR_ENV = "DEVMETRICS_EXECUTOR"
DEFAULT_EXECUTOR = "in_process"
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


def sensor_interval_seconds(default: int, environ: Mapping[str, str] | None = None) -> int:
    """`default`, unless DEVMETRICS_SENSOR_INTERVAL_SECONDS sets one interval for every devmetrics sensor."""
    env = os.environ if environ is None else environ
    text = env.get(INTERVAL_ENV, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{INTERVAL_ENV}={text!r}: expected a whole number of seconds, at least 1")
    return int(text)


def run_executor(environ: Mapping[str, str] | None = None) -> dg.ExecutorDefinition:
    """The executor DEVMETRICS_EXECUTOR names; in process when it is unset."""
    env = os.environ if environ is None else environ
    name = env.get(EXECUTOR_ENV, "").strip().lower() or DEFAULT_EXECUTOR
    if name not in EXECUTORS:
        raise ConfigError(f"{EXECUTOR_ENV}={env.get(EXECUTOR_ENV)!r}: expected one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name]
