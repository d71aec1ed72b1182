"""One clock for every judgement of "now", pinned with DEVMETRICS_NOW."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devmetrics_assets.checks.validations_core import utc_now as validations_now
from devmetrics_assets.clock import NOW_ENV, ClockConfigError, parse_utc, utc_now


def test_pinned_clock_is_read_everywhere(monkeypatch) -> None:
    monkeypatch.setenv(NOW_ENV, "2025-03-04T12:30:00Z")
    assert utc_now() == datetime(2025, 3, 4, 12, 30, tzinfo=UTC)
    assert validations_now(None).isoformat() == "2025-03-04T12:30:00+00:00"


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-03-04", datetime(2025, 3, 4, tzinfo=UTC)),
    ("2025-03-04T10:00:00", datetime(2025, 3, 4, 10, tzinfo=UTC)),  # no offset: UTC, the one rule
    ("2025-03-04T10:00:00+02:00", datetime(2025, 3, 4, 8, tzinfo=UTC)),
])
def test_times_without_an_offset_are_utc(text: str, expected: datetime) -> None:
    assert parse_utc(text) == expected


def test_a_malformed_pin_is_a_one_line_error(monkeypatch) -> None:
    monkeypatch.setenv(NOW_ENV, "yesterday")
    with pytest.raises(ClockConfigError, match="DEVMETRICS_NOW='yesterday' is not an ISO-8601 time"):
        utc_now()


def test_unpinned_clock_is_the_real_time(monkeypatch) -> None:
    monkeypatch.delenv(NOW_ENV, raising=False)
    before = datetime.now(UTC)
    assert before <= utc_now() <= datetime.now(UTC)
