"""Deployment frequency as deploy-days per week, and which days of a period the data covers.

- Observed window: from the day of the first deployment Silver knows (any environment or status) to the
  day of the latest event it knows (a deployment created or finished, an incident opened or resolved).
  `as_of` is that latest event time: an unrecovered failure's age is measured to the earlier of it and
  the period's end, never to the real clock.
- days_covered: the period's days inside the observed window; is_partial: fewer than the period's days
  (the first and the last week or month of a history), so a partial period is not read as a dip.
- deploy_days: days with at least one release (additive over days: a week's is the sum of its days').
- deploy_days_per_week_median: the median (linear interpolation) of deploy-days over the complete ISO
  weeks that lie wholly inside the period and the observed window (weeks without a deployment count as
  0); null for day rows and for periods without such a week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from devmetrics_assets.transforms.gold_releases import utc

DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Observed:
    """The observed window: first and last covered day (naive midnights) and the latest event time."""

    first_day: pd.Timestamp | None
    last_day: pd.Timestamp | None
    as_of: pd.Timestamp | None


def observed_window(deployments: pd.DataFrame, incidents: pd.DataFrame) -> Observed:
    """The window Silver's deployments and incidents cover (see the module docstring)."""
    times = []
    for frame, columns in (
        (deployments, ("created_at", "finished_at")),
        (incidents, ("opened_at", "resolved_at")),
    ):
        for column in columns:
            if column in frame and len(frame):
                times.append(utc(frame[column]).max())
    times = [t for t in times if not pd.isna(t)]
    starts = utc(deployments["created_at"]).dropna() if len(deployments) else pd.Series(dtype=object)
    if not times or starts.empty:
        return Observed(None, None, max(times) if times else None)
    as_of = max(times)
    first = starts.min().tz_convert("UTC").tz_localize(None).normalize().as_unit("us")
    last = as_of.tz_convert("UTC").tz_localize(None).normalize().as_unit("us")
    return Observed(first, last, as_of)


def covered_days(period_start: pd.Series, period_end: pd.Series, observed: Observed) -> pd.Series:
    """Days of [period_start, period_end) inside the observed window."""
    if observed.first_day is None or observed.last_day is None:
        return pd.Series(0, index=period_start.index, dtype="int64")
    lo = period_start.where(period_start > observed.first_day, observed.first_day)
    hi = period_end.where(period_end < observed.last_day + DAY, observed.last_day + DAY)
    return ((hi - lo) / DAY).clip(lower=0).astype("int64")


def whole_weeks(start: pd.Timestamp, end: pd.Timestamp, observed: Observed) -> list[pd.Timestamp]:
    """Mondays of the ISO weeks wholly inside [start, end) and the observed window."""
    if observed.first_day is None or observed.last_day is None:
        return []
    lo = max(start, observed.first_day)
    hi = min(end, observed.last_day + DAY)
    first_monday = lo + pd.Timedelta(days=(7 - lo.day_of_week) % 7)
    return list(pd.date_range(first_monday, hi - 7 * DAY, freq="7D", unit="us"))


def weekly_medians(
    rows: pd.DataFrame, period: str, deploy_day_sets: dict[tuple[str, str], set], observed: Observed
) -> pd.Series:
    """deploy_days_per_week_median for every Gold row (period_start, period_end, scope_type, scope)."""
    if period == "day":
        return pd.Series(np.nan, index=rows.index, dtype="float64")
    cache: dict[tuple, list[pd.Timestamp]] = {}
    out = []
    for start, end, scope_type, scope in zip(
        rows["period_start"], rows["period_end"], rows["scope_type"], rows["scope"], strict=True
    ):
        key = (start, end)
        if key not in cache:
            cache[key] = whole_weeks(start, end, observed)
        weeks = cache[key]
        if not weeks:
            out.append(np.nan)
            continue
        days = deploy_day_sets.get((scope_type, scope), set())
        counts = [sum((w + k * DAY) in days for k in range(7)) for w in weeks]
        out.append(float(np.median(counts)))
    return pd.Series(out, index=rows.index, dtype="float64")
