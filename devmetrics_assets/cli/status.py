"""`devmetrics status`: what is pending, stranded, quarantined, and when each layer last succeeded."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pandas as pd

from devmetrics_assets.cli.common import checked_configuration
from devmetrics_assets.storage.tables import QUARANTINE_TABLE

LAYERS = ("bronze", "silver", "gold")


def last_success_per_layer(instance, defs) -> dict[str, tuple[str, str] | None]:
    """layer -> (time, asset) of the newest materialisation of any of its assets."""
    out: dict[str, tuple[str, str] | None] = dict.fromkeys(LAYERS)
    newest: dict[str, float] = {}
    for spec in defs.resolve_all_asset_specs():
        layer = spec.group_name or ""
        if layer not in out:
            continue
        event = instance.get_latest_materialization_event(spec.key)
        if event is not None and event.timestamp > newest.get(layer, 0.0):
            newest[layer] = event.timestamp
            when = datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="seconds")
            out[layer] = (when, spec.key.to_user_string())
    return out


def quarantine_counts(storage) -> pd.DataFrame:
    if not storage.table_exists(QUARANTINE_TABLE):
        return pd.DataFrame(columns=["layer", "asset", "reason", "rows"])
    rows = storage.read_table(QUARANTINE_TABLE, columns=["layer", "asset", "reason"])
    # Reasons that quote a value ("received_at 1970-… is before …") are grouped by their wording.
    rows["reason"] = rows["reason"].astype(str).str.replace(r"\d{4}-\d{2}-\d{2}T[\d:]+Z", "<time>",
                                                            regex=True)
    counts = rows.groupby(["layer", "asset", "reason"]).size().rename("rows").reset_index()
    return counts.sort_values(["layer", "asset", "rows"], ascending=[True, True, False])


def cmd_status(args: argparse.Namespace) -> int:
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.instance_setup import fail_orphaned_runs, prepare_environment
    from devmetrics_assets.pending_work import describe, settle
    from devmetrics_assets.storage.selection import describe_storage, open_storage

    checked = checked_configuration()
    prepare_environment(checked.settings)
    storage = open_storage(checked.settings)
    print(f"warehouse: {describe_storage(checked.settings)}; "
          f"partitions start {checked.settings.partition_start}")
    with dg.DagsterInstance.get() as instance:
        orphaned = fail_orphaned_runs(instance)
        if orphaned:
            print(f"marked {len(orphaned)} run(s) failed whose process was gone: {', '.join(orphaned)}")
        settled = settle(instance, storage)
        batches = describe(settled.pending, instance)
        layers = last_success_per_layer(instance, build_definitions(checked.settings))
    print(f"\npending work: {len(settled.pending)} event day(s) in {len(batches)} load batch(es)")
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_colwidth", 90):
        if len(batches):
            print(batches.to_string(index=False))
            if batches["stranded"].any():
                print("stranded batches: run `devmetrics load --resume` to finish them")
        counts = quarantine_counts(storage)
        print(f"\nquarantined: {int(counts['rows'].sum()) if len(counts) else 0} record(s)")
        if len(counts):
            print(counts.to_string(index=False))
    print("\nlast successful materialisation per layer:")
    for layer, last in layers.items():
        print(f"  {layer:7} {last[0] + '  ' + last[1] if last else 'never'}")
    return 0
