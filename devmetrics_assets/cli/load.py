"""`devmetrics load FILE` and `devmetrics load --resume`: land recorded deliveries, finish pending work.

A load is: check the configuration and the file (one line and exit 2 on a mistake, nothing written),
verify that the source's signatures can be checked (or that --no-verify was asked for), copy the file
into the source's landing folder under a content-addressed name, materialise Bronze for the received
days it holds, then finish every pending event day (Silver, daily Gold with the reach-back days, weeks,
months): this load's, and any an earlier, interrupted load left behind (pending_work.py). Running the
same command again after a failure therefore finishes the job; a second run of a finished load adds
nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from devmetrics_assets.cli.common import Checked, UserError, checked_configuration, use_sample_key
from devmetrics_assets.config import extend_partition_start
from devmetrics_assets.run_progress import Progress
from devmetrics_assets.sources.registry import API_TYPES, SourceSpec

# Received days closer than this are loaded in one Bronze run (a run per isolated day costs more than
# re-reading a few empty days).
MERGE_GAP_DAYS = 3


def _bounded_received_days(path: Path, checked: Checked) -> tuple[list[date], int]:
    """(received days of the file's usable lines, lines without a usable received time)."""
    from devmetrics_assets import bounded_json
    from devmetrics_assets.clock import parse_utc
    from devmetrics_assets.sources.lines import iter_lines
    from devmetrics_assets.sources.time_bounds import TimeBounds

    bounds = TimeBounds.for_settings(checked.settings)
    days: set[date] = set()
    unusable = 0
    for line in iter_lines([path]):
        try:
            received = parse_utc(str(bounded_json.loads(line.text)["received_at"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            unusable += 1  # Bronze quarantines it with its reason
            continue
        if line.problem is None and bounds.earliest <= received <= bounds.latest:
            days.add(received.date())
        else:
            unusable += 1
    return sorted(days), unusable


def check_file(path: Path) -> None:
    from devmetrics_assets.sources.lines import is_binary

    if not path.exists():
        raise UserError(f"{path}: no such file (FILE)")
    if not path.is_file():
        raise UserError(f"{path}: not a file (FILE): give a JSON-lines file of deliveries")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty")
    if is_binary(path):
        raise UserError(f"{path}: a binary file, not JSON lines (one delivery envelope per line); "
                        "nothing loaded")


def check_verification(spec: SourceSpec, checked: Checked, no_verify: bool) -> None:
    from devmetrics_assets.sources.verification import decide
    from devmetrics_assets.storage.selection import open_storage

    has_secret = bool(spec.secret_env and os.environ.get(spec.secret_env))
    decision = decide(spec, has_secret=has_secret, no_verify=no_verify,
                      was_verified=open_storage(checked.settings).was_verified(spec.name))
    if decision.refusal:
        raise UserError(decision.refusal)


def land(path: Path, spec: SourceSpec) -> Path:
    """Copy `path` into the source's landing folder under a content-addressed name (atomically)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    spec.landing_dir.mkdir(parents=True, exist_ok=True)
    target = spec.landing_dir / f"import-{digest}.jsonl"
    if not target.exists():
        tmp = spec.landing_dir / f".{target.name}.tmp"
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return target


def merged_ranges(days: list[date], gap: int = MERGE_GAP_DAYS) -> list[tuple[date, date]]:
    blocks: list[tuple[date, date]] = []
    for day in sorted(days):
        if blocks and (day - blocks[-1][1]).days <= gap:
            blocks[-1] = (blocks[-1][0], day)
        else:
            blocks.append((day, day))
    return blocks


def cmd_load(args: argparse.Namespace) -> int:
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import fail_orphaned_runs, prepare_environment
    from devmetrics_assets.partitions import follow_data_start
    from devmetrics_assets.pending_work import pending_days, settle
    from devmetrics_assets.runner import DAILY_JOB, materialise_days, run_range
    from devmetrics_assets.sources.verification import NO_VERIFY_TAG
    from devmetrics_assets.storage.selection import open_storage

    if args.resume == bool(args.file):
        raise UserError("give a FILE to load, or --resume to finish pending work (not both)")
    checked = checked_configuration()
    use_sample_key(checked.settings)
    spec = checked.source(args.source)
    settings = checked.settings
    target = None
    received: list[date] = []
    if args.file:
        if spec.type in API_TYPES:
            raise UserError(f"source {spec.name!r} pulls an API (type {spec.type}); load recorded files "
                            "into a webhook source (type github_jsonl or landing_jsonl)")
        path = Path(args.file)
        check_file(path)
        check_verification(spec, checked, args.no_verify)
        received, unusable = _bounded_received_days(path, checked)
        if received:  # a fresh home's partitions start where its data does; later loads only move it back
            settings = follow_data_start(settings, received[0], open_storage(settings))
        target = land(path, spec)
    prepare_environment(settings)
    storage = open_storage(settings)
    tags = {NO_VERIFY_TAG: "true"} if args.no_verify else {}
    batch_days: set[date] = set()
    progress = Progress()
    with dg.DagsterInstance.get() as instance:
        fail_orphaned_runs(instance)
        defs = build_definitions(settings)
        bronze_days = received or ([] if target is None else [date.fromisoformat(_latest_partition(defs))])
        for first, last in merged_ranges(bronze_days):
            run = run_range(defs, instance, DAILY_JOB, first, last, [spec.asset_name], tags=tags,
                            raise_on_error=False, progress=progress)
            _raise_bronze_failure(run, args.no_verify)
            batch_days.update(storage.bronze_event_days(run.run_id))
        pending = storage.pending_event_days()
        if len(pending):
            earliest = pd.Timestamp(pending["event_day"].min()).date()
            if earliest < date.fromisoformat(settings.partition_start):
                settings = extend_partition_start(settings, earliest)
                defs = build_definitions(settings)
                print(f"partitions now start on {settings.partition_start} (history reaches {earliest}); "
                      "reload the code location in the UI to see them")
        # pending_work.finish, with progress lines: every pending event day, then settle.
        days = pending_days(storage)
        if days:
            materialise_days(defs, instance, days, include_bronze=False, storage=storage, progress=progress)
        settled = settle(instance, storage)
    _report(target, batch_days, days, settled, args, received, storage, spec)
    return 0 if target is None or received else 1


def _latest_partition(defs) -> str:
    from devmetrics_assets.clock import utc_now

    return utc_now().date().isoformat()


def _raise_bronze_failure(run, no_verify: bool) -> None:
    """A failed Bronze run says why in one line; a --no-verify load fails only its own blocking check."""
    if run.success:
        return
    failures = [e for e in run.all_events if e.event_type_value == "STEP_FAILURE"]
    # A blocking check failing at ERROR fails its step after the asset was written; its message lists
    # the blocking checks that failed, one `asset: check` per line.
    check_failures = [e for e in failures if _error_class(e) == "DagsterAssetCheckFailedError"]
    blocking = {line.split(": ")[-1].strip() for e in check_failures
                for line in e.step_failure_data.error.message.splitlines()[1:] if ": " in line}
    only_checks = len(check_failures) == len(failures)
    if no_verify and only_checks and blocking <= {"signature_verification"}:
        print("stored WITHOUT signature verification (--no-verify): the blocking check "
              "signature_verification failed and a notification goes out; automation will not take these "
              "deliveries further")
        return
    reasons = [_failure_text(e) for e in failures] or ["the Bronze run failed"]
    raise UserError(f"Bronze load failed: {reasons[0]} (nothing was lost: re-run the same command)")


def _error_class(event) -> str | None:
    data = event.step_failure_data
    return data.error.cls_name if data is not None and data.error is not None else None


def _failure_text(event) -> str:
    data = event.step_failure_data
    error = data.error if data is not None else None
    user = data.user_failure_data if data is not None else None
    if user is not None and user.description:
        return user.description
    return error.message.strip().splitlines()[-1] if error is not None else event.message


def _report(target, batch_days, days, settled, args, received, storage, spec) -> None:
    ordered = sorted(batch_days)
    if target is not None:
        changed = [d.isoformat() for d in ordered]
        print(f"loaded {target.name}: {len(ordered)} event day(s) changed: {changed}")
        if not received:
            print("no line holds a usable received_at: every line is quarantined with its reason "
                  "(devmetrics status, load_quarantine())")
        quarantined = _quarantined_lines(storage, spec, target)
        if quarantined:
            print(f"{quarantined} line(s) of {target.name} quarantined with their reasons "
                  "(devmetrics status)")
    earlier = sorted(set(days) - batch_days)
    if earlier:
        print(f"finished {len(earlier)} pending event day(s) of earlier loads: "
              f"{[d.isoformat() for d in earlier]}")
    if len(settled.pending):
        print(f"still pending: {len(settled.pending)} event day(s); run `devmetrics load --resume` "
              "(or `devmetrics status` to see them)")
    elif args.resume and not days:
        print("nothing pending")


def _quarantined_lines(storage, spec: SourceSpec, target: Path) -> int:
    from devmetrics_assets.storage.tables import QUARANTINE_TABLE

    if not storage.table_exists(QUARANTINE_TABLE):
        return 0
    rows = storage.read_table(QUARANTINE_TABLE, columns=["asset", "record_ref"])
    prefix = f"file:{target.name}:"
    mine = (rows["asset"] == spec.asset_name) & rows["record_ref"].astype(str).str.startswith(prefix)
    return int(mine.sum())
