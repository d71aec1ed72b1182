"""The runner over recent days: today's day, the open week and the open month are partitions too."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.runner import contiguous_ranges, materialise_days, week_start
from devmetrics_assets.storage.loaders import load_gold
from devmetrics_assets_tests.conftest import land_sample, settings_in


def test_contiguous_ranges_cut_at_gaps() -> None:
    d = date(2025, 3, 1)
    days = [d, d + timedelta(days=1), d + timedelta(days=5), d + timedelta(days=2)]
    assert contiguous_ranges(days) == [(d, d + timedelta(days=2)), (d + timedelta(days=5),) * 2]
    mondays = [date(2025, 3, 3), date(2025, 3, 10), date(2025, 3, 24)]
    assert contiguous_ranges(mondays, timedelta(days=7)) == [(mondays[0], mondays[1]), (mondays[2],) * 2]


@pytest.mark.slow
def test_materialising_up_to_today_writes_the_open_week_and_month(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    today = date.today()
    org = generate_sample_org(tmp_path / "org", repos=2, days=20, start=today - timedelta(days=19), seed=3)
    settings = settings_in(tmp_path / "home")
    days = [d for d in land_sample(org, settings) if d <= today]
    with dg.instance_for_test() as instance:
        results = materialise_days(build_definitions(settings), instance, days)
        assert all(r.success for r in results)
    weeks = load_gold("week", scope_type="org", warehouse=settings.warehouse_path)
    months = load_gold("month", scope_type="org", warehouse=settings.warehouse_path)
    assert pd.Timestamp(week_start(today)) in set(weeks["period_start"])
    assert pd.Timestamp(today.replace(day=1)) in set(months["period_start"])
