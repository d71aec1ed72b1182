"""`devmetrics demo`, `summary`, `replay` and `ui`."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from devmetrics_assets.cli.common import UserError, checked_configuration, use_sample_key
from devmetrics_assets.config import Settings


def materialise(settings: Settings, days: Sequence[date], *, include_bronze: bool) -> list[str]:
    """Materialise these day partitions (and their weeks and months) on the shared instance."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import fail_orphaned_runs
    from devmetrics_assets.pending_work import settle
    from devmetrics_assets.runner import materialise_days
    from devmetrics_assets.storage.selection import open_storage

    storage = open_storage(settings)
    with dg.DagsterInstance.get() as instance:
        fail_orphaned_runs(instance)
        results = materialise_days(build_definitions(settings), instance, days, include_bronze=include_bronze,
                                   storage=storage)
        settle(instance, storage)
    return [r.run_id for r in results]


def print_summary(settings: Settings, grain: str = "month") -> None:
    from devmetrics_assets.storage.loaders import load_gold
    from devmetrics_assets.storage.selection import open_storage

    gold = load_gold(grain, scope_type="org", warehouse=open_storage(settings))
    gold = gold[gold["deployments"] > 0]
    columns = {
        "period_start": "period", "deployments": "deploys", "deployment_frequency_per_day": "per day",
        "lead_time_median_h": "lead h (p50)", "lead_time_p90_h": "lead h (p90)",
        "change_failure_rate": "CFR", "recovery_median_h": "recovery h (p50)",
        "rework_rate": "rework", "incidents_opened": "incidents",
    }
    table = gold[[c for c in columns if c in gold.columns]].rename(columns=columns)
    table["period"] = table["period"].dt.strftime("%Y-%m-%d")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    bands = [c for c in gold.columns if c.endswith("_band")]
    if len(gold) and bands:
        print("\nDORA bands, last period:", ", ".join(f"{b[:-5]}={gold[b].iloc[-1]}" for b in bands))


def cmd_demo(args: argparse.Namespace) -> int:
    from devmetrics_assets.config import extend_partition_start
    from devmetrics_assets.instance_setup import prepare_environment
    from devmetrics_assets.sources.sample_org import generate_sample_org
    from devmetrics_assets.storage.selection import describe_storage

    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        raise UserError(f"--start {args.start!r}: expected a date as YYYY-MM-DD") from None
    if args.repos < 1 or args.days < 1:
        raise UserError("--repos and --days must be at least 1")
    settings = checked_configuration().settings
    prepare_environment(settings)
    print(f"generating the sample organisation: {args.repos} repos x {args.days} days (seed {args.seed})")
    org = generate_sample_org(settings.home / "sample_org", repos=args.repos, days=args.days,
                              start=start, seed=args.seed)
    landing = settings.landing_dir / "github"
    landing.mkdir(parents=True, exist_ok=True)
    for path in sorted(org.deliveries_dir.glob("*.jsonl")):
        shutil.copyfile(path, landing / path.name)
    if not settings.rules_path.exists():
        shutil.copyfile(org.rules_path, settings.rules_path)
    use_sample_key(settings, generated=True)
    received = sorted(date.fromisoformat(p.stem) for p in org.deliveries_dir.glob("*.jsonl"))
    settings = extend_partition_start(settings, received[0])
    days = [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]
    print(f"materialising bronze, silver and gold for {days[0]} .. {days[-1]}: one run per partitioning")
    materialise(settings, days, include_bronze=True)
    print("\nDORA metrics for the sample organisation (org scope, per month):")
    print_summary(settings)
    print(
        f"\nWarehouse: {describe_storage(settings)}\nTo browse runs and assets: devmetrics ui "
        f"(= DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -w workspace.yaml), then open "
        "http://127.0.0.1:3000\nIn a notebook: from devmetrics_assets import load_gold; load_gold('week')"
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-materialise the partitions that produced matching quarantine rows (after fixing the cause)."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import prepare_environment
    from devmetrics_assets.runner import DAILY_JOB, contiguous_ranges, run_range
    from devmetrics_assets.storage.replay import replay_quarantine
    from devmetrics_assets.storage.selection import open_storage

    settings = checked_configuration().settings
    prepare_environment(settings)
    use_sample_key(settings)
    warehouse = open_storage(settings)
    targets = replay_quarantine(warehouse, layer=args.layer, asset=args.asset, reason_like=args.reason)
    if not targets:
        print("nothing quarantined matches; nothing to replay")
        return 0
    for t in targets:
        days = ", ".join(d.isoformat() for d in t.days) or "-"
        print(f"{t.layer:6} {t.asset}: {t.rows} row(s); partitions: {days}")
        for ref in t.unresolved:
            print(f"       {ref}: no received day known; load the fixed file with `devmetrics load`")
    if args.dry_run:
        return 0
    event_days: set[date] = set()
    defs = build_definitions(settings)
    with dg.DagsterInstance.get() as instance:
        for t in targets:
            if t.layer == "bronze":
                # Bronze re-reads the landing files of those received days; Silver follows what changed.
                for first, last in contiguous_ranges(t.days):
                    run = run_range(defs, instance, DAILY_JOB, first, last, [t.asset])
                    event_days.update(warehouse.bronze_event_days(run.run_id))
            elif t.layer == "silver":
                event_days.update(t.days)
    if event_days:
        materialise(settings, sorted(event_days), include_bronze=False)
    left = replay_quarantine(warehouse, layer=args.layer, asset=args.asset, reason_like=args.reason)
    print(f"replayed; {sum(t.rows for t in left)} matching row(s) still quarantined")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print_summary(checked_configuration().settings, args.grain)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from devmetrics_assets.instance_setup import prepare_environment, ui_lock

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: expected a TCP port (1-65535)")
    settings = checked_configuration().settings
    home = prepare_environment(settings)
    use_sample_key(settings)
    lock = ui_lock(home)  # held by this process and, after exec, by dagster dev: a second ui is refused
    workspace = Path(__file__).resolve().parent.parent.parent / "workspace.yaml"
    command = ["dagster", "dev", "-w", str(workspace), "-p", str(args.port)]
    print("starting:", " ".join(command), f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.execvp(command[0], command)
    lock.close()  # not reached: exec replaced this process
    return 0
