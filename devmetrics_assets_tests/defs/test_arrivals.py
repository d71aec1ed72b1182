"""The arrivals sensor (defs/arrivals.py): landing-file growth -> one Bronze run per grown received day."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.defs.arrivals import (
    ARRIVALS_SENSOR,
    FULL_SCAN_EVERY,
    ArrivalsCursor,
    DayFileStat,
    arrival_sensors,
    decide_arrivals,
    scan_day_files,
    scan_landing,
)
from devmetrics_assets.sources.registry import SourceSpec

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
TIERS = {"github": "near_real_time"}


def ns(at: datetime) -> int:
    return int(at.timestamp() * 1e9)


def stat(day: str, size: int, at: datetime, source: str = "github") -> DayFileStat:
    return DayFileStat(source, date.fromisoformat(day), f"{day}.jsonl", size, ns(at))


def test_growth_is_requested_once_and_nothing_when_nothing_grew():
    base = decide_arrivals([stat("2025-03-04", 100, NOW - timedelta(hours=1))], None, NOW, TIERS)
    assert base.grown == {}  # changed an hour ago: loaded by whatever ran then, not by the baseline
    grown = decide_arrivals([stat("2025-03-04", 180, NOW)], base.cursor, NOW, TIERS)
    assert grown.grown == {date(2025, 3, 4): {"github": 180}}
    again = decide_arrivals([stat("2025-03-04", 180, NOW)], grown.cursor, NOW + timedelta(seconds=5), TIERS)
    assert again.grown == {}


def test_a_new_file_and_an_old_file_appended_to_are_both_seen():
    files = [stat(f"2025-02-{d:02d}", 50, NOW - timedelta(days=30 - d)) for d in range(1, 28)]
    base = decide_arrivals(files, None, NOW, TIERS)
    # Only recently modified files keep their size in the cursor: it does not grow with history.
    assert len(base.cursor.sizes) <= 1
    later = NOW + timedelta(minutes=1)
    old_grown = [*files[:-1], stat("2025-02-27", 90, later), stat("2025-03-04", 10, later)]
    decision = decide_arrivals(old_grown, base.cursor, later, TIERS)
    assert decision.grown == {date(2025, 2, 27): {"github": 90}, date(2025, 3, 4): {"github": 10}}


def test_baseline_loads_today_when_it_changed_recently():
    decision = decide_arrivals([stat("2025-03-04", 10, NOW - timedelta(seconds=30)),
                                stat("2025-03-03", 10, NOW - timedelta(seconds=30))], None, NOW, TIERS)
    assert decision.grown == {date(2025, 3, 4): {"github": 10}}


def test_quiet_source_gets_one_run_per_threshold_and_a_delivery_starts_over():
    last = NOW - timedelta(minutes=8)  # near_real_time: late after 7.5 min, quiet after 15 min
    files = [stat("2025-03-04", 10, last)]
    first = decide_arrivals(files, ArrivalsCursor(high_water_ns=ns(last)), NOW, TIERS)
    assert first.quiet == [("github", f"quiet:github:late:{ns(last)}")]
    same = decide_arrivals(files, first.cursor, NOW + timedelta(minutes=1), TIERS)
    assert same.quiet == []
    quiet = decide_arrivals(files, same.cursor, NOW + timedelta(minutes=8), TIERS)
    assert quiet.quiet == [("github", f"quiet:github:quiet:{ns(last)}")]
    assert decide_arrivals(files, quiet.cursor, NOW + timedelta(hours=3), TIERS).quiet == []
    arrived = NOW + timedelta(hours=3)
    fresh = decide_arrivals([stat("2025-03-04", 20, arrived)], quiet.cursor, arrived, TIERS)
    assert fresh.quiet == [] and fresh.cursor.quiet["github"] == []


def test_a_source_that_never_delivered_is_reported_once():
    first = decide_arrivals([], None, NOW, TIERS)
    assert first.quiet == [("github", "quiet:github:quiet:never")]
    assert decide_arrivals([], first.cursor, NOW + timedelta(hours=1), TIERS).quiet == []


# ------------------------------------------------------------------------------ the sensor itself
@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "landing" / "github").mkdir(parents=True)
    return tmp_path


def sensor_for(home: Path) -> tuple[dg.SensorDefinition, dg.Definitions]:
    spec = SourceSpec(name="github", type="landing_jsonl", provider="github",
                      landing_dir=home / "landing" / "github", tier="near_real_time", secret_env=None,
                      description="test")
    partitions = dg.DailyPartitionsDefinition(start_date="2025-03-01", end_offset=1)

    @dg.asset(name=spec.asset_name, partitions_def=partitions)
    def _bronze() -> None:
        return None

    sensors = arrival_sensors([spec], partitions, run_tags={"devmetrics/warehouse": "w"})
    return sensors[0], dg.Definitions(assets=[_bronze], sensors=sensors)


def tick(sensor: dg.SensorDefinition, defs: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def test_sensor_requests_the_received_day_of_a_delivery_with_a_stable_run_key(home, monkeypatch):
    monkeypatch.setenv("DEVMETRICS_NOW", "2025-03-04T12:00:00Z")
    day_file = home / "landing" / "github" / "2025-03-04.jsonl"
    day_file.write_bytes(b'{"delivery_id": "a"}\n')
    os.utime(day_file, ns=(ns(NOW - timedelta(minutes=5)),) * 2)
    sensor, defs = sensor_for(home)
    assert sensor.name == ARRIVALS_SENSOR
    with dg.instance_for_test() as instance:
        baseline = tick(sensor, defs, instance, None)  # today's file changed recently: loaded
        assert [r.run_key for r in baseline.run_requests] == ["arrival:2025-03-04:github@21"]
        with day_file.open("ab") as handle:
            handle.write(b'{"delivery_id": "b"}\n')
        os.utime(day_file, ns=(ns(NOW),) * 2)
        first = tick(sensor, defs, instance, baseline.cursor)
        (request,) = first.run_requests
        assert request.partition_key == "2025-03-04"
        assert request.asset_selection == [dg.AssetKey("bronze_github")]
        assert request.run_key == f"arrival:2025-03-04:github@{day_file.stat().st_size}"
        assert request.tags["devmetrics/read"] == "new_lines"
        assert request.tags["devmetrics/warehouse"] == "w"
        # The same growth seen again from the same cursor asks for the same run key (Dagster launches
        # one run per key); from the new cursor it asks for nothing.
        assert tick(sensor, defs, instance, baseline.cursor).run_requests[0].run_key == request.run_key
        idle = tick(sensor, defs, instance, first.cursor)
        assert idle.run_requests == [] and idle.skip_message == "nothing arrived"
        # While a run writing the same warehouse is in flight, growth waits (the cursor stays).
        busy = dg.DagsterRun(job_name="__ASSET_JOB", run_id="busy", status=dg.DagsterRunStatus.STARTED,
                             tags={"devmetrics/warehouse": "w"})
        instance.add_run(busy)
        with day_file.open("ab") as handle:
            handle.write(b'{"delivery_id": "c"}\n')
        held = tick(sensor, defs, instance, first.cursor)
        assert held.run_requests == [] and held.cursor == first.cursor and "busy" in held.skip_message
        instance.report_run_canceled(instance.get_run_by_id("busy"))
        (after,) = tick(sensor, defs, instance, first.cursor).run_requests
        assert after.run_key == f"arrival:2025-03-04:github@{day_file.stat().st_size}"


def test_scan_reads_only_day_files(home):
    folder = home / "landing" / "github"
    (folder / "2025-03-04.jsonl").write_bytes(b"x\n")
    (folder / "import-abc.jsonl").write_bytes(b"y\n")
    (folder / "2025-02-30.jsonl").write_bytes(b"z\n")  # not a date
    (folder / "rejects").mkdir()
    assert [f.name for f in scan_day_files("github", folder)] == ["2025-03-04.jsonl"]
    assert scan_day_files("github", home / "missing") == []


def _tick_files(home: Path, cursor: ArrivalsCursor | None, now: datetime):
    """One tick's scan and decision; the cursor as the sensor stores it."""
    from dataclasses import replace

    scan = scan_landing({"github": home / "landing" / "github"}, cursor, now)
    decision = decide_arrivals(scan.files, cursor, now, TIERS)
    return scan, decision, replace(decision.cursor, folders=scan.folders, full_scan_ns=scan.full_scan_ns)


