"""as_utc, the one scalar conversion to aware UTC: naive is UTC, missing is None, garbage raises."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.timeutil import as_utc

T = datetime(2025, 3, 4, 10, 15, 2, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    datetime(2025, 3, 4, 10, 15, 2),                                      # naive: UTC
    datetime(2025, 3, 4, 12, 15, 2, tzinfo=timezone(timedelta(hours=2))),  # aware: converted
    pd.Timestamp("2025-03-04 10:15:02"),
    pd.Timestamp("2025-03-04 11:15:02", tz="Europe/Paris"),
    np.datetime64("2025-03-04T10:15:02"),
    "2025-03-04T10:15:02Z",
    " 2025-03-04T10:15:02z ",
    "2025-03-04T12:15:02+02:00",
    "2025-03-04 10:15:02",
    1741083302,                      # epoch seconds
    1741083302.0,
    np.int64(1741083302),
    1741083302000,                   # epoch milliseconds
], ids=repr)
def test_every_form_of_one_instant_gives_the_same_aware_utc_datetime(value: object) -> None:
    result = as_utc(value)
    assert result == T and result.tzinfo is UTC
    assert type(result) is datetime  # never a pandas Timestamp, whatever came in


def test_a_date_or_a_bare_iso_date_is_its_utc_midnight() -> None:
    midnight = datetime(2025, 3, 4, tzinfo=UTC)
    assert as_utc(date(2025, 3, 4)) == midnight and as_utc("2025-03-04") == midnight


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NaT, pd.NA, "", "   "], ids=repr)
def test_missing_values_are_none(value: object) -> None:
    assert as_utc(value) is None


@pytest.mark.parametrize("value", ["garbage", "2025-13-01", "04/03/2025", True, [2025], {"t": 1},
                                   float("inf"), 1e30], ids=repr)
def test_garbage_raises_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        as_utc(value)
