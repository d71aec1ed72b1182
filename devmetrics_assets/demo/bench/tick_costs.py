"""CPU seconds of one automation tick and one arrivals-sensor tick on a home holding a history, idle and
after one new delivery: the work the code server does per tick, without the daemon's fixed overhead."""

from __future__ import annotations

import statistics
import time
from typing import Any

from devmetrics_assets.demo.bench.history import GOLD_DAILY, History, env_vars


def _cpu(fn) -> tuple[float, Any]:
    started = time.process_time()
    out = fn()
    return time.process_time() - started, out


def tick_costs(history: History, repeats: int = 3) -> dict[str, Any]:
    """CPU seconds of one automation tick and one arrivals tick, idle and after one new delivery."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.defs.arrivals import ARRIVALS_SENSOR

    dagster_home = str(history.home / "dagster_home")
    with env_vars(history.env), dg.DagsterInstance.from_config(dagster_home) as instance:
        defs = build_definitions()
        sensor = defs.get_sensor_def(ARRIVALS_SENSOR)

        def automation(cursor):
            return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)

        def arrivals(cursor):
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
            return sensor.evaluate_tick(context)

        cursor = automation(None).cursor  # the first evaluation is the initial one, not a steady tick
        sensor_cursor = arrivals(None).cursor
        idle, idle_arrivals = [], []
        for _ in range(repeats):
            cpu, result = _cpu(lambda c=cursor: automation(c))
            idle.append(cpu)
            cursor = result.cursor
            cpu, data = _cpu(lambda c=sensor_cursor: arrivals(c))
            idle_arrivals.append(cpu)
            sensor_cursor = data.cursor
        arrival, arrival_sensor, requested = [], [], []
        lines = history.today_file.read_bytes().splitlines(keepends=True)
        landing = history.home / "landing" / "github" / history.today_file.name
        # Deliveries the replay never sends (it takes them evenly, not the tail).
        for line in lines[-repeats:]:
            with landing.open("ab") as handle:
                handle.write(line)
            cpu, data = _cpu(lambda c=sensor_cursor: arrivals(c))
            arrival_sensor.append(cpu)
            sensor_cursor = data.cursor
            for request in data.run_requests or []:
                job = defs.get_implicit_global_asset_job_def()
                assert job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                              asset_selection=list(request.asset_selection),
                                              tags=request.tags).success
            cpu, result = _cpu(lambda c=cursor: automation(c))
            arrival.append(cpu)
            cursor = result.cursor
            requested.append(result.total_requested)
        partitions = len(defs.get_assets_def(GOLD_DAILY).partitions_def.get_partition_keys())
    return {"daily_partitions": partitions, "automation_idle_cpu_s": statistics.median(idle),
            "automation_after_arrival_cpu_s": statistics.median(arrival),
            "arrivals_idle_cpu_s": statistics.median(idle_arrivals),
            "arrivals_after_arrival_cpu_s": statistics.median(arrival_sensor),
            "partitions_requested_after_arrival": requested}
