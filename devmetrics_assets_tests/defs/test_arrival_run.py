"""An arrival run takes its received day from Bronze to daily Gold in one run; automation does the rest.

On a home holding a few days of the sample organisation (bench/history.py), the real definitions: the
arrivals sensor's request for today's new deliveries, executed, then the automation ticks after it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.defs.arrivals import ARRIVALS_SENSOR
from devmetrics_assets.demo.bench.history import env_vars, prepare_history
from devmetrics_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow  # loads a few days through the whole graph first (~25 s)

TODAY = date(2025, 3, 4)
NOW = datetime(2025, 3, 4, 12, 0)
SILVER = {"silver_changes", "silver_deployments", "silver_incidents"}
DAILY = {"gold_dora_daily", "gold_fact_deployments", "gold_fact_changes", "gold_fact_incidents"}
ALL = {"bronze_github", *SILVER, *DAILY, "gold_dora_weekly", "gold_dora_monthly", "quarantine"}


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEVMETRICS_NOW", f"{NOW.isoformat()}Z")
    return prepare_history(tmp_path, repos=2, days=3, today=TODAY)


def _org_rows(home: Path, day: date) -> int:
    gold = Warehouse(home / "warehouse.duckdb").read_table("gold_dora_daily")
    return int(((gold["scope_type"] == "org") & (gold["period_start"].dt.date == day)).sum())


def _requested(result: dg.EvaluateAutomationConditionsResult) -> set[tuple[str, str | None]]:
    return {(key, partition)
            for key in ALL for partition in result.get_requested_partitions(dg.AssetKey(key))}


def test_an_arrival_run_reaches_daily_gold_and_automation_requests_only_week_and_month(history):
    from devmetrics_assets.definitions import build_definitions

    with env_vars(history.env), dg.DagsterInstance.from_config(history.env["DAGSTER_HOME"]) as instance:
        defs = build_definitions()
        sensor = defs.get_sensor_def(ARRIVALS_SENSOR)
        evaluated_at = NOW.replace(tzinfo=None)
        automation = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                                       evaluation_time=evaluated_at)
        baseline = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        # The copied history was loaded by its backfill (the source is quiet since midnight: that run
        # only re-checks Bronze's freshness).
        assert [r.tags["devmetrics/trigger"] for r in baseline.run_requests] in ([], ["quiet_source"])
        # Today's first deliveries land, as the receiver appends them.
        lines = history.today_file.read_bytes().splitlines(keepends=True)
        assert len(lines) >= 5
        (history.home / "landing" / "github" / history.today_file.name).write_bytes(b"".join(lines[:5]))
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=baseline.cursor,
                                                            definitions=defs))
        (request,) = tick.run_requests
        assert request.partition_key == TODAY.isoformat()
        selected = {k.to_user_string() for k in request.asset_selection}
        assert selected == {"bronze_github", *SILVER, *DAILY}
        assert _org_rows(history.home, TODAY) == 0
        job = defs.get_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                        asset_selection=list(request.asset_selection), tags=request.tags)
        assert result.success
        materialised = {(e.asset_key.to_user_string(), e.partition)
                        for e in result.get_asset_materialization_events()
                        for e in [e.event_specific_data.materialization]}
        assert materialised == {(key, TODAY.isoformat()) for key in selected}
        assert _org_rows(history.home, TODAY) == 1  # today's Gold row, from this one run
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=automation.cursor,
                                                  evaluation_time=evaluated_at + timedelta(seconds=30))
        requested = _requested(after)
        today = TODAY.isoformat()
        # Not again what the arrival run just did ...
        assert not {(key, today) for key in SILVER | DAILY} & requested
        # ... but the earlier event days today's deliveries touched (late events, reach-back), whose week
        # and month wait for them; once they ran, the next tick takes the week and the month.
        for day in sorted({p for key, p in requested if key in SILVER | DAILY}):
            keys = [dg.AssetKey(k) for k, p in requested if p == day and k in SILVER | DAILY]
            assert job.execute_in_process(instance=instance, partition_key=day, asset_selection=keys).success
        final = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor,
                                                  evaluation_time=evaluated_at + timedelta(seconds=60))
        requested = _requested(final)
        assert not {(key, today) for key in SILVER | DAILY} & requested
        assert {("gold_dora_weekly", "2025-03-03"), ("gold_dora_monthly", "2025-03-01")} <= requested
