"""The `freshness` benchmark: a delivery's 2xx at the receiver -> its day's Gold row, with the daemon.

`measure_freshness(work, repos=, days=, deliveries=, span_seconds=)`:
1. generates the sample organisation for `days` days of history ending yesterday (UTC) plus today, links
   the history into a home's landing folder (a `landing_jsonl` source, tier near_real_time, so Bronze is
   event-driven: defs/arrivals.py) and backfills it in-process on the home's Dagster instance (the local
   profile's dagster.yaml, instance_setup.dagster_yaml);
2. starts `dagster-daemon run -w workspace.yaml` (the daemon loads the code location in a code server,
   as `dagster dev` does) and the receiver (`python -m devmetrics_assets.receiver`), and replays
   `deliveries` of today's recorded deliveries, re-signed, at their recorded pace compressed into
   `span_seconds`;
3. for each delivery, the latency from its 2xx to the first `gold_dora_daily` materialisation of its
   event day after the first Bronze materialisation from a run created after the 2xx, in that same run
   (an arrival run takes its day on to daily Gold) or in a run created after it (read from the instance's
   event log: no DuckDB connection competes with the runs' writer). Runs created before the 2xx may
   already have carried it: the figure is an upper bound by at most one run;
4. the CPU seconds of one tick of the automation sensor and of the arrivals sensor, idle and after an
   arrival, evaluated in this process on the home (`dg.evaluate_automation_conditions`, the sensor's own
   evaluation): the work the code server does per tick, without the daemon's fixed overhead.

`tick_costs(history)` (tick_costs.py) does 4 only, on a home `prepare_history` (history.py) loaded: the
1-month vs 1-year ratio needs no daemon.
Everything is started as a child process of this one and stopped by its own pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devmetrics_assets.demo.bench.history import (
    GOLD_DAILY,
    ROOT,
    History,
    QuietToday,
    env_vars,
    prepare_history,
)
from devmetrics_assets.demo.bench.tick_costs import tick_costs

BRONZE = "bronze_github"
# Today's last recorded deliveries, never replayed: the tick measurement (tick_costs.py) appends them.
TAIL_KEPT = 5


# ------------------------------------------------------------------------------- live measurement
@dataclass(frozen=True)
class Sent:
    delivery_id: str
    event_day: str
    acked_at: float


def pick_deliveries(path: Path, count: int) -> list[dict[str, Any]]:
    """`count` recorded deliveries of the day, evenly spread over it (never the last ones, which the tick
    measurement appends), each with its event day as the graph computes it."""
    from devmetrics_assets.sources.landing import parse_landing
    from devmetrics_assets.sources.lines import iter_lines

    records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    pool = records[: max(1, len(records) - TAIL_KEPT)]
    step = max(1, len(pool) // max(count, 1))
    picked = pool[::step][:count]
    rows, _ = parse_landing(iter_lines([path]), source="github", provider="github", load_batch_id="bench")
    days = dict(zip(rows["delivery_id"], rows["event_day"].dt.strftime("%Y-%m-%d"), strict=True))
    return [{**r, "event_day": days.get(r["delivery_id"])} for r in picked]


def post(base_url: str, record: dict[str, Any]) -> int:
    from devmetrics_assets.demo.sample_org.payloads import body_text, sign

    text = body_text(record["body"])
    headers = {k: v for k, v in record["headers"].items() if k.lower() != "x-hub-signature-256"}
    headers["X-Hub-Signature-256"] = sign(text)
    request = urllib.request.Request(f"{base_url}/webhooks/github/github", data=text.encode("utf-8"),
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


@contextlib.contextmanager
def daemon(history: History, log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run -w workspace.yaml` in its own process group, stopped by its pid."""
    executable = Path(sys.executable).with_name("dagster-daemon")
    command = [str(executable), "run", "-w", str(ROOT / "workspace.yaml")]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **history.env}, stdout=output,
                                   stderr=output, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tree_cpu(pid: int) -> float:
    """utime + stime (s) of `pid` and its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        stats[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def _wait_for_log(path: Path, texts: tuple[str, ...], timeout_s: float) -> None:
    """Until one of `texts` is in the log at `path` (lines the daemon writes), at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        if any(text in log for text in texts):
            return
        time.sleep(1)
    raise RuntimeError(f"the daemon never wrote {texts[0]!r} in {timeout_s:.0f} s: see {path}")


