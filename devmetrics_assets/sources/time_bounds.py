"""Which received and event times a delivery may carry, and the one rule for times without an offset.

A delivery whose `received_at` or event time (its Silver anchor) lies before the history floor
(`DEVMETRICS_HISTORY_FLOOR`, default 2008-01-01) or more than `DEVMETRICS_FUTURE_SKEW_HOURS` (default 24)
after now is quarantined with its reason: a 1970 epoch-zero or a year-9999 placeholder would otherwise
ask for decades of partitions. A time written without an offset is read as UTC, everywhere (readers, the
command line, the receiver's envelopes): providers send UTC, and a guess at a local zone would differ by
machine. Reasons never include "now", so the same bad line keeps one stable quarantine id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from devmetrics_assets.clock import utc_now
from devmetrics_assets.config import Settings


@dataclass(frozen=True)
class TimeBounds:
    """[earliest, latest] for received and event times, both aware UTC."""

    earliest: pd.Timestamp
    latest: pd.Timestamp
    skew_hours: float = 24.0

    @classmethod
    def for_settings(cls, settings: Settings, now: datetime | None = None) -> TimeBounds:
        now = now or utc_now()
        skew = settings.future_skew_hours
        return cls(earliest=pd.Timestamp(settings.history_floor, tz="UTC"),
                   latest=pd.Timestamp(now).tz_convert("UTC") + timedelta(hours=skew), skew_hours=skew)

    @classmethod
    def unbounded(cls) -> TimeBounds:
        """Bounds that accept every time pandas can hold (pure parsers called without settings)."""
        return cls(earliest=pd.Timestamp("1678-01-01", tz="UTC"), latest=pd.Timestamp("2261-12-31", tz="UTC"),
                   skew_hours=float("inf"))

    def reasons(self, what: str, values: pd.Series) -> pd.Series:
        """Per value, why it is out of bounds (None when it is within them or missing)."""
        times = pd.to_datetime(values, utc=True)
        early = (times < self.earliest).fillna(False).to_numpy(dtype=bool)
        late = (times > self.latest).fillna(False).to_numpy(dtype=bool)
        out = pd.Series([None] * len(times), index=values.index, dtype=object)
        for i in early.nonzero()[0]:
            out.iloc[i] = self.too_early(what, times.iloc[i])
        for i in late.nonzero()[0]:
            out.iloc[i] = self.too_late(what, times.iloc[i])
        return out

    def too_early(self, what: str, value: object) -> str:
        return (f"{what} {_text(value)} is before the history floor {self.earliest:%Y-%m-%d} "
                "(DEVMETRICS_HISTORY_FLOOR)")

    def too_late(self, what: str, value: object) -> str:
        return (f"{what} {_text(value)} is more than {self.skew_hours:g} h in the future "
                "(DEVMETRICS_FUTURE_SKEW_HOURS)")

    def sql_params(self) -> dict[str, object]:
        """The bounds as DuckDB parameters ($earliest, $latest, $floor_text, $skew_text)."""
        return {"earliest": self.earliest.to_pydatetime(), "latest": self.latest.to_pydatetime(),
                "floor_text": f"{self.earliest:%Y-%m-%d}", "skew_text": f"{self.skew_hours:g}"}


def _text(value: object) -> str:
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, TypeError):
        return str(value)
