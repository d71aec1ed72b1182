"""Pull ranges for live and past windows, and the durable cursor store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from devmetrics_assets.sources.pull.cursors import PullPlan, PullState, next_watermark, plan_pull

D = datetime(2025, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)
OVERLAP = timedelta(minutes=10)


def test_live_window_without_cursor_starts_at_the_window() -> None:
    now = D + timedelta(hours=9)
    assert plan_pull(D, D + DAY, None, OVERLAP, now) == PullPlan(D, now, live=True, advances=True)


def test_live_window_resumes_from_cursor_minus_overlap() -> None:
    now = D + timedelta(hours=9)
    cursor = D + timedelta(hours=8)
    plan = plan_pull(D, D + DAY, cursor, OVERLAP, now)
    assert (plan.lower, plan.upper, plan.advances) == (cursor - OVERLAP, now, True)


def test_live_window_catches_up_from_a_cursor_in_an_earlier_day() -> None:
    now = D + timedelta(hours=1)
    cursor = D - timedelta(hours=2)  # last pulled yesterday 22:00: the tail is a late arrival of today
    plan = plan_pull(D, D + DAY, cursor, OVERLAP, now)
    assert plan.lower == cursor - OVERLAP < D and plan.upper == now


def test_cursor_ahead_of_now_rereads_the_overlap_only() -> None:
    now = D + timedelta(hours=5)
    plan = plan_pull(D, D + DAY, now + timedelta(minutes=30), OVERLAP, now)
    assert (plan.lower, plan.upper) == (now - OVERLAP, now)


def test_past_window_is_a_backfill_of_exactly_the_window() -> None:
    now = D + 5 * DAY
    assert plan_pull(D, D + DAY, None, OVERLAP, now) == PullPlan(D, D + DAY, live=False, advances=False)
    behind = plan_pull(D, D + DAY, D + 3 * DAY, OVERLAP, now)  # cursor already past: never moves back
    assert (behind.lower, behind.upper, behind.advances) == (D, D + DAY, True)
    ahead = plan_pull(D, D + DAY, D - 3 * DAY, OVERLAP, now)  # a gap before it: must not be skipped
    assert (ahead.lower, ahead.upper, ahead.advances) == (D, D + DAY, False)


def test_future_window_pulls_nothing() -> None:
    assert plan_pull(D + DAY, D + 2 * DAY, None, OVERLAP, D + timedelta(hours=3)) is None


def test_next_watermark_is_the_newest_version_or_the_lower_bound() -> None:
    plan = PullPlan(D, D + DAY, live=True, advances=True)
    assert next_watermark(plan, [D + timedelta(hours=2), D + timedelta(hours=5)]) == D + timedelta(hours=5)
    assert next_watermark(plan, []) == D


def test_cursor_store_is_durable_and_only_moves_forward(tmp_path) -> None:
    path = tmp_path / "landing" / "src" / "_pull_state.sqlite3"
    state = PullState(path)
    assert state.watermark("src", "deployments@acme/api") is None
    assert state.advance("src", "deployments@acme/api", D + timedelta(hours=3)) == D + timedelta(hours=3)
    assert state.advance("src", "deployments@acme/api", D + timedelta(hours=1)) == D + timedelta(hours=3)
    state.advance("src", "issues@acme/api", D)
    reopened = PullState(path)  # a new process
    assert reopened.cursors("src") == {"deployments@acme/api": D + timedelta(hours=3), "issues@acme/api": D}
    assert reopened.watermark("other", "deployments@acme/api") is None
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_failed_transaction_leaves_the_cursor_unchanged(tmp_path) -> None:
    state = PullState(tmp_path / "s.sqlite3")
    state.advance("src", "r", D)
    with pytest.raises(RuntimeError), state._connect() as con:
        con.execute("UPDATE cursors SET watermark = '2030-01-01T00:00:00Z'")
        raise RuntimeError("crash before commit")
    assert state.watermark("src", "r") == D


def test_etag_cache_is_bounded(tmp_path) -> None:
    state = PullState(tmp_path / "s.sqlite3", cache_entries=3)
    for i in range(5):
        state.put(f"https://api/x?page={i}", f'"e{i}"', b"[]")
    assert state.get("https://api/x?page=0") is None
    assert state.get("https://api/x?page=4") == ('"e4"', b"[]")
