"""The `devmetrics` command: the demo run, loading recorded deliveries, summaries and the UI.

Every run goes through the Dagster instance under DAGSTER_HOME (default `.devmetrics/dagster_home`
in the working directory), the same one `devmetrics ui` / `dagster dev` uses, so command-line runs
appear in the UI's run list and asset catalog afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from devmetrics_assets.config import Settings


def prepare_environment(settings: Settings) -> None:
    """One Dagster home for the CLI and the UI, inside the working area unless DAGSTER_HOME says otherwise."""
    settings.home.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.home / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # Default SQLite storage under DAGSTER_HOME; no telemetry from a product that runs unattended.
        config.write_text("telemetry:\n  enabled: false\n")


def use_sample_key(settings: Settings, generated: bool = False) -> None:
    """The sample organisation signs its deliveries with a published test key (not a secret).

    Used by `demo`, and by `ui` / `replay` when the demo's data is what is landed, so that a Bronze
    partition re-materialised later still rejects the planted forged deliveries.
    """
    from devmetrics_assets.sources.sample_org import SAMPLE_WEBHOOK_SECRET

    if os.environ.get("GITHUB_WEBHOOK_SECRET"):
        return
    if generated or (settings.home / "sample_org").exists():
        os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
        print("GITHUB_WEBHOOK_SECRET not set: using the sample organisation's published test key")


def materialise(days: Sequence[date], *, include_bronze: bool) -> list[str]:
    """Materialise these day partitions (and their weeks and months) on the shared instance."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import materialise_days
    from devmetrics_assets.storage.selection import open_storage

    with dg.DagsterInstance.get() as instance:
        results = materialise_days(build_definitions(), instance, days, include_bronze=include_bronze,
                                   storage=open_storage(Settings.from_env()))
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
    table = gold[list(columns)].rename(columns=columns)
    table["period"] = table["period"].dt.strftime("%Y-%m-%d")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    bands = [c for c in gold.columns if c.endswith("_band")]
    if len(gold) and bands:
        print("\nDORA bands, last period:", ", ".join(f"{b[:-5]}={gold[b].iloc[-1]}" for b in bands))


def cmd_demo(args: argparse.Namespace) -> int:
    from devmetrics_assets.sources.sample_org import generate_sample_org
    from devmetrics_assets.storage.selection import describe_storage

    settings = Settings.from_env()
    prepare_environment(settings)
    start = date.fromisoformat(args.start)
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
    days = [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]
    print(f"materialising bronze, silver and gold for {days[0]} .. {days[-1]}: one run per partitioning")
    materialise(days, include_bronze=True)
    print("\nDORA metrics for the sample organisation (org scope, per month):")
    print_summary(settings)
    print(
        f"\nWarehouse: {describe_storage(settings)}\nTo browse runs and assets: devmetrics ui "
        f"(= DAGSTER_HOME={os.environ['DAGSTER_HOME']} dagster dev -w workspace.yaml), then open "
        "http://127.0.0.1:3000\nIn a notebook: from devmetrics_assets import load_gold; load_gold('week')"
    )
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Land a recorded JSONL file and materialise exactly what it changes."""
    from devmetrics_assets.sources.github_jsonl import iter_lines
    from devmetrics_assets.storage.selection import open_storage

    settings = Settings.from_env()
    prepare_environment(settings)
    source_file = Path(args.file)
    if not source_file.is_file():
        print(f"error: {source_file} is not a file", file=sys.stderr)
        return 2
    digest = hashlib.sha256(source_file.read_bytes()).hexdigest()[:16]
    landing = settings.landing_dir / args.source
    landing.mkdir(parents=True, exist_ok=True)
    # Content-addressed name: landing the same file twice is one file, and Bronze dedupes anyway.
    target = landing / f"import-{digest}.jsonl"
    shutil.copyfile(source_file, target)
    received = _received_days(iter_lines([target]))
    if not received:
        print("the file holds no delivery with a readable received_at; nothing to load")
        return 1
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import DAILY_JOB, run_range

    with dg.DagsterInstance.get() as instance:
        run = run_range(build_definitions(), instance, DAILY_JOB, min(received), max(received),
                        [f"bronze_{args.source}"])
    days = open_storage(settings).bronze_event_days(run.run_id)
    print(f"loaded {target.name}: {len(days)} event day(s) changed: {[d.isoformat() for d in days]}")
    if days:
        materialise(days, include_bronze=False)
    return 0


def _received_days(lines) -> list[date]:
    import json

    days = set()
    for line in lines:
        try:
            days.add(pd.Timestamp(json.loads(line.text)["received_at"]).tz_convert("UTC").date())
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # Bronze quarantines it with its reason; it has no day to refresh.
    return sorted(days)


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-materialise the partitions that produced matching quarantine rows (after fixing the cause)."""
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import DAILY_JOB, contiguous_ranges, run_range
    from devmetrics_assets.storage.replay import replay_quarantine
    from devmetrics_assets.storage.selection import open_storage

    settings = Settings.from_env()
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
    defs = build_definitions()
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
        materialise(sorted(event_days), include_bronze=False)
    left = replay_quarantine(warehouse, layer=args.layer, asset=args.asset, reason_like=args.reason)
    print(f"replayed; {sum(t.rows for t in left)} matching row(s) still quarantined")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    print_summary(Settings.from_env(), args.grain)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    prepare_environment(settings)
    use_sample_key(settings)
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    command = ["dagster", "dev", "-w", str(workspace), "-p", str(args.port)]
    print("starting:", " ".join(command), f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    os.execvp(command[0], command)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devmetrics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="generate the sample organisation and materialise the whole graph")
    demo.add_argument("--repos", type=int, default=8)
    demo.add_argument("--days", type=int, default=365)
    demo.add_argument("--start", default="2025-01-01")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
    load = sub.add_parser("load", help="load a JSONL file of GitHub webhook deliveries into Bronze")
    load.add_argument("file")
    load.add_argument("--source", default="github")
    load.set_defaults(func=cmd_load)
    summary = sub.add_parser("summary", help="print organisation-level DORA metrics")
    summary.add_argument("--grain", choices=["day", "week", "month"], default="month")
    summary.set_defaults(func=cmd_summary)
    replay = sub.add_parser("replay", help="re-run the partitions that produced quarantined records")
    replay.add_argument("--layer", choices=["bronze", "silver", "gold"])
    replay.add_argument("--asset")
    replay.add_argument("--reason", help="case-insensitive substring of the reason (LIKE pattern with %%)")
    replay.add_argument("--dry-run", action="store_true", help="only list the partitions")
    replay.set_defaults(func=cmd_replay)
    ui = sub.add_parser("ui", help="start the Dagster UI on the same instance")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
