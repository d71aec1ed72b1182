"""Bronze: one append-only asset per source, generated from the source registry.

A Bronze partition is a RECEIVED day. Materialising it reads the source's landing files, keeps the
deliveries received in the window, verifies signatures when a secret is configured, and appends the
deliveries whose (source, delivery id) is not stored yet. Re-running adds nothing; history is never
rewritten. Unusable lines go to quarantine with their reason.
"""


import dagster as dg
import pandas as pd

from devmetrics_assets.partitions import daily_partitions, window_of
from devmetrics_assets.sources.github_jsonl import iter_lines, parse_deliveries
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.transforms.quarantine import quarantine_rows

QUARANTINE_RATE_WARN = 0.05


def secret_resource_key(spec: SourceSpec) -> str:
    return f"{spec.name}_webhook_secret"


def _day_list(days: pd.Series) -> list[str]:
    return sorted({d.strftime("%Y-%m-%d") for d in days.dropna()})


def build_bronze_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    secret_key = secret_resource_key(spec)
    quarantine_check = dg.AssetCheckSpec(
        "quarantine_rate",
        asset=spec.asset_name,
        description=f"Warns when more than {QUARANTINE_RATE_WARN:.0%} of the lines read are quarantined.",
    )

    @dg.asset(
        name=spec.asset_name,
        group_name="bronze",
        description=spec.description,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", spec.provider},
        owners=["team:data-platform"],
        metadata={"partition_column": "received_day", "source": spec.name,
                  "landing_dir": str(spec.landing_dir), "table": "bronze_deliveries"},
        required_resource_keys={"warehouse", secret_key},
        check_specs=[quarantine_check],
    )
    def _bronze(context: dg.AssetExecutionContext):
        start, end = window_of(context)
        warehouse = context.resources.warehouse.warehouse()
        warehouse.ensure_schema()
        secret = getattr(context.resources, secret_key).secret
        if secret is None:
            context.log.warning(
                f"{spec.secret_env} is not set: deliveries are loaded without signature verification"
            )
        paths = sorted(spec.landing_dir.glob("*.jsonl")) if spec.landing_dir.exists() else []
        rows, rejects = parse_deliveries(
            iter_lines(paths, start.date(), end.date()),
            source=spec.name,
            secret=secret,
            load_batch_id=context.run.run_id,
            received_start=start,
            received_end=end,
        )
        inserted = warehouse.append_bronze(rows)
        if len(rejects):
            warehouse.upsert_quarantine(quarantine_rows("bronze", spec.asset_name, rejects))
        new_rows = warehouse.query(
            "SELECT event_day FROM bronze_deliveries WHERE source = ? AND load_batch_id = ?",
            [spec.name, context.run.run_id],
        )
        affected = _day_list(new_rows["event_day"])
        read = len(rows) + len(rejects)
        rate = len(rejects) / read if read else 0.0
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
                "landing_files": len(paths),
                "signature_verification": "on" if secret is not None else "off",
                # Silver partitions (event days) that this load changed: what a refresh must re-run.
                "affected_event_days": dg.MetadataValue.json(affected),
            }
        )
        yield dg.AssetCheckResult(
            check_name="quarantine_rate",
            passed=rate <= QUARANTINE_RATE_WARN,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined": len(rejects), "read": read, "rate": rate,
                      "threshold": QUARANTINE_RATE_WARN,
                      "sample_refs": dg.MetadataValue.json(rejects["record_ref"].head(5).tolist())},
        )

    return _bronze
