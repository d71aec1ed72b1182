"""Event-driven Bronze: the `devmetrics_arrivals` sensor requests a Bronze load when a landing file grows.

Why a size cursor on the landing files and not a commit log written by the receiver: the landing day
files are already the one hand-over point of every writer (the receiver's group commit, the API pullers,
a person copying a file in), and a file only grows after its bytes were fsynced and before the delivery
is acknowledged. Watching them needs no change to any writer and cannot disagree with what Bronze reads.

Each tick stats day files of the watched sources (no file is opened or read) and compares them with the
cursor. It stats only what can have changed, so its cost does not grow with the history's length: the
files whose size the cursor holds, the open received days' files (today, yesterday) and, when a folder's
own modification time moved (a file was created, renamed in or removed), that whole folder. Every
`FULL_SCAN_EVERY` it stats every day file anyway, so a hand-made append to an old day file in place (no
writer does that: the receiver and the pullers append to the received day's file) is seen within it.
Then:
- a file whose size changed since the cursor (or that is new) asks for the Bronze partition of its
  received day. One run request per received day, covering every watched source whose file of that day
  grew, with run key `arrival:<day>:<source>@<size>,...`: the same growth never launches two runs, and
  a later delivery (a new size) always launches one. Nothing grew: no run.
- the cursor keeps the sizes of the files modified recently (`RECENT`) plus a high-water modification
  time, so it stays the same size whatever the history: an old file that grows again has a modification
  time above the high water and is seen as grown.
- a quiet source: the Bronze `freshness` check (docs/trust.md, "Freshness") judges the newest stored
  delivery against the tier's warn and fail windows. It can only change its verdict when the source goes
  past one of them, so the sensor requests the source's latest partition exactly then (run keys
  `quiet:<source>:late|quiet:<newest mtime>`), once per threshold per silence, instead of a schedule
  re-running Bronze every 5 minutes whether or not anything arrived.

While a run that writes the same warehouse is in flight (queued, starting or started: same
`devmetrics/warehouse` tag; on MongoDB, another arrival run), the tick requests nothing and keeps its
cursor: deliveries arriving meanwhile go into one run after it (its Bronze reads every line that landed
before it starts), instead of a second run queued behind the first to read what the first already read.

The first tick on a home (no cursor) takes the current sizes as its baseline and requests today's
partition (and yesterday's in the first hour of a day, as the tier schedule did) for the sources whose
file of that day changed within `RECENT`, so deliveries received just before the sensor started are
loaded; a freshly copied history is not (its backfill loads it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from devmetrics_assets.checks.validations import TIER_FAIL_WINDOWS
from devmetrics_assets.clock import utc_now
from devmetrics_assets.defs.automation import partitions_to_load
from devmetrics_assets.instance_setup import WAREHOUSE_TAG
from devmetrics_assets.sources.lines import DAY_FILE
from devmetrics_assets.sources.registry import SourceSpec

ARRIVALS_SENSOR = "devmetrics_arrivals"
# Tiers whose Bronze is loaded on arrival (their tier schedule is gone); the others keep their schedule.
EVENT_TIERS = frozenset({"near_real_time"})
# Files modified this long before the high water keep their size in the cursor (a file modified twice
# within one mtime tick is still told apart by its size).
RECENT = timedelta(minutes=10)
# Request the quiet-source run this long after the threshold, so the check surely sees it crossed.
QUIET_SLACK = timedelta(seconds=5)
# A tick stats every day file at least this often (otherwise only what can have changed).
FULL_SCAN_EVERY = timedelta(minutes=10)
# `devmetrics/read: new_lines` makes Bronze read only the lines after its stored offsets (defs/bronze.py).
RUN_TAGS = {"devmetrics/trigger": "arrival", "devmetrics/read": "new_lines"}
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class DayFileStat:
    source: str
    day: date
    name: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        return f"{self.source}/{self.name}"


@dataclass
class ArrivalsCursor:
    """What the previous tick saw: recent file sizes, the high-water mtime, the quiet runs requested,
    each source's newest file mtime, each folder's own mtime and when every file was last statted."""

    sizes: dict[str, int] = field(default_factory=dict)
    high_water_ns: int = 0
    quiet: dict[str, list[str]] = field(default_factory=dict)  # source -> ["late:<ns>", "quiet:<ns>"]
    newest: dict[str, int] = field(default_factory=dict)  # source -> newest day-file mtime seen
    folders: dict[str, int] = field(default_factory=dict)  # source -> its folder's mtime at the last scan
    full_scan_ns: int = 0

    @classmethod
    def parse(cls, text: str | None) -> ArrivalsCursor | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(sizes=dict(data.get("sizes", {})), high_water_ns=int(data.get("high_water_ns", 0)),
                   quiet={k: list(v) for k, v in data.get("quiet", {}).items()},
                   newest={k: int(v) for k, v in data.get("newest", {}).items()},
                   folders={k: int(v) for k, v in data.get("folders", {}).items()},
                   full_scan_ns=int(data.get("full_scan_ns", 0)))

    def dump(self) -> str:
        return json.dumps({"sizes": self.sizes, "high_water_ns": self.high_water_ns, "quiet": self.quiet,
                           "newest": self.newest, "folders": self.folders, "full_scan_ns": self.full_scan_ns},
                          sort_keys=True, separators=(",", ":"))


def scan_day_files(source: str, folder: Path) -> list[DayFileStat]:
    """The day files of one landing folder with size and mtime; nothing is opened."""
    out: list[DayFileStat] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return out
    for entry in entries:
        match = DAY_FILE.match(entry.name)
        if not match or not entry.is_file():
            continue
        try:
            day = date.fromisoformat(match.group(1))
            stat = entry.stat()
        except (ValueError, FileNotFoundError):
            continue
        out.append(DayFileStat(source, day, entry.name, stat.st_size, stat.st_mtime_ns))
    return out


def _stat_named(source: str, folder: Path, names: Iterable[str]) -> list[DayFileStat]:
    out: list[DayFileStat] = []
    for name in sorted(set(names)):
        match = DAY_FILE.match(name)
        if not match:
            continue
        try:
            stat = (folder / name).stat()
        except FileNotFoundError:
            continue
        day = date.fromisoformat(match.group(1))
        out.append(DayFileStat(source, day, name, stat.st_size, stat.st_mtime_ns))
    return out


@dataclass(frozen=True)
class LandingScan:
    """The day files a tick statted, each folder's mtime (-1: missing) and when all were last statted."""

    files: list[DayFileStat]
    folders: dict[str, int]
    full_scan_ns: int


