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
    assert result["ticks_4d"]["partitions_requested_after_arrival"][0] > 0  # the tick measured real work
    assert "2xx -> Gold day row median" in report(result)
