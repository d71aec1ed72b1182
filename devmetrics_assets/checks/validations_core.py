"""What every data-quality validation returns, and the helpers all of them share (no Dagster here).

A `Validation` is the verdict of one check over ONE run window: passed or not, the counts that decided
it, the thresholds it used, a few sample keys a person can look up, and a one-line summary; the
*_checks.py modules turn it into a Dagster check result, and the notifier and tests use it directly.
The layer-specific validations live beside this module (validations_bronze.py, validations_drift.py,
validations_silver.py, validations_gold.py) and validations.py re-exports them all. `quarantine_rate`
is here because every layer that quarantines records judges it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets import clock
from devmetrics_assets.storage.frames import utc

SAMPLE = 5
QUARANTINE_RATE_WARN = 0.05  # share of records read that were quarantined (docs/trust.md)


@dataclass(frozen=True)
class Validation:
    """What one check found. `severity` ("warn" | "error") overrides the check's default when set."""

    name: str
    passed: bool
    summary: str
    counts: dict[str, int | float] = field(default_factory=dict)
    threshold: dict[str, Any] = field(default_factory=dict)
    sample: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None
    # The days (or period starts) whose data failed; None: the window as a whole (all its partitions).
    failed_days: tuple[Any, ...] | None = None
    # "partitions": judges the data of the run's partitions; "now": time since something (freshness).
    judges: str = "partitions"

    def metadata(self) -> dict[str, Any]:
        """Plain JSON-able metadata: counts flat, thresholds and details prefixed, samples as a list."""
        meta: dict[str, Any] = {"summary": self.summary, **self.counts}
        meta.update({f"threshold_{k}": v for k, v in self.threshold.items()})
        meta.update(self.details)
        meta["sample"] = list(self.sample)
        return {k: jsonable(v) for k, v in meta.items()}


def failing_on(validation: Validation, days: Iterable[Any]) -> Validation:
    """`validation` naming the days whose data failed (kept as is when it passed)."""
    if validation.passed:
        return validation
    return replace(validation, failed_days=tuple(days))


def jsonable(value: Any) -> Any:
    """numpy scalars, timestamps and durations (also inside dicts and lists) as plain JSON values."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def as_day(value: Any) -> pd.Timestamp:
    """A day as a naive midnight (aware values converted to the UTC day first)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def utc_now(now: Any | None) -> pd.Timestamp:
    """`now` as an aware UTC timestamp; when None, the product clock (devmetrics_assets.clock: the real
    time, or DEVMETRICS_NOW when it is pinned)."""
    return pd.Timestamp(clock.utc_now()) if now is None else utc(now)


def quarantine_rate(
    quarantined: int,
    read: int,
    *,
    threshold: float = QUARANTINE_RATE_WARN,
    sample_refs: Iterable[str] = (),
    name: str = "quarantine_rate",
) -> Validation:
    """Share of the records read that went to quarantine; fails above `threshold`.

    A few quarantined records are normal (a forged delivery, a malformed payload); many mean a
    broken sender, a rotated secret or a parser that no longer understands the payloads.
    """
    rate = quarantined / read if read else 0.0
    passed = rate <= threshold
    summary = (
        f"{quarantined} of {read} records quarantined ({rate:.1%}); threshold {threshold:.0%}"
        + ("" if passed else ": look at the quarantine table's reasons for this window")
    )
    return Validation(name, passed, summary, {"quarantined": quarantined, "read": read, "rate": rate},
                      {"rate": threshold}, list(sample_refs)[:SAMPLE])
