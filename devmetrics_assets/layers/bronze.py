"""Bronze: one append-only asset per source, generated from the source registry.

A Bronze partition is a RECEIVED day. Materialising it reads the source's landing files, keeps the
deliveries received in the window, verifies signatures when a secret is configured, and appends the
deliveries whose (source, delivery id) is not stored yet. Re-running adds nothing; history is never
rewritten. Unusable lines go to quarantine with their reason.
"""


import dagster as dg
import pandas as pd

from devmetrics_assets.automation import automation_condition, bronze_freshness_policy
from devmetrics_assets.checks.bronze_checks import bronze_check_results, bronze_check_specs
from devmetrics_assets.partitions import daily_partitions, window_of
from devmetrics_assets.sources.readers import read_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.transforms.quarantine import quarantine_rows

CHUNK_DAYS = 31


def sub_windows(start: pd.Timestamp, end: pd.Timestamp, days: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) cut into consecutive windows of at most `days` days."""
    edges = [*pd.date_range(start, end, freq=f"{days}D", inclusive="left"), end]
    return list(zip(edges[:-1], edges[1:], strict=True))


def secret_resource_key(spec: SourceSpec) -> str:
    return f"{spec.name}_webhook_secret"


def build_bronze_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    secret_key = secret_resource_key(spec)

    @dg.asset(
        name=spec.asset_name,
        group_name="bronze",
        description=spec.description,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", spec.provider},
        owners=["team:data-platform"],
        metadata={"partition_column": "received_day", "source": spec.name, "source_type": spec.type,
                  "tier": spec.tier, "landing_dir": str(spec.landing_dir), "table": "bronze_deliveries"},
        required_resource_keys={"warehouse", secret_key},
        check_specs=bronze_check_specs(spec),
        freshness_policy=bronze_freshness_policy(spec),
        automation_condition=automation_condition("bronze"),
    )
    def _bronze(context: dg.AssetExecutionContext):
        start, end = window_of(context)
        warehouse = context.resources.warehouse.warehouse()
        warehouse.ensure_schema()
        secret = getattr(context.resources, secret_key).secret
        # landing_jsonl deliveries were verified by the receiver when they arrived.
        if secret is None and spec.secret_env and spec.type != "landing_jsonl":
            context.log.warning(
                f"{spec.secret_env} is not set: deliveries are loaded without signature verification"
            )
        # A long backfill is read and appended a month at a time, so memory stays bounded by a month
        # of payloads whatever the window (same rows as one pass: Bronze dedupes by delivery id).
        read_ids, reject_parts, inserted = [], [], 0
        for part_start, part_end in sub_windows(start, end, CHUNK_DAYS):
            part, part_rejects = read_source(spec, start=part_start, end=part_end, secret=secret,
                                             load_batch_id=context.run.run_id)
            inserted += warehouse.append_bronze(part)
            read_ids.append(part[["delivery_id"]])
            reject_parts.append(part_rejects)
            del part
        rows = pd.concat(read_ids, ignore_index=True)
        rejects = pd.concat(reject_parts, ignore_index=True).drop_duplicates(["record_ref", "reason"])
        # Replace this window's Bronze quarantine rows, so a line fixed in the landing file leaves it.
        warehouse.upsert_quarantine(quarantine_rows("bronze", spec.asset_name, rejects),
                                    replace_asset=spec.asset_name, start=start, end=end)
        affected = [d.isoformat() for d in warehouse.bronze_event_days(context.run.run_id)]
        context.log.info(
            f"bronze {spec.name} [{start.date()}, {end.date()}): read={len(rows)} inserted={inserted} "
            f"duplicates={len(rows) - inserted} quarantined={len(rejects)}"
        )
        yield dg.MaterializeResult(
            metadata={
                "deliveries_in_window": len(rows),
                "inserted": inserted,
                "duplicates_skipped": len(rows) - inserted,
                "quarantined": len(rejects),
                "signature_verification": "on" if secret is not None else "off",
                # Silver partitions (event days) that this load changed: what a refresh must re-run.
                "affected_event_days": dg.MetadataValue.json(affected),
            }
        )
        yield from bronze_check_results(spec, warehouse, start, end, rows, rejects)

    return _bronze