Materialisation = tuple[str, float, float]  # (run id, run created, materialised)


def _first_after(records: list[Materialisation], after: float) -> Materialisation | None:
    """The earliest materialisation among those whose run was created at or after `after`."""
    return min((r for r in records if r[1] >= after), key=lambda r: r[2], default=None)


def _first_shown(records: list[Materialisation], loaded: Materialisation) -> float | None:
    """The earliest materialisation after `loaded`, in its run or in a run created after it."""
    run_id, _created, at = loaded
    times = [t for rid, created, t in records if t >= at and (rid == run_id or created >= at)]
    return min(times, default=None)


def _materialisations(instance, key: str, run_created: dict[str, float]) -> dict[str, list[Materialisation]]:
    import dagster as dg

    out: dict[str, list[Materialisation]] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(key)),
                                                 limit=1000, cursor=cursor, ascending=True)
        for record in result.records:
            if record.run_id not in run_created:
                run = instance.get_run_record_by_id(record.run_id)
                run_created[record.run_id] = run.create_timestamp.timestamp() if run else 0.0
            out.setdefault(record.partition_key, []).append(
                (record.run_id, run_created[record.run_id], record.timestamp))
        if not result.has_more:
            return out
        cursor = result.cursor


def latencies(instance, sent: list[Sent]) -> dict[str, float]:
    """delivery id -> seconds from 2xx to its event day's Gold row (absent: not yet)."""
    created: dict[str, float] = {}
    bronze = [rec for recs in _materialisations(instance, BRONZE, created).values() for rec in recs]
    gold = _materialisations(instance, GOLD_DAILY, created)
    out = {}
    for s in sent:
        loaded = _first_after(bronze, s.acked_at)
        if loaded is None:
            # No Bronze run was created after its 2xx: a run created just before read the file after it
            # landed (the arrivals sensor requests nothing more once the file is loaded).
            loaded = min((r for r in bronze if r[2] >= s.acked_at), key=lambda r: r[2], default=None)
        if loaded is None or s.event_day is None:
            continue
        shown = _first_shown(gold.get(s.event_day, []), loaded)
        if shown is not None:
            out[s.delivery_id] = shown - s.acked_at
    return out


