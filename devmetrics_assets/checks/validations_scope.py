"""Which partitions a run judged, and which of them failed (pure, no Dagster).

A run covers a range of partitions (single-run backfills: a year of days is one run), so a check
result must say WHICH partitions it judged and, when it failed, which of them failed: the notifier
only sends "passed again" once a later execution passed over the partitions that failed
(alerting/check_recovery.py), and the per-partition metadata of the layers is keyed the same way.

Partition keys are the ISO dates Dagster's daily, weekly and monthly partitions use (`2025-03-01`),
each the start of its window; a day belongs to the last key starting on or before it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.checks.validations_core import as_day

# metadata names shared by the checks (checks/results.py) and the alerting sensor
PARTITIONS = "partitions"
PARTITION_COUNT = "partition_count"
FAILED_PARTITIONS = "failed_partitions"
FAILED_PARTITION_COUNT = "failed_partition_count"
JUDGES = "judges"  # "partitions" (the data of the listed partitions) or "now" (time since, not data)


@dataclass(frozen=True)
class PartitionScope:
    """The partition keys of one run, ascending, and the window's end (exclusive, naive midnight)."""

    keys: tuple[str, ...]
    end: pd.Timestamp | None = None

    @classmethod
    def of(cls, keys: Iterable[str], end: Any | None = None) -> PartitionScope:
        ordered = tuple(sorted(dict.fromkeys(str(k) for k in keys)))
        return cls(ordered, None if end is None else as_day(end))

    @property
    def starts(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex([pd.Timestamp(k) for k in self.keys])

    def label(self) -> str:
        """`first..last` (or the one key); '' for no key."""
        if not self.keys:
            return ""
        return self.keys[0] if len(self.keys) == 1 else f"{self.keys[0]}..{self.keys[-1]}"

    def key_of(self, days: Iterable[Any]) -> list[str | None]:
        """The key each day belongs to (None outside the scope)."""
        values = pd.Series(list(days) if not isinstance(days, pd.Series) else days, dtype=object)
        if values.empty or not self.keys:
            return [None] * len(values)
        stamps = pd.to_datetime(values, utc=True, errors="coerce").dt.tz_localize(None).dt.normalize()
        starts = self.starts
        wanted = stamps.to_numpy(dtype="datetime64[ns]")
        position = np.searchsorted(starts.to_numpy(dtype="datetime64[ns]"), wanted, side="right") - 1
        inside = ~np.isnat(wanted) & (position >= 0)
        if self.end is not None:
            inside &= wanted < np.datetime64(self.end.to_datetime64(), "ns")
        keys = np.array(self.keys, dtype=object)[np.clip(position, 0, None)]
        return np.where(inside, keys, None).tolist()

    def keys_of(self, days: Iterable[Any]) -> list[str]:
        """The distinct keys holding any of `days`, ascending."""
        return sorted({k for k in self.key_of(days) if k is not None})

    def group(self, days: pd.Series) -> pd.Series:
        """`days` mapped to their keys (a Series aligned with `days`, None outside the scope)."""
        return pd.Series(self.key_of(days), index=days.index, dtype=object)

    def counts(self, days: Iterable[Any]) -> dict[str, int]:
        """Rows per key, every key of the scope present (0 when it has none)."""
        got = Counter(self.key_of(days))
        return {k: int(got.get(k, 0)) for k in self.keys}


def scope_metadata(
    scope: PartitionScope | None,
    passed: bool,
    failed: Sequence[str] | None = None,
    judges: str = "partitions",
) -> dict[str, Any]:
    """What a check result says about its partitions.

    `failed`: the keys that failed (None: the window failed as a whole, so all of them). A check that
    judges time since something (`judges="now"`, e.g. freshness) names the window but lists no failed
    partitions: any later pass clears it.
    """
    if scope is None or not scope.keys:
        return {}
    meta: dict[str, Any] = {PARTITIONS: scope.label(), PARTITION_COUNT: len(scope.keys), JUDGES: judges}
    if not passed and judges == "partitions":
        keys = sorted(set(failed or ()) & set(scope.keys)) or list(scope.keys)
        meta[FAILED_PARTITIONS] = keys
        meta[FAILED_PARTITION_COUNT] = len(keys)
    return meta

