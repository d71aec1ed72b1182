"""Housekeeping sensors: settle the pending-work ledger, and fail runs whose process is gone.

- `devmetrics_pending_work` (every minute): clears the ledger rows whose Silver and Gold partitions were
  all materialised after them (pending_work.settle), whoever did the work; the automation sensor
  requests what is still pending (automation.PendingEventDays). `devmetrics status` shows the rest.
- `devmetrics_run_reaper` (every minute): marks failed the STARTED runs whose process no longer exists
  on this machine (instance_setup.fail_orphaned_runs), so a kill -9 is reported like any failed run by
  the run-failure notification sensor instead of staying STARTED forever.
Both are on by default and run in the code server (they read the configured warehouse).
"""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.config import Settings
from devmetrics_assets.instance_setup import fail_orphaned_runs

PENDING_SENSOR = "devmetrics_pending_work"
REAPER_SENSOR = "devmetrics_run_reaper"


def housekeeping_sensors(settings: Settings, interval_seconds: int = 60) -> list[dg.SensorDefinition]:
    @dg.sensor(name=PENDING_SENSOR, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Clears pending event days once Silver and every Gold grain caught up.")
    def pending_work(context: dg.SensorEvaluationContext):
        from devmetrics_assets.pending_work import settle
        from devmetrics_assets.storage.selection import open_storage
        from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

        try:
            settled = settle(context.instance, open_storage(settings))
        except (WarehouseLockedError, NothingMaterializedError) as exc:
            return dg.SkipReason(f"warehouse not readable now ({type(exc).__name__}); next tick")
        left = len(settled.pending)
        return dg.SkipReason(f"cleared {settled.cleared} pending row(s); {left} still pending")

    @dg.sensor(name=REAPER_SENSOR, minimum_interval_seconds=interval_seconds,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Marks failed the STARTED runs whose process is gone (kill -9, crash).")
    def run_reaper(context: dg.SensorEvaluationContext):
        failed = fail_orphaned_runs(context.instance)
        return dg.SkipReason(f"marked {len(failed)} orphaned run(s) failed: {failed}" if failed
                             else "no orphaned run")

    return [pending_work, run_reaper]