def measure_freshness(history: History, deliveries: int = 24, span_seconds: float = 240.0,
                      settle_seconds: float = 240.0, idle_seconds: float = 60.0) -> dict[str, Any]:
    """Replay `deliveries` of today at their recorded pace compressed into `span_seconds`; see the module
    docstring. Also the daemon tree's CPU over `idle_seconds` with nothing arriving."""
    import dagster as dg

    from devmetrics_assets.defs.arrivals import ARRIVALS_SENSOR
    from devmetrics_assets.demo.bench.receiver_throughput import serve_in_process

    picked = pick_deliveries(history.today_file, deliveries)
    received = [datetime.fromisoformat(r["received_at"].replace("Z", "+00:00")).timestamp() for r in picked]
    first, last = min(received), max(received)
    scale = span_seconds / (last - first) if last > first else 0.0
    logs = history.home / "logs"
    logs.mkdir(exist_ok=True)
    sent: list[Sent] = []
    sources = history.home / "sources.yaml"
    dagster_home = str(history.home / "dagster_home")
    with daemon(history, logs / "daemon.log") as process, \
            serve_in_process(sources, history.env, log_path=logs / "receiver.log") as url, \
            env_vars(history.env), dg.DagsterInstance.from_config(dagster_home) as instance:
        daemon_started = time.time()
        # The arrivals sensor's first tick takes the files' sizes as its baseline: deliveries posted
        # before it would count as history. Its tick is in the daemon's log once the code server loaded.
        _wait_for_log(logs / "daemon.log", (f"Sensor {ARRIVALS_SENSOR} ", f"new run for {ARRIVALS_SENSOR}"),
                      timeout_s=300.0)
        idle_start, idle_cpu_start = time.monotonic(), _tree_cpu(process.pid)
        time.sleep(idle_seconds)
        idle_cpu = (_tree_cpu(process.pid) - idle_cpu_start) / (time.monotonic() - idle_start)
        idle_runs = [r for r in instance.get_run_records()
                     if r.create_timestamp.timestamp() >= daemon_started]
        began = time.monotonic()
        for record, at in zip(picked, received, strict=True):
            delay = began + (at - first) * scale - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status = post(url, record)
            if 200 <= status < 300:
                sent.append(Sent(record["delivery_id"], record["event_day"], time.time()))
        deadline = time.monotonic() + settle_seconds
        found: dict[str, float] = {}
        while time.monotonic() < deadline:
            found = latencies(instance, sent)
            if len(found) == len(sent):
                break
            time.sleep(5)
        runs = [r for r in instance.get_run_records() if r.create_timestamp.timestamp() >= daemon_started]
        by_trigger: dict[str, int] = {}
        for r in runs:
            trigger = r.dagster_run.tags.get("devmetrics/trigger", "other")
            by_trigger[trigger] = by_trigger.get(trigger, 0) + 1
    values = sorted(found.values())
    today = history.today.isoformat()
    # A late event (its event day before today) reaches its Gold row through automation, not the arrival
    # run: a tick, then a run that waits while arrival runs keep today's Bronze in progress.
    late = sorted(found[s.delivery_id] for s in sent if s.event_day != today and s.delivery_id in found)
    return {
        "deliveries_sent": len(sent), "reflected": len(values),
        "median_s": statistics.median(values) if values else None,
        "p95_s": values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))] if values else None,
        "max_s": max(values) if values else None,
        "span_s": span_seconds, "runs_launched": len(runs), "runs_by_trigger": by_trigger,
        "runs_while_idle": len(idle_runs), "idle_seconds": idle_seconds,
        "daemon_tree_idle_cpu_s_per_s": idle_cpu,
        "earlier_event_day_latencies_s": late,
    }


def main(argv: list[str] | None = None) -> None:
    """python -m devmetrics_assets.demo.bench.freshness --repos 50 --days 365 (--work DIR)"""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--compare-days", type=int, default=30, help="the short history of the tick ratio")
    parser.add_argument("--deliveries", type=int, default=24)
    parser.add_argument("--span", type=float, default=240.0, help="seconds the replay is compressed into")
    parser.add_argument("--settle", type=float, default=300.0)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--work", default=None)
    parser.add_argument("--profile", choices=("local", "production"), default="local",
                        help="production: the Dagster instance on a PostgreSQL server started here")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="devmetrics-freshness-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run_all(work, args.repos, args.days, args.compare_days, args.deliveries, args.span,
                         args.settle, args.idle, args.profile)
    except QuietToday as exc:
        raise SystemExit(f"freshness: {exc}") from None
    print(json.dumps(result, indent=2, default=str))
    print(report(result))


