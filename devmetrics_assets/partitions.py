"""Partitions shared by the layers: Bronze and Silver by day, Gold by day, ISO week and month.

Bronze is partitioned by the day a delivery was RECEIVED (immutable landing history); Silver by the
event's anchor day (docs/contracts.md §3). A delivery can arrive up to LATE_WINDOW_DAYS after its
event day and still be declared as an input of that Silver partition, so the UI marks the partition
stale when such a delivery lands. Later ones are still placed in their event day (Silver reads by
event day), and `devmetrics load` re-materialises exactly the affected days.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd

from devmetrics_assets.config import Settings, extend_partition_start
from devmetrics_assets.storage.backend import Storage

LATE_WINDOW_DAYS = 7

# BackfillPolicy is marked beta but is the documented way to run a range as one run.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)


def _monday_on_or_before(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class PartitionSet:
    """The daily, ISO-weekly and monthly partitions of one graph, all starting at `start`.

    Built when the definitions load, from `Settings.partition_start` (which a load of older history
    extends), never at import: a module-level partitions definition would freeze the start of whichever
    process imported it first. end_offset=1 everywhere: today's day, week and month exist (partial until
    they close), so intra-day sources load today's deliveries and recent Gold can be written.
    """

    start: date
    daily: dg.DailyPartitionsDefinition
    weekly: dg.WeeklyPartitionsDefinition
    monthly: dg.MonthlyPartitionsDefinition

    def for_grain(self, grain: str) -> dg.TimeWindowPartitionsDefinition:
        return {"day": self.daily, "week": self.weekly, "month": self.monthly}[grain]


@functools.lru_cache(maxsize=8)
def partition_set(start: str | date) -> PartitionSet:
    """The partitions starting at `start` (an ISO date). The first week is the ISO week holding the
    start (so every day has its week) and the first month is the start's month."""
    first = start if isinstance(start, date) else date.fromisoformat(start)
    return PartitionSet(
        start=first,
        daily=dg.DailyPartitionsDefinition(start_date=first.isoformat(), end_offset=1),
        weekly=dg.WeeklyPartitionsDefinition(start_date=_monday_on_or_before(first).isoformat(), day_offset=1,
                                             end_offset=1),
        monthly=dg.MonthlyPartitionsDefinition(start_date=first.replace(day=1).isoformat(), end_offset=1),
    )


def partitions_for(settings: Settings | None = None) -> PartitionSet:
    """The partitions of the configured (or extended) start."""
    return partition_set((settings or Settings.from_env()).partition_start)


def holds_data(storage: Storage) -> bool:
    """Whether the warehouse holds any Bronze delivery (a home with none may move its start later)."""
    from devmetrics_assets.storage.tables import BRONZE_TABLE

    return storage.table_exists(BRONZE_TABLE) and storage.max_load_seq() > 0


def follow_data_start(settings: Settings, earliest: date, storage: Storage, *,
                      exact: bool = False) -> Settings:
    """Settings whose partitions start where the data does.

    A fresh home (no Bronze data yet) takes the month of `earliest` (`exact`: the day) as its start, later
    than the default as well as earlier, so a history that begins in 2025 shows no empty 2024 partitions in
    the UI. A home holding data only moves its start earlier (a later start would hide stored partitions).
    The start is persisted in `<home>/partitions.json`; an explicit DEVMETRICS_PARTITION_START is never
    moved later.
    """
    return extend_partition_start(settings, earliest, fresh=not holds_data(storage), exact=exact)


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
