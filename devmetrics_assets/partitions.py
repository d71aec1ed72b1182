"""Partitions shared by the layers: Bronze and Silver by day, Gold by day, ISO week and month.

Bronze is partitioned by the day a delivery was RECEIVED (immutable landing history); Silver by the
event's anchor day (docs/contracts.md §3). A delivery can arrive up to LATE_WINDOW_DAYS after its
event day and still be declared as an input of that Silver partition, so the UI marks the partition
stale when such a delivery lands. Later ones are still placed in their event day (Silver reads by
event day), and `devmetrics load` re-materialises exactly the affected days.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from devmetrics_assets.config import Settings

LATE_WINDOW_DAYS = 7

# BackfillPolicy is marked beta but is the documented way to run a range as one run.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)


def _first_monday_on_or_after(day: date) -> date:
    return day + timedelta(days=(7 - day.weekday()) % 7)


_START = date.fromisoformat(Settings.from_env().partition_start)

# end_offset=1: today's partition exists, so near-real-time and hourly sources load today's deliveries.
daily_partitions = dg.DailyPartitionsDefinition(start_date=_START.isoformat(), end_offset=1)
# The current (open) week and month exist too, as today's day does: Gold for them is partial, and
# a refresh of recent days must be able to write their week and month.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=_first_monday_on_or_after(_START).isoformat(), day_offset=1, end_offset=1
)
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=_START.replace(day=1).isoformat(), end_offset=1
)

# Silver day E reads deliveries received on E .. E+LATE_WINDOW_DAYS.
# The last days' upstream windows reach past today; allowing that is a beta flag, stable in use.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    late_arrival_mapping = dg.TimeWindowPartitionMapping(
        start_offset=0, end_offset=LATE_WINDOW_DAYS, allow_nonexistent_upstream_partitions=True
    )


def window_of(context: dg.AssetExecutionContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The run's partition window as naive UTC midnights [start, end).

    Single-run backfills give a range, so assets always work on the window, never on one key.
    """
    window = context.partition_time_window
    return _naive(window.start), _naive(window.end)


def _naive(value: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
