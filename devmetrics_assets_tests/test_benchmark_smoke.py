"""The benchmark script runs end to end at a tiny size and its pipelines agree with the SQL floor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"


def test_benchmark_runs_and_gold_counts_equal_the_duckdb_floor(tmp_path: Path) -> None:
    done = subprocess.run(
        # The production backfill and the half window are left out here: the postgres suite covers the
        # profile, and a 20-day half window says nothing about memory.
        [sys.executable, str(SCRIPT), "--repos", "3", "--days", "20", "--sample-days", "1",
         "--work", str(tmp_path), "--skip-services",
         "--scenarios", "floor,data,ephemeral,backfill,backfill_stock,per_day"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "floor counts equal Gold counts: True" in done.stdout, done.stdout
    assert "single-run backfill (local profile)" in done.stdout
    # Every instance the backfill ran on has its event-storage share printed (production needs PostgreSQL).
    for label in ("local profile", "Dagster's stock SQLite"):
        lines = done.stdout.splitlines()
        assert any(line.strip().startswith(label) and " s CPU " in line for line in lines), done.stdout