def test_a_tick_stats_only_what_can_have_changed_and_everything_every_full_scan_period(home):
    folder = home / "landing" / "github"
    for day in range(1, 28):  # a month of history, last written long ago
        path = folder / f"2025-02-{day:02d}.jsonl"
        path.write_bytes(b"x\n")
        os.utime(path, ns=(ns(NOW - timedelta(days=30 - day)),) * 2)
    today = folder / "2025-03-04.jsonl"
    today.write_bytes(b"t\n")
    os.utime(today, ns=(ns(NOW - timedelta(seconds=30)),) * 2)
    first, _, cursor = _tick_files(home, None, NOW)
    assert len(first.files) == 28  # the first tick sees everything
    later = NOW + timedelta(seconds=5)
    idle, decision, cursor = _tick_files(home, cursor, later)
    assert [f.name for f in idle.files] == ["2025-03-04.jsonl"]  # not the month: its cost stays flat
    assert decision.grown == {} and decision.quiet == []  # the newest mtime is kept in the cursor
    # An append in place to an old day file (no writer does that) waits for the next full scan ...
    with (folder / "2025-02-10.jsonl").open("ab") as handle:
        handle.write(b"late\n")
    os.utime(folder / "2025-02-10.jsonl", ns=(ns(later),) * 2)
    os.utime(folder, ns=(cursor.folders["github"],) * 2)  # the folder itself did not change
    _, decision, cursor = _tick_files(home, cursor, later + timedelta(seconds=5))
    assert decision.grown == {}
    full = later + FULL_SCAN_EVERY
    scan, decision, cursor = _tick_files(home, cursor, full)
    assert len(scan.files) == 28 and decision.grown == {date(2025, 2, 10): {"github": 7}}
    # ... a file copied in (the folder changes) is seen on the next tick, and so is today's growth.
    (folder / "2025-02-28.jsonl").write_bytes(b"copied\n")
    with today.open("ab") as handle:
        handle.write(b"u\n")
    _, decision, _ = _tick_files(home, cursor, full + timedelta(seconds=5))
    assert decision.grown == {date(2025, 2, 28): {"github": 7}, date(2025, 3, 4): {"github": 4}}
