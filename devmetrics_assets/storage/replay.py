"""Which partitions to re-materialise so quarantined records get another chance after a fix.

Quarantine rows say where a record was rejected; replaying means re-running the partition that
produced the row, not patching rows by hand:
- Silver rows (`layer = 'silver'`): `partition_day` is the Silver partition (the delivery's event
  day), so re-running that Silver asset for those days recomputes them and the asset replaces its own
  quarantine rows for the window (a fixed record leaves quarantine).
- Bronze rows: a line rejected while reading a landing file is re-read from that file by re-running
  the Bronze partition of the day it was RECEIVED: `partition_day` when known, else the day in the
  file name (`file:YYYY-MM-DD.jsonl:N`). A line without a readable day in a file not named by day
  cannot be placed: it is listed in `unresolved` (any Bronze run re-reads such a file whole).
  Re-running Bronze appends what now parses (Bronze de-duplicates, so nothing doubles); the Silver
  and Gold partitions it changed follow, as for `devmetrics load`.
- Gold rows, if a Gold asset ever quarantines: `partition_day` is the period start.

Pure pandas + the Storage interface's reads; no Dagster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.tables import LAYERS

DAY_FILE_REF = re.compile(r"^file:(\d{4}-\d{2}-\d{2})\.jsonl:\d+$")
LAYER_ORDER = {layer: i for i, layer in enumerate(LAYERS)}


@dataclass(frozen=True)
class ReplayTarget:
    """Re-materialise `asset` for `days` (partition keys); `rows` quarantine rows are concerned."""

    layer: str
    asset: str
    days: tuple[date, ...]
    rows: int
    unresolved: tuple[str, ...] = ()  # record refs whose partition cannot be told (Bronze only)

    def __iter__(self):
        # Unpacks as (asset, days), the shape the CLI needs.
        return iter((self.asset, self.days))


def _day_of_ref(ref: object) -> pd.Timestamp | None:
    match = DAY_FILE_REF.match(str(ref)) if isinstance(ref, str) else None
    return pd.Timestamp(match.group(1)) if match else None


def plan_replay(rows: pd.DataFrame) -> list[ReplayTarget]:
    """Group quarantine rows (layer, asset, record_ref, partition_day) into replay targets."""
    if rows.empty:
        return []
    frame = rows[["layer", "asset", "record_ref", "partition_day"]].copy()
    day = pd.to_datetime(frame["partition_day"])
    from_ref = frame["record_ref"].map(_day_of_ref)
    is_bronze = frame["layer"].eq("bronze")
    # Bronze rows without a received day: the day in the landing file's name, when it has one.
    day = day.where(day.notna() | ~is_bronze, pd.to_datetime(from_ref))
    frame = frame.assign(day=day)
    targets = []
    for (layer, asset), group in frame.groupby(["layer", "asset"], sort=False):
        days = tuple(sorted({ts.date() for ts in group["day"].dropna()}))
        unresolved = tuple(sorted(group.loc[group["day"].isna(), "record_ref"].astype(str)))
        targets.append(ReplayTarget(layer=str(layer), asset=str(asset), days=days, rows=len(group),
                                    unresolved=unresolved))
    return sorted(targets, key=lambda t: (LAYER_ORDER.get(t.layer, 99), t.asset))


def check_layer(layer: str | None) -> None:
    if layer is not None and layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(LAYERS)}")


def replay_quarantine(
    warehouse: Storage,
    *,
    layer: str | None = None,
    asset: str | None = None,
    reason_like: str | None = None,
) -> list[ReplayTarget]:
    """The partitions to re-materialise for the quarantine rows matching the filters (Bronze first,
    then Silver, then Gold: the order to run them). Nothing quarantined (or no table yet) gives [].

    `reason_like` is a case-insensitive substring, or an ILIKE pattern when it contains `%`."""
    check_layer(layer)
    return plan_replay(warehouse.quarantine_refs(layer=layer, asset=asset, reason_like=reason_like))
