"""Received and event times outside [history floor, now + skew] get a stable reason."""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.config import Settings
from devmetrics_assets.sources.time_bounds import TimeBounds

NOW = pd.Timestamp("2025-03-05T12:00:00Z")


def bounds(tmp_path, **overrides) -> TimeBounds:
    settings = Settings(home=tmp_path, warehouse_path=tmp_path / "w.duckdb", landing_dir=tmp_path,
                        rules_path=tmp_path / "r.yaml", partition_start="2024-12-01", **overrides)
    return TimeBounds.for_settings(settings, now=NOW.to_pydatetime())


def test_reasons_name_the_value_and_the_setting_but_never_now(tmp_path) -> None:
    values = pd.Series(pd.to_datetime(["1970-01-01T00:00:00Z", "2025-03-05T00:00:00Z",
                                       "2025-03-06T13:00:00Z", None], utc=True))
    reasons = bounds(tmp_path).reasons("received_at", values)
    assert reasons.tolist() == [
        "received_at 1970-01-01T00:00:00Z is before the history floor 2008-01-01 (DEVMETRICS_HISTORY_FLOOR)",
        None,
        "received_at 2025-03-06T13:00:00Z is more than 24 h in the future (DEVMETRICS_FUTURE_SKEW_HOURS)",
        None,
    ]


def test_floor_and_skew_are_settings(tmp_path) -> None:
    b = bounds(tmp_path, history_floor="2020-01-01", future_skew_hours=0.0)
    assert b.earliest == pd.Timestamp("2020-01-01", tz="UTC") and b.latest == NOW
    late = b.reasons("event time", pd.Series([NOW + pd.Timedelta(seconds=1)]))
    assert late.iloc[0].startswith("event time")
