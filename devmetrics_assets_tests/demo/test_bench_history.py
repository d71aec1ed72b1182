"""The benchmark's history: today always holds the recorded deliveries the freshness replay needs.

2026-12-08 is a real quiet day of the 2-repo organisation with seed 7 (4 deliveries): the CI run of that
night replayed 1 delivery of the 3 asked for."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from devmetrics_assets.demo.bench.freshness import TAIL_KEPT, pick_deliveries
from devmetrics_assets.demo.bench.history import QuietToday, _generate

QUIET_DAY = date(2026, 12, 8)


def _today_file(folder: Path, today: date) -> Path:
    return folder / "deliveries" / f"{today.isoformat()}.jsonl"


def test_a_quiet_today_moves_on_to_the_next_seed(tmp_path: Path):
    start = QUIET_DAY - timedelta(days=4)
    quiet = _generate(tmp_path / "quiet", repos=2, days=4, start=start, today=QUIET_DAY, seed=7, min_today=0)
    assert quiet == 7
    assert len(pick_deliveries(_today_file(tmp_path / "quiet", QUIET_DAY), 3)) < 3  # the failure it fixes

    wanted = 3 + TAIL_KEPT
    seed = _generate(tmp_path / "busy", repos=2, days=4, start=start, today=QUIET_DAY, seed=7,
                     min_today=wanted)
    assert seed > 7
    today_file = _today_file(tmp_path / "busy", QUIET_DAY)
    assert len(today_file.read_text(encoding="utf-8").splitlines()) >= wanted
    assert len(pick_deliveries(today_file, 3)) == 3


def test_an_impossible_day_names_the_settings_to_change(tmp_path: Path):
    with pytest.raises(QuietToday, match="raise --repos or lower --deliveries"):
        _generate(tmp_path / "g", repos=1, days=1, start=QUIET_DAY - timedelta(days=1), today=QUIET_DAY,
                  seed=7, min_today=10_000)
    assert not (tmp_path / "g").exists()