def scan_landing(folders: Mapping[str, Path], previous: ArrivalsCursor | None, now: datetime) -> LandingScan:
    """Stat the day files that can have changed since `previous` (module docstring); all of them on the
    first tick, when a folder's own mtime moved, and every `FULL_SCAN_EVERY`."""
    now_ns = int(now.timestamp() * 1e9)
    periodic = previous is None or now_ns - previous.full_scan_ns >= FULL_SCAN_EVERY.total_seconds() * 1e9
    today = now.astimezone(UTC).date()
    open_days = [f"{d.isoformat()}.jsonl" for d in (today, today - timedelta(days=1))]
    files: list[DayFileStat] = []
    mtimes: dict[str, int] = {}
    for source, folder in folders.items():
        try:
            # Before listing: a file created after this stat moves the mtime again and is seen next tick.
            mtimes[source] = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            mtimes[source] = -1
            continue
        if periodic or previous is None or previous.folders.get(source) != mtimes[source]:
            files.extend(scan_day_files(source, folder))
            continue
        known = [key.split("/", 1)[1] for key in previous.sizes if key.split("/", 1)[0] == source]
        files.extend(_stat_named(source, folder, [*known, *open_days]))
    full_scan_ns = now_ns if periodic else previous.full_scan_ns  # type: ignore[union-attr]
    return LandingScan(files=files, folders=mtimes, full_scan_ns=full_scan_ns)


@dataclass(frozen=True)
class ArrivalDecision:
    """Pure result of one tick: (received day, sources with their sizes) grown, quiet runs, next cursor."""

    grown: dict[date, dict[str, int]]
    quiet: list[tuple[str, str]]  # (source, run key)
    cursor: ArrivalsCursor


def decide_arrivals(
    files: Sequence[DayFileStat], previous: ArrivalsCursor | None, now: datetime,
    tiers: Mapping[str, str],
) -> ArrivalDecision:
    """Which received days grew since `previous`, which sources crossed a freshness threshold, next cursor.

    `tiers`: source name -> tier (every watched source, also those without files yet). No Dagster here.
    """
    now_ns = int(now.timestamp() * 1e9)
    recent_ns = int(RECENT.total_seconds() * 1e9)
    high_water = max([f.mtime_ns for f in files], default=0)
    if previous is not None:
        high_water = max(high_water, previous.high_water_ns)
    today = now.astimezone(UTC).date()
    open_from = today - timedelta(days=1) if now.astimezone(UTC).hour == 0 else today
    grown: dict[date, dict[str, int]] = {}
    for f in files:
        if previous is None:
            # Baseline: only the open received day (and yesterday in the first hour, as the tier schedule
            # loaded it) when it changed recently; older history was loaded by its backfill.
            changed = f.day >= open_from and f.mtime_ns >= now_ns - recent_ns
        elif f.key in previous.sizes:
            changed = previous.sizes[f.key] != f.size
        else:
            # Not in the cursor: new since the previous tick, or old and untouched (then its mtime is old).
            changed = f.mtime_ns >= previous.high_water_ns - recent_ns
        if changed and f.size > 0:
            grown.setdefault(f.day, {})[f.source] = f.size
    sizes = {f.key: f.size for f in files if f.mtime_ns >= high_water - recent_ns}
    quiet_state = {k: list(v) for k, v in (previous.quiet if previous else {}).items()}
    quiet: list[tuple[str, str]] = []
    # Kept in the cursor: a tick that statted only the recent files still knows each source's newest.
    newest = dict(previous.newest) if previous else {}
    for f in files:
        newest[f.source] = max(newest.get(f.source, 0), f.mtime_ns)
    for source, tier in sorted(tiers.items()):
        fail = TIER_FAIL_WINDOWS[tier]
        last = newest.get(source)
        fired = quiet_state.get(source, [])
        if last is None:
            marks = [("quiet", "never")]  # a source that never delivered is quiet: one run says so
        else:
            since = now_ns - last
            marks = [(level, str(last)) for level, window in (("late", fail / 2), ("quiet", fail))
                     if since >= int((window + QUIET_SLACK).total_seconds() * 1e9)]
        fresh = [f"{level}:{mark}" for level, mark in marks if f"{level}:{mark}" not in fired]
        if fresh:
            # One run per tick is enough: its check reports the worse verdict.
            quiet.append((source, f"quiet:{source}:{fresh[-1]}"))
        # Keep only the marks of the current silence: a new delivery starts a new one.
        current = str(last) if last is not None else "never"
        quiet_state[source] = sorted(m for m in {*fired, *fresh} if m.endswith(f":{current}"))
    cursor = ArrivalsCursor(sizes=sizes, high_water_ns=high_water, quiet=quiet_state, newest=newest)
    return ArrivalDecision(grown=grown, quiet=quiet, cursor=cursor)


