"""Durable pending work: event days a Bronze load changed, until Silver and every Gold grain caught up.

Bronze records each load batch's event days in `pending_event_days` in the same transaction as the
deliveries (defs/bronze.py, storage). A pending row is *done* when each Silver model's day partition,
the day's Gold, its ISO week's Gold and its month's Gold were all materialised after the row was
recorded: a state-based definition, so it holds whoever did the work (the command line, the automation
sensor, a backfill launched in the UI). `settle` clears the done rows; `finish` materialises what is
pending (a load that died after Bronze committed, from kill -9, a locked warehouse or a bad rule) and
then settles. `devmetrics load`, `devmetrics load --resume` and the `devmetrics_pending_work` sensor use
them; `devmetrics status` shows what is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import pandas as pd

from devmetrics_assets.runner import GOLD_DAILY, SILVER, materialise_days, week_start
from devmetrics_assets.storage.backend import Storage

GOLD_WEEKLY, GOLD_MONTHLY = "gold_dora_weekly", "gold_dora_monthly"
PAGE = 1000
IN_PROGRESS = ("STARTED", "STARTING", "QUEUED", "NOT_STARTED", "CANCELING")
# After a successful Bronze run the automation sensor needs a tick or two (30 s each) and a Silver and a
# Gold run to catch up; a batch still pending well past that is stranded, not waiting.
STRANDED_AFTER_SECONDS = 15 * 60


@dataclass(frozen=True)
class Settled:
    cleared: int  # ledger rows cleared now
    pending: pd.DataFrame  # ledger rows still pending


def _partitions_of(day: date) -> dict[str, str]:
    """asset name -> the partition key that must be newer than a pending row of `day`."""
    keys = {name: day.isoformat() for name in (*SILVER, GOLD_DAILY)}
    keys[GOLD_WEEKLY] = week_start(day).isoformat()
    keys[GOLD_MONTHLY] = day.replace(day=1).isoformat()
    return keys


def latest_materialisations(
    instance: dg.DagsterInstance, asset: str, partitions: Iterable[str], after: float
) -> dict[str, float]:
    """partition key -> timestamp of its newest materialisation after `after` (absent when none)."""
    wanted = sorted(set(partitions))
    newest: dict[str, float] = {}
    cursor = None
    while wanted:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=wanted,
                                  after_timestamp=after),
            limit=PAGE, cursor=cursor, ascending=False,
        )
        for record in result.records:
            key = record.partition_key
            if key is not None and record.timestamp > newest.get(key, 0.0):
                newest[key] = record.timestamp
        if not result.has_more:
            break
        cursor = result.cursor
    return newest


def done_mask(pending: pd.DataFrame, instance: dg.DagsterInstance) -> pd.Series:
    """Per ledger row: were all its partitions materialised after it was recorded?"""
    if pending.empty:
        return pd.Series([], dtype=bool)
    recorded = pd.to_datetime(pending["recorded_at"], utc=True)
    days = [pd.Timestamp(d).date() for d in pending["event_day"]]
    after = recorded.min().timestamp() - 1.0
    needed = [_partitions_of(d) for d in days]
    newest = {asset: latest_materialisations(instance, asset, {n[asset] for n in needed}, after)
              for asset in needed[0]}
    done = [
        all(newest[asset].get(key, 0.0) >= rec.timestamp() for asset, key in need.items())
        for need, rec in zip(needed, recorded, strict=True)
    ]
    return pd.Series(done, index=pending.index, dtype=bool)


def settle(instance: dg.DagsterInstance, storage: Storage) -> Settled:
    """Clear the ledger rows whose Silver and Gold partitions were all materialised after them."""
    pending = storage.pending_event_days()
    if pending.empty:
        return Settled(0, pending)
    done = done_mask(pending, instance)
    cleared = storage.clear_pending(pending[done]) if done.any() else 0
    return Settled(cleared, pending[~done].reset_index(drop=True))


def pending_days(storage: Storage) -> list[date]:
    pending = storage.pending_event_days()
    return sorted({pd.Timestamp(d).date() for d in pending["event_day"]})


def finish(
    defs: dg.Definitions, instance: dg.DagsterInstance, storage: Storage
) -> tuple[list[date], Settled]:
    """Materialise every pending event day (Silver, daily Gold with reach-back, weeks, months), then
    settle. Returns the days run and what is still pending (new arrivals meanwhile, or a failure)."""
    days = pending_days(storage)
    if days:
        materialise_days(defs, instance, days, include_bronze=False, storage=storage)
    return days, settle(instance, storage)


def _stranded(status: str, age_seconds: float) -> bool:
    if status in IN_PROGRESS:
        return False
    return status != "SUCCESS" or age_seconds > STRANDED_AFTER_SECONDS


def describe(
    pending: pd.DataFrame, instance: dg.DagsterInstance, now: datetime | None = None
) -> pd.DataFrame:
    """One row per pending load batch: source, days, oldest day, age, and the state of its Bronze run
    (a batch whose Bronze run failed, or ended long ago, with days still pending is stranded: `devmetrics
    load --resume` finishes it)."""
    if pending.empty:
        return pd.DataFrame(columns=["load_batch_id", "source", "days", "first_day", "last_day",
                                     "age_minutes", "bronze_run", "stranded"])
    now = now or datetime.now(UTC)
    rows = []
    for (batch, source), group in pending.groupby(["load_batch_id", "source"], sort=False):
        run = instance.get_run_by_id(batch)
        status = run.status.value if run is not None else "unknown"
        recorded = pd.to_datetime(group["recorded_at"], utc=True).min()
        rows.append({
            "load_batch_id": batch, "source": source, "days": len(group),
            "first_day": pd.Timestamp(group["event_day"].min()).date().isoformat(),
            "last_day": pd.Timestamp(group["event_day"].max()).date().isoformat(),
            "age_minutes": round((pd.Timestamp(now) - recorded).total_seconds() / 60, 1),
            "bronze_run": status,
            "stranded": _stranded(status, (pd.Timestamp(now) - recorded).total_seconds()),
        })
    return pd.DataFrame(rows)
