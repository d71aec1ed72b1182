"""Benchmark: the medium sample organisation through the graph, side by side in one run.

    python scripts/benchmark.py                # 50 repos x 365 days (the issue's medium size)
    python scripts/benchmark.py --repos 5 --days 30 --sample-days 2   # smoke size

Each scenario runs in its own child process (so peak memory is its own) on the same generated files:
  single-run backfill   the whole range as one run per partitioning, on the local profile's instance (as the
                        CLI: Dagster's SQLite files through instance_storage.LocalSqliteStorage, batched)
  same, stock SQLite    the same runs on Dagster's stock SQLite storage (what the local profile replaced)
  same, production      the same runs on the production profile: PostgreSQL started here (initdb, pg_ctl)
  same, ephemeral       the same runs on an in-memory instance: the difference is event-storage bookkeeping
  data work only        the same compute functions called without Dagster (parse, Silver, Gold, writes)
  one run per day       K sampled days, each its own run, extrapolated to every partition (stated as such)
  DuckDB SQL floor      a hand-written DuckDB pipeline computing the same Gold counts from the same files
Then: webhook receiver throughput on loopback, and alert latency (delivery stored -> notification).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def all_days(generated: Path) -> list[date]:
    received = sorted(date.fromisoformat(p.stem) for p in (generated / "deliveries").glob("*.jsonl"))
    return [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]


def prepare_home(generated: Path, home: Path) -> None:
    if home.exists():
        shutil.rmtree(home)
    (home / "landing" / "github").mkdir(parents=True)
    for path in (generated / "deliveries").glob("*.jsonl"):
        os.link(path, home / "landing" / "github" / path.name)
    shutil.copyfile(generated / "rules.yaml", home / "rules.yaml")


def settings_for(home: Path):
    from devmetrics_assets.config import Settings, configured_partition_start

    return Settings(home=home, warehouse_path=home / "warehouse.duckdb", landing_dir=home / "landing",
                    rules_path=home / "rules.yaml", partition_start=configured_partition_start())


BACKFILL_INSTANCES = ("local", "stock", "production", "ephemeral")


def scenario_backfill(generated: Path, home: Path, instance_kind: str,
                      window_days: int | None = None) -> dict:
    """The single-run backfill on one kind of Dagster instance (BACKFILL_INSTANCES), over the first
    `window_days` days (all by default)."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import EVENT_BATCH_ENV, EVENT_BATCH_SIZE, dagster_yaml
    from devmetrics_assets.runner import materialise_days

    prepare_home(generated, home)
    days = all_days(generated)[:window_days]  # the first `window_days` days: the same org, a shorter window
    defs = build_definitions(settings_for(home))
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    os.environ[EVENT_BATCH_ENV] = EVENT_BATCH_SIZE  # as instance_setup.prepare_environment sets it
    with contextlib.ExitStack() as stack:
        if instance_kind == "ephemeral":
            instance = dg.DagsterInstance.ephemeral()
        else:
            if instance_kind == "stock":  # no dagster.yaml: Dagster's own default, `storage: sqlite`
                os.environ.pop(EVENT_BATCH_ENV)
            elif instance_kind == "production":
                os.environ.update(stack.enter_context(postgres_environment()))
                (dagster_home / "dagster.yaml").write_text(dagster_yaml("production"))
            else:
                (dagster_home / "dagster.yaml").write_text(dagster_yaml("local"))
            instance = stack.enter_context(dg.DagsterInstance.from_config(str(dagster_home)))
        started = time.perf_counter()
        results = materialise_days(defs, instance, days)
        elapsed = time.perf_counter() - started
        events = sum(len(instance.all_logs(r.run_id)) for r in results)
    assert all(r.success for r in results)
    return {"seconds": elapsed, "runs": len(results), "partitions": len(days), "events": events}


