"""`devmetrics demo`, `replay` and `ui` (`summary` is in summary.py)."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from devmetrics_assets.cli.common import UserError, checked_configuration, use_sample_key
from devmetrics_assets.cli.summary import print_summary
from devmetrics_assets.config import Settings
from devmetrics_assets.run_progress import Progress

UI_DEFAULT_URL = "http://127.0.0.1:3000"


def materialise(settings: Settings, days: Sequence[date], *, include_bronze: bool,
                progress: Progress | None = None) -> list[str]:
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
                                   storage=storage, progress=progress)
        settle(instance, storage)
    return [r.run_id for r in results]


def demo_start(settings: Settings, days: int) -> date:
    """The default first day of `devmetrics demo`: the same as the demo already in this home (a second
    demo adds and changes nothing), else the history of `days` days that ends yesterday."""
    from devmetrics_assets.clock import utc_now

    previous = sorted((settings.home / "sample_org" / "deliveries").glob("*.jsonl"))
    if previous:
        try:
            return date.fromisoformat(previous[0].stem)
        except ValueError:
            pass
    return utc_now().date() - timedelta(days=days)


def cmd_demo(args: argparse.Namespace) -> int:
    from devmetrics_assets.demo.sample_org import generate_sample_org
    from devmetrics_assets.instance_setup import prepare_environment
    from devmetrics_assets.partitions import follow_data_start
    from devmetrics_assets.storage.selection import describe_storage, open_storage

    if args.repos < 1 or args.days < 1:
        raise UserError("--repos and --days must be at least 1")
    settings = checked_configuration().settings
    try:
        start = date.fromisoformat(args.start) if args.start else demo_start(settings, args.days)
    except ValueError:
        raise UserError(f"--start {args.start!r}: expected a date as YYYY-MM-DD") from None
    prepare_environment(settings)
    print(f"generating the sample organisation: {args.repos} repos x {args.days} days from {start} "
          f"(seed {args.seed})")
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
    # The partitions start on the history's first day in a fresh home (no empty partitions before it).
    settings = follow_data_start(settings, received[0], open_storage(settings), exact=True)
    days = [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]
    print(f"materialising bronze, silver and gold for {days[0]} .. {days[-1]}: one run per partitioning "
          f"(partitions start {settings.partition_start})")
    materialise(settings, days, include_bronze=True, progress=Progress())
    print("\nDORA metrics for the sample organisation (org scope, per month):")
    print_summary(settings)
    print(
        f"\nWarehouse: {describe_storage(settings)}\nTo browse runs and assets: devmetrics ui "
        f"(= DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -w workspace.yaml), then open "
        f"{ui_url(settings)}\nMore: devmetrics summary --scope team --grain week; in a notebook: "
        "from devmetrics_assets import load_gold; load_gold('week', scope_type='team')"
    )
    return 0


def ui_url(settings: Settings) -> str:
    from devmetrics_assets.alerting.routing import config_path, load_config

    return load_config(config_path(settings.home), settings.home).ui_base_url or UI_DEFAULT_URL


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
    progress = Progress()
    with dg.DagsterInstance.get() as instance:
        for t in targets:
            if t.layer == "bronze":
                # Bronze re-reads the landing files of those received days; Silver follows what changed.
                for first, last in contiguous_ranges(t.days):
                    run = run_range(defs, instance, DAILY_JOB, first, last, [t.asset], progress=progress)
                    event_days.update(warehouse.bronze_event_days(run.run_id))
            elif t.layer == "silver":
                event_days.update(t.days)
    if event_days:
        materialise(settings, sorted(event_days), include_bronze=False, progress=progress)
    left = replay_quarantine(warehouse, layer=args.layer, asset=args.asset, reason_like=args.reason)
    print(f"replayed; {sum(t.rows for t in left)} matching row(s) still quarantined")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from devmetrics_assets.alerting.routing import UI_URL_ENV, config_path, load_config
    from devmetrics_assets.instance_setup import PROFILE_ENV, prepare_environment, ui_lock

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: expected a TCP port (1-65535)")
    if args.profile:
        os.environ[PROFILE_ENV] = args.profile  # checked below; dagster dev (after exec) inherits it
    settings = checked_configuration().settings
    home = prepare_environment(settings)
    use_sample_key(settings)
    lock = ui_lock(home)  # held by this process and, after exec, by dagster dev: a second ui is refused
    workspace = Path(__file__).resolve().parent.parent.parent / "workspace.yaml"
    command = ["dagster", "dev", "-w", str(workspace), "-p", str(args.port)]
    # The notification sensors this UI's daemon runs link to this UI, unless an address was configured
    # (DEVMETRICS_UI_URL, or ui_base_url in alerting.yaml: e.g. a reverse proxy's public address).
    configured = load_config(config_path(settings.home), settings.home).ui_base_url_set
    if not os.environ.get(UI_URL_ENV) and not configured:
        os.environ[UI_URL_ENV] = f"http://127.0.0.1:{args.port}"
    print("starting:", " ".join(command), f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']}); "
          f"open {os.environ.get(UI_URL_ENV) or ui_url(settings)}")
    os.execvp(command[0], command)
    lock.close()  # not reached: exec replaced this process
    return 0