def arrival_run_key(day: date, sizes: Mapping[str, int]) -> str:
    grown = ",".join(f"{source}@{size}" for source, size in sorted(sizes.items()))
    return f"arrival:{day.isoformat()}:{grown}"


def watched_sources(sources: Sequence[SourceSpec]) -> list[SourceSpec]:
    return [s for s in sources if s.tier in EVENT_TIERS]


def arrival_sensors(
    sources: Sequence[SourceSpec],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    minimum_interval_seconds: int = 5,
    run_tags: Mapping[str, str] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    follow: Sequence[dg.AssetKey] = (),
) -> list[dg.SensorDefinition]:
    """The arrivals sensor over the sources of `EVENT_TIERS` (none: no sensor).

    `follow`: assets partitioned like Bronze that an arrival run materialises after it, for the same
    received day (Silver, daily Gold, the fact tables): the delivery reaches its day's Gold in one run
    instead of waiting for an automation tick and a second run.
    """
    watched = watched_sources(sources)
    if not watched:
        return []
    keys = {s.name: dg.AssetKey(s.asset_name) for s in watched}
    follow = list(follow)
    tiers = {s.name: s.tier for s in watched}
    folders = {s.name: s.landing_dir for s in watched}
    tags = {**RUN_TAGS, **(run_tags or {})}
    # Runs that would compete with an arrival run for the warehouse.
    hold = {WAREHOUSE_TAG: tags[WAREHOUSE_TAG]} if WAREHOUSE_TAG in tags else {
        "devmetrics/trigger": "arrival"}

    @dg.sensor(name=ARRIVALS_SENSOR, target=dg.AssetSelection.assets(*keys.values(), *follow),
               minimum_interval_seconds=minimum_interval_seconds, default_status=default_status,
               description="Bronze partitions of the received days whose landing files grew; a quiet "
                           "source's latest partition when it crosses its freshness window.")
    def _arrivals(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        busy = context.instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT, tags=hold), limit=1)
        if busy:
            return dg.SensorResult(skip_reason=f"run {busy[0].dagster_run.run_id} writes the warehouse; "
                                               "new deliveries wait for it", cursor=context.cursor)
        now = utc_now()
        previous = ArrivalsCursor.parse(context.cursor)
        scan = scan_landing(folders, previous, now)
        decision = decide_arrivals(scan.files, previous, now, tiers)
        cursor = replace(decision.cursor, folders=scan.folders, full_scan_ns=scan.full_scan_ns).dump()
        requests = []
        for day, grown in sorted(decision.grown.items()):
            with dg.partition_loading_context(effective_dt=now):  # not the key list: it grows with history
                exists = partitions_def.has_partition_key(day.isoformat())
            if not exists:
                context.log.warning(f"received day {day} has no Bronze partition; not requested")
                continue
            requests.append(dg.RunRequest(
                run_key=arrival_run_key(day, grown), partition_key=day.isoformat(),
                asset_selection=[*(keys[s] for s in sorted(grown)), *follow], tags=tags))
        for source, run_key in decision.quiet:
            for partition in partitions_to_load(tiers[source], now.astimezone(UTC), partitions_def):
                requests.append(dg.RunRequest(
                    run_key=f"{run_key}:{partition}", partition_key=partition, asset_selection=[keys[source]],
                    tags={**tags, "devmetrics/trigger": "quiet_source"}))
        if not requests:
            return dg.SensorResult(skip_reason="nothing arrived", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return [_arrivals]