def run_all(work: Path, repos: int, days: int, compare_days: int = 30, deliveries: int = 24,
            span: float = 240.0, settle: float = 400.0, idle: float = 60.0,
            profile: str = "local") -> dict[str, Any]:
    """The whole scenario: the short history's tick costs, the long history's live run and tick costs.
    `profile="production"`: each history's Dagster instance in its own database of a PostgreSQL server
    started here (initdb, pg_ctl: the postgres test suite's server)."""
    with contextlib.ExitStack() as stack:
        databases = _instance_envs(stack, profile)
        started = time.perf_counter()
        short = prepare_history(work, repos, compare_days, instance_env=databases("fresh_short"),
                                min_today=TAIL_KEPT)
        short_ticks = tick_costs(short)
        long = prepare_history(work, repos, days, instance_env=databases("fresh_long"),
                               min_today=deliveries + TAIL_KEPT)
        prepared = time.perf_counter() - started
        live = measure_freshness(long, deliveries, span, settle, idle)
        long_ticks = tick_costs(long)

    def ratio(key: str) -> float | None:
        return long_ticks[key] / short_ticks[key] if short_ticks[key] else None

    return {"repos": repos, "history_days": days, "compare_days": compare_days, "prepare_s": prepared,
            "profile": profile,
            "live": live, f"ticks_{compare_days}d": short_ticks, f"ticks_{days}d": long_ticks,
            "ratio_automation_after_arrival": ratio("automation_after_arrival_cpu_s"),
            "ratio_automation_idle": ratio("automation_idle_cpu_s"),
            "ratio_arrivals_after_arrival": ratio("arrivals_after_arrival_cpu_s"),
            "load_average": os.getloadavg()}


def _instance_envs(stack: contextlib.ExitStack, profile: str):
    """database name -> the variables of the profile's instance (none for the local profile)."""
    if profile == "local":
        return lambda _name: {}
    if profile != "production":
        raise SystemExit(f"--profile {profile!r}: expected local or production")
    from devmetrics_assets_tests.pg_server import find_bin_dir, running_postgres

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("--profile production needs PostgreSQL's initdb and pg_ctl (Debian: postgresql)")
    server = stack.enter_context(running_postgres(bin_dir))
    return lambda name: {"DEVMETRICS_PROFILE": "production", **server.new_database(name).environ(as_url=True)}


def report(result: dict[str, Any]) -> str:
    """The scenario's figures as the benchmark prints them."""
    live, short = result["live"], result[f"ticks_{result['compare_days']}d"]
    long = result[f"ticks_{result['history_days']}d"]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    lines = [
        f"freshness ({result['repos']} repos, {result['history_days']} days of history, "
        f"{result.get('profile', 'local')} profile): "
        f"{live['reflected']}/{live['deliveries_sent']} deliveries reached daily Gold; "
        f"2xx -> Gold day row median {seconds(live['median_s'])}, p95 {seconds(live['p95_s'])}, "
        f"max {seconds(live['max_s'])} (replayed over {live['span_s']:.0f} s)",
        f"  runs launched {live['runs_launched']} {live['runs_by_trigger']}; while idle for "
        f"{live['idle_seconds']:.0f} s: {live['runs_while_idle']} runs, daemon tree CPU "
        f"{live['daemon_tree_idle_cpu_s_per_s']:.3f} s/s",
        f"{'tick CPU s':34s} {result['compare_days']:>6d} d {result['history_days']:>6d} d   ratio",
    ]
    late = live.get("earlier_event_day_latencies_s") or []
    if late:
        lines.insert(1, f"  of which {len(late)} of an earlier event day (late events, via automation): "
                        + ", ".join(f"{v:.1f} s" for v in late))
    for name, key in (("automation tick, idle", "automation_idle_cpu_s"),
                      ("automation tick, after an arrival", "automation_after_arrival_cpu_s"),
                      ("arrivals sensor tick, idle", "arrivals_idle_cpu_s"),
                      ("arrivals sensor tick, on arrival", "arrivals_after_arrival_cpu_s")):
        ratio = long[key] / short[key] if short[key] else float("nan")
        lines.append(f"{name:34s} {short[key]:8.3f} {long[key]:8.3f} {ratio:7.2f}")
    lines.append(f"load average at the end: {result['load_average']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
