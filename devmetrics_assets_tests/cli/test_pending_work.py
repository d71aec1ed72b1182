"""A load that dies after Bronze committed is never stranded: running it again, `devmetrics load --resume`
or the automation sensor finishes it, and `devmetrics status` shows it meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.cli import main
from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.runner import DAILY_JOB, run_range
from devmetrics_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture
def recorded(home: Path, tmp_path: Path, monkeypatch) -> Path:
    """One file of a seeded organisation's deliveries (two repos, ten days), signed with the sample key."""
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    org = generate_sample_org(tmp_path / "org", repos=2, days=10, start=date(2025, 3, 3), seed=5)
    path = tmp_path / "recorded.jsonl"
    path.write_text("".join(p.read_text() for p in sorted(org.deliveries_dir.glob("*.jsonl"))))
    return path


def gold_of(home: Path) -> pd.DataFrame:
    gold = Warehouse(home / "warehouse.duckdb").read_table("gold_dora_monthly")
    return gold.sort_values(["period_start", "scope_type", "scope"]).reset_index(drop=True)


def bronze_only(path: Path) -> None:
    """What a load that died right after Bronze committed leaves: deliveries and their pending days."""
    from devmetrics_assets.cli.load import land
    from devmetrics_assets.instance_setup import prepare_environment
    from devmetrics_assets.sources.registry import load_sources

    settings = Settings.from_env()
    prepare_environment(settings)
    defs = build_definitions(settings)
    land(path, load_sources(settings=settings)[0])
    with dg.DagsterInstance.get() as instance:
        run_range(defs, instance, DAILY_JOB, date(2025, 3, 3), date(2025, 3, 12), ["bronze_github"])


def test_the_same_load_again_finishes_what_a_dead_load_left(home: Path, recorded: Path, capsys) -> None:
    bronze_only(recorded)
    assert len(Warehouse(home / "warehouse.duckdb").pending_event_days())
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "pending work: " in out and "event day(s) in 1 load batch(es)" in out
    assert main(["load", str(recorded)]) == 0  # Bronze adds nothing; the pending days are finished
    out = capsys.readouterr().out
    assert "0 event day(s) changed" in out and "pending event day(s) of earlier loads" in out
    assert Warehouse(home / "warehouse.duckdb").pending_event_days().empty
    assert int(gold_of(home).query("scope_type == 'org'")["deployments"].sum()) > 0


def test_load_resume_finishes_it_and_gives_what_an_uninterrupted_load_gives(
        home: Path, recorded: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    bronze_only(recorded)
    assert main(["load", "--resume"]) == 0
    resumed = gold_of(home)
    assert main(["load", "--resume"]) == 0 and "nothing pending" in capsys.readouterr().out
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "clean"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "clean_dagster"))
    assert main(["load", str(recorded)]) == 0
    clean = gold_of(tmp_path / "clean")
    pd.testing.assert_frame_equal(resumed.drop(columns=[c for c in resumed if c.endswith("_at")]),
                                  clean.drop(columns=[c for c in clean if c.endswith("_at")]))


def test_the_automation_sensor_requests_the_pending_days(home: Path, recorded: Path) -> None:
    from devmetrics_assets.instance_setup import prepare_environment

    prepare_environment(Settings.from_env())
    defs = build_definitions(Settings.from_env())
    # The sensor's clock: midday of the last received day, so every Bronze partition it sees is loaded.
    at = datetime(2025, 3, 12, 12, tzinfo=UTC)
    with dg.DagsterInstance.get() as instance:
        # A running sensor has evaluated before (its first evaluation requests nothing, by design).
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=at)
        bronze_only(recorded)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor,
                                                   evaluation_time=at + timedelta(minutes=1))
    pending = {d.date().isoformat()
               for d in Warehouse(home / "warehouse.duckdb").pending_event_days()["event_day"]}
    requested = set(result.get_requested_partitions(dg.AssetKey("silver_deployments")))
    assert pending and requested == pending


def test_a_load_killed_with_kill_9_is_finished_by_running_it_again(
        home: Path, recorded: Path, tmp_path: Path) -> None:
    from devmetrics_assets.instance_setup import prepare_environment

    prepare_environment(Settings.from_env())
    with dg.DagsterInstance.get():  # its storage created once, before two processes use it
        pass
    env = {**os.environ}
    command = [sys.executable, "-m", "devmetrics_assets.cli", "load", str(recorded)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with dg.DagsterInstance.get() as instance:  # Bronze done: its materialisation is recorded
                if instance.get_latest_materialization_event(dg.AssetKey("bronze_github")) is not None:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(Warehouse(home / "warehouse.duckdb").pending_event_days())  # killed between Bronze and Gold
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert Warehouse(home / "warehouse.duckdb").pending_event_days().empty
    with dg.DagsterInstance.get() as instance:
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert stuck == []  # the killed run was marked failed, not left STARTED
    monthly = gold_of(home)
    env.update(DEVMETRICS_HOME=str(tmp_path / "clean"), DAGSTER_HOME=str(tmp_path / "clean_dh"))
    clean_run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert clean_run.returncode == 0, clean_run.stderr
    clean = gold_of(tmp_path / "clean")
    keep = [c for c in monthly if not c.endswith("_at")]
    pd.testing.assert_frame_equal(monthly[keep], clean[keep])
