"""Smoke of the benchmark's `freshness` scenario at a tiny size: daemon, receiver, replay, tick costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmetrics_assets.demo.bench.freshness import report, run_all

pytestmark = pytest.mark.slow


def test_freshness_scenario_reaches_gold_for_every_delivery(tmp_path: Path):
    result = run_all(tmp_path, repos=2, days=4, compare_days=2, deliveries=3, span=10.0, settle=300.0,
                     idle=5.0)
    live = result["live"]
    assert live["deliveries_sent"] == 3
    assert live["reflected"] == 3, report(result)
    assert live["runs_by_trigger"].get("arrival", 0) >= 1
    # The tick after an arrival was measured on both homes. It may request nothing: the arrival run itself
    # took its day to daily Gold (what automation still requests is tested in defs/test_arrival_run.py).
    for ticks in (result["ticks_4d"], result["ticks_2d"]):
        assert ticks["automation_after_arrival_cpu_s"] > 0
        assert len(ticks["partitions_requested_after_arrival"]) > 0
    assert "2xx -> Gold day row median" in report(result)