@contextlib.contextmanager
def postgres_environment() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL on 127.0.0.1 (the postgres test suite's server) and the profile's variables."""
    from devmetrics_assets_tests.pg_server import find_bin_dir, running_postgres

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("the production scenario needs PostgreSQL's initdb and pg_ctl (Debian: postgresql)")
    with running_postgres(bin_dir) as server:
        yield {"DEVMETRICS_PROFILE": "production", **server.environ(as_url=True)}


def scenario_data_only(generated: Path, home: Path) -> dict:
    """The graph's own compute functions, in graph order, with no Dagster around them."""
    import pandas as pd

    from devmetrics_assets.config import load_rules
    from devmetrics_assets.defs.bronze import CHUNK_DAYS, sub_windows
    from devmetrics_assets.defs.silver_changes import compute_changes
    from devmetrics_assets.defs.silver_deployments import compute_deployments
    from devmetrics_assets.defs.silver_incidents import compute_incidents
    from devmetrics_assets.defs.silver_shards import sharded
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET
    from devmetrics_assets.providers.github.recorded_jsonl import parse_deliveries, select_files
    from devmetrics_assets.storage.warehouse import Warehouse
    from devmetrics_assets.transforms.gold_metrics import build_gold
    from devmetrics_assets.transforms.quarantine import quarantine_rows

    prepare_home(generated, home)
    days = all_days(generated)
    start, end = pd.Timestamp(days[0]), pd.Timestamp(days[-1] + timedelta(days=1))
    rules = load_rules(home / "rules.yaml")
    warehouse = Warehouse(home / "warehouse.duckdb")
    started = time.perf_counter()
    warehouse.ensure_schema()
    paths = sorted((home / "landing" / "github").glob("*.jsonl"))
    for part_start, part_end in sub_windows(start, end, CHUNK_DAYS):  # as the Bronze asset does
        rows, rejects = parse_deliveries(
            select_files(paths, part_start.date(), part_end.date()), source="github",
            secret=SAMPLE_WEBHOOK_SECRET, load_batch_id="bench", received_start=part_start,
            received_end=part_end)
        warehouse.append_bronze(rows)
        warehouse.upsert_quarantine(quarantine_rows("bronze", "bronze_github", rejects))
    for name, compute in (("silver_changes", compute_changes), ("silver_deployments", compute_deployments),
                          ("silver_incidents", compute_incidents)):
        entity, bad = sharded(name, compute)(warehouse, rules, start, end)  # as the Silver asset does
        warehouse.upsert_quarantine(quarantine_rows("silver", name, bad), replace_asset=name,
                                    start=start, end=end)
        warehouse.replace_partition(name, entity, "event_day", start, end)
    silver = {t: warehouse.query(f"SELECT * FROM silver_{t}")
              for t in ("deployments", "changes", "incidents")}
    for period, table, (p_start, p_end) in (
        ("day", "gold_dora_daily", (start, end)),
        ("week", "gold_dora_weekly", _aligned(start, end, "W-SUN")),
        ("month", "gold_dora_monthly", _aligned(start, end, "M")),
    ):
        gold = build_gold(silver["deployments"], silver["changes"], silver["incidents"], rules, period,
                          p_start, p_end)
        warehouse.replace_partition(table, gold, "period_start", p_start, p_end)
    return {"seconds": time.perf_counter() - started}


def _aligned(start, end, freq: str):
    import pandas as pd

    first = pd.Period(start, freq).start_time
    last = (pd.Period(end - pd.Timedelta(days=1), freq) + 1).start_time
    return first, last


def scenario_per_day(generated: Path, home: Path, source_home: Path, sample_days: int) -> dict:
    """Each sampled day as its own run over a warehouse that already holds the year (steady state)."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import DAILY_JOB, MONTHLY_JOB, WEEKLY_JOB, run_range, week_start

    prepare_home(generated, home)
    shutil.copyfile(source_home / "warehouse.duckdb", home / "warehouse.duckdb")
    days = all_days(generated)
    step = max(1, len(days) // sample_days)
    sample = days[step // 2::step][:sample_days]
    defs = build_definitions(settings_for(home))
    (home / "dagster_home").mkdir()
    timings: dict[str, list[float]] = {"day": [], "week": [], "month": []}
    with dg.DagsterInstance.local_temp(str(home / "dagster_home")) as instance:
        for day in sample:
            for grain, job, key in (("day", DAILY_JOB, day), ("week", WEEKLY_JOB, week_start(day)),
                                    ("month", MONTHLY_JOB, day.replace(day=1))):
                started = time.perf_counter()
                assert run_range(defs, instance, job, key, key).success
                timings[grain].append(time.perf_counter() - started)
    weeks = len({week_start(d) for d in days})
    months = len({d.replace(day=1) for d in days})
    mean = {g: sum(v) / len(v) for g, v in timings.items()}
    return {
        "sampled_days": [d.isoformat() for d in sample],
        "mean_seconds_per_run": mean,
        "extrapolated_seconds": mean["day"] * len(days) + mean["week"] * weeks + mean["month"] * months,
        "runs": len(days) + weeks + months,
    }


def scenario_floor(generated: Path) -> dict:
    from duckdb_floor import floor_counts

    started = time.perf_counter()
    counts = floor_counts(generated)
    return {"seconds": time.perf_counter() - started, "deployments": int(counts["deployments"].sum()),
            "incidents_opened": int(counts["incidents_opened"].sum()),
            "failed_deploy_attempts": int(counts["failed_deploy_attempts"].sum())}


def scenario_receiver() -> dict:
    from devmetrics_assets.demo.bench.receiver_throughput import measure_throughput

    return measure_throughput(20000, 64)


def scenario_alert_latency() -> dict:
    from devmetrics_assets.demo.bench.alert_latency import measure_alert_latency

    return {"mongodb": measure_alert_latency(200, backend="mongodb"),
            "duckdb": measure_alert_latency(200, backend="duckdb")}


def child(args: argparse.Namespace) -> None:
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET

    # Every scenario verifies signatures, as the demo does, so forged deliveries count nowhere.
    os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
    generated, work = Path(args.generated), Path(args.work)
    if args.scenario == "backfill":
        out = scenario_backfill(generated, work / "backfill", "local")
    elif args.scenario == "half":  # the first half of the window: does peak memory grow with the window?
        out = scenario_backfill(generated, work / "half", "local", window_days=len(all_days(generated)) // 2)
    elif args.scenario.startswith("backfill_"):  # backfill_stock, backfill_production
        out = scenario_backfill(generated, work / args.scenario, args.scenario.removeprefix("backfill_"))
    elif args.scenario == "ephemeral":
        out = scenario_backfill(generated, work / "ephemeral", "ephemeral")
    elif args.scenario == "data":
        out = scenario_data_only(generated, work / "data")
    elif args.scenario == "per_day":
        out = scenario_per_day(generated, work / "per_day", work / "backfill", args.sample_days)
    elif args.scenario == "receiver":
        out = scenario_receiver()
    elif args.scenario == "alert_latency":
        out = scenario_alert_latency()
    else:
        out = scenario_floor(generated)
    out["peak_mb"] = peak_mb()
    times = os.times()
    out["cpu_s"] = times.user + times.system  # this process only (PostgreSQL's own work is not in it)
    print("RESULT " + json.dumps(out))


def run_child(scenario: str, args: argparse.Namespace, generated: Path, work: Path) -> dict:
    command = [sys.executable, __file__, "--child", scenario, "--generated", str(generated), "--work",
               str(work), "--sample-days", str(args.sample_days)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scenario {scenario} failed:\n{done.stderr[-4000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def has_postgres() -> bool:
    from devmetrics_assets_tests.pg_server import find_bin_dir

    return find_bin_dir() is not None


def print_bookkeeping(results: dict) -> None:
    """Each instance's event-storage share: (its backfill - ephemeral) / its backfill, wall and CPU."""
    eph = results["ephemeral"]
    print(f"event-storage share of the backfill (instance minus ephemeral; CPU seconds of the run's process "
          f"too, steadier than wall time on a busy machine; ephemeral: {eph['seconds']:.1f} s wall, "
          f"{eph['cpu_s']:.1f} s CPU, {eph['events']} events):")
    for key, label in (("backfill", "local profile"), ("backfill_stock", "Dagster's stock SQLite"),
                       ("backfill_production", "production profile, PostgreSQL")):
        if key not in results:
            continue
        r = results[key]
        wall, cpu = r["seconds"] - eph["seconds"], r["cpu_s"] - eph["cpu_s"]
        print(f"  {label:32s} {wall:7.1f} s wall ({wall / r['seconds']:4.0%}), {cpu:7.1f} s CPU "
              f"({cpu / r['cpu_s']:4.0%}); {r['events']} events")


def gold_totals(work: Path) -> dict:
    from devmetrics_assets.storage.loaders import load_gold

    gold = load_gold("day", scope_type="org", warehouse=work / "backfill" / "warehouse.duckdb")
    return {c: int(gold[c].sum()) for c in ("deployments", "incidents_opened", "failed_deploy_attempts")}


SCENARIOS = ("floor", "data", "ephemeral", "backfill", "backfill_stock", "backfill_production", "per_day",
             "half")
CORE_SCENARIOS = ("floor", "data", "ephemeral", "backfill", "per_day")


def report_window(results: dict) -> None:
    """Peak memory of the same org's backfill over half the window and the whole: a ratio near 1 says
    memory does not grow with the window's length."""
    if "half" in results and "backfill" in results:
        half, full = results["half"]["peak_mb"], results["backfill"]["peak_mb"]
        print(f"peak memory vs window length: {results['half']['partitions']} days {half:.0f} MB, "
              f"{results['backfill']['partitions']} days {full:.0f} MB, ratio {full / half:.2f}")


def report_floor(results: dict, work: Path) -> None:
    if "floor" in results and "backfill" in results:
        totals = gold_totals(work)
        agree = all(totals[k] == results["floor"][k] for k in totals)
        print(f"floor counts equal Gold counts: {agree} (gold {totals}, floor "
              f"{ {k: results['floor'][k] for k in totals} })")


def report_some(results: dict, work: Path) -> None:
    """The chosen scenarios' own figures (--scenarios), without the comparisons that need the others."""
    print(f"\n{'scenario':16s} {'wall s':>9s} {'peak MB':>8s}")
    for name, out in results.items():
        seconds = out.get("seconds", out.get("extrapolated_seconds", 0.0))
        print(f"{name:16s} {seconds:9.1f} {out['peak_mb']:8.0f}")
    report_window(results)
    report_floor(results, work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample-days", type=int, default=6)
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--skip-services", action="store_true",
                        help="skip the receiver throughput and alert latency measurements")
    parser.add_argument("--scenario", choices=("all", "freshness"), default="all",
                        help="freshness: daemon + receiver, delivery 2xx -> Gold (demo/bench/freshness.py)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (half: the single-run "
                             "backfill over the first half of the days, for peak memory vs window length)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--generated", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.scenario = args.child
        child(args)
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="devmetrics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.scenario == "freshness":
        from devmetrics_assets.demo.bench.freshness import report, run_all
        from devmetrics_assets.demo.bench.history import QuietToday

        try:
            print(report(run_all(work, args.repos, args.days)))
        except QuietToday as exc:
            raise SystemExit(f"benchmark: {exc}") from None
        return
    from devmetrics_assets.demo.sample_org import generate_sample_org

    started = time.perf_counter()
    org = generate_sample_org(work / "generated", repos=args.repos, days=args.days, seed=args.seed)
    print(f"generated {org.delivery_count} deliveries ({args.repos} repos x {args.days} days) "
          f"in {time.perf_counter() - started:.1f} s")
    results = {}
    chosen = args.scenarios.split(",")
    # Without one of the core scenarios, only the chosen scenarios' own figures; the others (the stock
    # SQLite and production backfills, the half window) add their rows when chosen.
    partial = bool(set(CORE_SCENARIOS) - set(chosen))
    if "backfill_production" in chosen and not has_postgres():
        chosen.remove("backfill_production")
        print("  backfill_production skipped: PostgreSQL's initdb/pg_ctl not found (Debian: postgresql)")
    for scenario in [s for s in SCENARIOS if s in chosen]:  # per_day copies backfill's warehouse
        results[scenario] = run_child(scenario, args, org.root, work)
        print(f"  {scenario} done", flush=True)
    if partial:
        report_some(results, work)
        return
    floor = results["floor"]["seconds"]
    rows = [
        ("single-run backfill (local profile)", results["backfill"]["seconds"],
         results["backfill"]["peak_mb"], f"{results['backfill']['runs']} runs"),
        *[(f"  same, {label}", results[key]["seconds"], results[key]["peak_mb"], "")
          for key, label in (("backfill_stock", "Dagster's stock SQLite"),
                             ("backfill_production", "production profile (PostgreSQL)")) if key in results],
        ("  same, ephemeral instance", results["ephemeral"]["seconds"], results["ephemeral"]["peak_mb"], ""),
        ("  data work only (no Dagster)", results["data"]["seconds"], results["data"]["peak_mb"], ""),
        ("one run per partition (extrapolated)", results["per_day"]["extrapolated_seconds"],
         results["per_day"]["peak_mb"],
         f"{results['per_day']['runs']} runs; mean per run {results['per_day']['mean_seconds_per_run']}"),
        ("DuckDB SQL floor (counts only)", floor, results["floor"]["peak_mb"], ""),
    ]
    print(f"\n{'scenario':40s} {'wall s':>9s} {'x floor':>8s} {'peak MB':>8s}  notes")
    for name, seconds, mb, note in rows:
        print(f"{name:40s} {seconds:9.1f} {seconds / floor:8.1f} {mb:8.0f}  {note}")
    backfill, ephemeral, data = (results[k]["seconds"] for k in ("backfill", "ephemeral", "data"))
    print(f"\nsplit of the single-run backfill: data work {data:.1f} s, Dagster event storage "
          f"{backfill - ephemeral:.1f} s (local profile minus ephemeral), "
          f"other orchestration {ephemeral - data:.1f} s")
    print_bookkeeping(results)
    slower = results["per_day"]["extrapolated_seconds"] / backfill
    print(f"per-partition runs vs single run: {slower:.1f}x slower "
          f"(sampled days {results['per_day']['sampled_days']})")
    report_window(results)
    report_floor(results, work)
    if args.skip_services:
        return
    receiver = run_child("receiver", args, org.root, work)
    print(f"\nwebhook receiver on loopback (signed GitHub deliveries, 64 connections): "
          f"{json.dumps({k: v for k, v in receiver.items() if k != 'peak_mb'})}")
    latency = run_child("alert_latency", args, org.root, work)
    for backend in ("mongodb", "duckdb"):
        print(f"alert latency, delivery stored -> notification received ({backend}): "
              f"{json.dumps(latency[backend])}")


if __name__ == "__main__":
    main()
