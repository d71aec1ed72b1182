"""Bronze: one append-only asset per source, generated from the source registry.

A Bronze partition is a RECEIVED day. Materialising it reads the source's landing files, keeps the
deliveries received in the window, verifies signatures when a secret is configured, and appends the
deliveries whose (source, delivery id) is not stored yet. Re-running adds nothing; history is never
rewritten. Unusable lines go to quarantine with their reason, and so do conflicting redeliveries (an id
stored with another body). The event days a load changed are recorded as pending work in the same
transaction as the deliveries (storage: `pending_event_days`), so a run that dies before Silver and Gold
is finished by the next `devmetrics load`, `devmetrics load --resume` or the automation sensor.
Each received day's materialisation carries that day's counts and the event days its new deliveries
touched (`affected_event_days`, which automation reads), never the window's totals.
"""


from collections.abc import Mapping

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.bronze_checks import (
    bronze_check_results,
    bronze_check_specs,
    quarantined_days,
)
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.config import Settings
from devmetrics_assets.defs import partition_metadata as PM
from devmetrics_assets.defs.automation import automation_condition
from devmetrics_assets.defs.freshness import bronze_freshness_policy
from devmetrics_assets.partitions import window_of
from devmetrics_assets.sources.landing import landing_offsets_now, read_landing_increment
from devmetrics_assets.sources.landing_files import import_files
from devmetrics_assets.sources.readers import read_source
from devmetrics_assets.sources.redelivery import split_conflicts
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.time_bounds import TimeBounds
from devmetrics_assets.sources.verification import NO_VERIFY_TAG, VerificationDecision, decide
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.selection import DUCKDB
from devmetrics_assets.storage.tables import QUARANTINE_TABLE, RECORD_REF, SIGNATURE_REASON_PREFIXES
from devmetrics_assets.transforms.quarantine import quarantine_rows

# A week: parsing holds a few times the chunk's payloads, so a month of a 500-repo organisation was GBs
# (docs/benchmark.md, "Bounded memory").
CHUNK_DAYS = 7
# Run tag of the arrivals sensor's runs (defs/arrivals.py): read only the lines after the stored offsets.
READ_TAG = "devmetrics/read"
READ_NEW_LINES = "new_lines"
# Source types whose Bronze reads the landing day files (offsets apply); other readers always read whole.
OFFSET_TYPES = frozenset({"landing_jsonl"})


def sub_windows(start: pd.Timestamp, end: pd.Timestamp, days: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, end) cut into consecutive windows of at most `days` days."""
    edges = [*pd.date_range(start, end, freq=f"{days}D", inclusive="left"), end]
    return list(zip(edges[:-1], edges[1:], strict=True))


def secret_resource_key(spec: SourceSpec) -> str:
    return f"{spec.name}_webhook_secret"


def verification_for(
    spec: SourceSpec, storage: Storage, secret: str | None, no_verify: bool
) -> VerificationDecision:
    """The load's verification decision (sources/verification.py), from what storage remembers."""
    return decide(spec, has_secret=secret is not None, no_verify=no_verify,
                  was_verified=storage.was_verified(spec.name),
                  has_recorded_imports=bool(import_files(spec.landing_dir)))


def forged_refs(storage: Storage, asset: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The window's quarantine rows of `asset` whose signature failed: an unverified reload keeps them."""
    if not storage.table_exists(QUARANTINE_TABLE):
        return pd.DataFrame(columns=["source", "record_ref", "partition_day", "reason", "record"])
    rows = storage.read_window(QUARANTINE_TABLE, "partition_day", start, end,
                               columns=["asset", "source", "record_ref", "partition_day", "reason", "record"])
    signature = rows["reason"].astype(str).str.startswith(SIGNATURE_REASON_PREFIXES)
    return rows[(rows["asset"] == asset).to_numpy(dtype=bool) & signature.to_numpy(dtype=bool)].drop(
        columns="asset").reset_index(drop=True)


# What the Bronze asset keeps of each chunk's new deliveries once the chunk is appended.
DAY_COLUMNS = ("received_day", "event_day")


def new_deliveries(part: pd.DataFrame, stored: Mapping[str, str]) -> pd.DataFrame:
    """The rows of `part` that append_bronze inserts: ids not stored yet, the earliest copy of each."""
    cols = [c for c in ("source", "delivery_id", "received_day", "received_at", "event_day") if c in part]
    new = part.loc[~part["delivery_id"].isin(set(stored)), cols]
    return new.sort_values("received_at", kind="stable").drop_duplicates(["source", "delivery_id"])


def affected_by_partition(
    scope: PartitionScope, fresh: pd.DataFrame, affected: list[str]
) -> dict[str, list[str]]:
    """The affected event days (what the warehouse says this run inserted) per received-day partition;
    a day no new row explains (another writer got there between) goes to the last partition."""
    out: dict[str, set[str]] = {k: set() for k in scope.keys}
    wanted, placed = set(affected), set()
    if len(fresh) and "event_day" in fresh:
        days = pd.to_datetime(fresh["event_day"]).dt.strftime("%Y-%m-%d")
        for key, day in zip(scope.key_of(fresh["received_day"]), days, strict=True):
            if key is not None and day in wanted:
                out[key].add(day)
                placed.add(day)
    if scope.keys and wanted - placed:
        out[scope.keys[-1]].update(wanted - placed)
    return {k: sorted(v) for k, v in out.items() if v}


def build_bronze_asset(
    spec: SourceSpec, partitions_def: dg.DailyPartitionsDefinition, settings: Settings | None = None,
    storage_kind: str = DUCKDB,
) -> dg.AssetsDefinition:
    secret_key = secret_resource_key(spec)

    @dg.asset(
        name=spec.asset_name,
        group_name="bronze",
        description=spec.description,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={storage_kind, spec.provider},
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
        no_verify = context.run.tags.get(NO_VERIFY_TAG) == "true"
        decision = verification_for(spec, warehouse, secret, no_verify)
        if decision.refusal is not None:
            raise dg.Failure(description=decision.refusal)  # before anything is read or written
        bounds = TimeBounds.for_settings(settings or Settings.from_env())
        kept_forged = forged_refs(warehouse, spec.asset_name, start, end) if decision.downgraded else None
        # A long backfill is read and appended CHUNK_DAYS at a time, so memory stays bounded by a week
        # of payloads whatever the window (same rows as one pass: Bronze dedupes by delivery id).
        # An arrival's run reads only the whole lines after the stored offsets (no re-reading of what was
        # loaded); any other run (backfill, replay, a re-run) reads the window whole and stays idempotent.
        incremental = (context.run.tags.get(READ_TAG) == READ_NEW_LINES and spec.type in OFFSET_TYPES
                       and kept_forged is None)
        read_ids, reject_parts, conflict_parts, fresh_parts, inserted = [], [], [], [], 0
        for part_start, part_end in sub_windows(start, end, CHUNK_DAYS):
            if incremental:
                part, part_rejects, offsets = read_landing_increment(
                    spec, start=part_start, end=part_end, offsets=warehouse.landing_offsets(spec.name),
                    load_batch_id=context.run.run_id, bounds=bounds,
                    secret=secret if decision.verify else None)
            else:
                offsets = landing_offsets_now(spec, part_start, part_end) if spec.type in OFFSET_TYPES else []
                part, part_rejects = read_source(spec, start=part_start, end=part_end,
                                                 secret=secret if decision.verify else None,
                                                 load_batch_id=context.run.run_id, bounds=bounds)
            if kept_forged is not None and len(kept_forged):
                # Reprocessing never moves a delivery quarantined as forged into Bronze.
                part = part[~part[RECORD_REF].isin(set(kept_forged["record_ref"]))].reset_index(drop=True)
            stored = warehouse.stored_payload_hashes(spec.name, part["delivery_id"].unique().tolist())
            part, conflicts = split_conflicts(part, stored)
            # Only the day columns are kept past the chunk (per-day metadata, affected event days): ids and
            # timestamps of a year's deliveries held ~300 MB at 1.9 million deliveries.
            fresh = new_deliveries(part, stored)
            fresh_parts.append(fresh[[c for c in DAY_COLUMNS if c in fresh]])
            if incremental:
                # The new lines' rejects are added (earlier ones stay) before the offsets move past them.
                new_rejects = pd.concat([r for r in (part_rejects, conflicts) if len(r)] or [part_rejects],
                                        ignore_index=True).drop_duplicates(["record_ref", "reason"])
                warehouse.upsert_quarantine(quarantine_rows("bronze", spec.asset_name, new_rejects))
            inserted += warehouse.append_bronze(part, offsets)
            read_ids.append(part[["received_day"]])
            reject_parts.extend([part_rejects, conflicts])
            conflict_parts.append(conflicts)
            del part
        rows = pd.concat(read_ids, ignore_index=True)
        conflicts = pd.concat(conflict_parts, ignore_index=True)
        if kept_forged is not None:
            reject_parts.append(kept_forged)
        rejects = pd.concat([r for r in reject_parts if len(r)] or reject_parts[:1], ignore_index=True)
        rejects = rejects.drop_duplicates(["record_ref", "reason"])
        if not incremental:
            # Replace this window's Bronze quarantine rows, so a line fixed in the landing file leaves it.
            warehouse.upsert_quarantine(quarantine_rows("bronze", spec.asset_name, rejects),
                                        replace_asset=spec.asset_name, start=start, end=end)
        affected = [d.isoformat() for d in warehouse.bronze_event_days(context.run.run_id)]
        context.log.info(
            f"bronze {spec.name} [{start.date()}, {end.date()}): read={len(rows)} inserted={inserted} "
            f"duplicates={len(rows) - inserted} quarantined={len(rejects)} conflicts={len(conflicts)} "
            f"verification={decision.mode} read={'new lines' if incremental else 'whole window'}"
        )
        if decision.downgraded:
            context.log.warning(f"{spec.name}: {inserted} deliveries stored without signature verification")
        scope = PartitionScope.of(context.partition_keys, end)
        fresh = pd.concat(fresh_parts, ignore_index=True)
        per_key = PM.bronze_partitions(scope, rows["received_day"], fresh["received_day"],
                                       quarantined_days(rejects), quarantined_days(conflicts))
        # Silver partitions (event days) each received day's load changed: what a refresh must re-run.
        for key, days in affected_by_partition(scope, fresh, affected).items():
            per_key[key]["affected_event_days"] = dg.MetadataValue.json(days)
        PM.record(context, per_key)
        yield dg.MaterializeResult(
            # run_rejects: lines this run set aside, also those without a day (unparsable): the whole run's
            # count on each of its partitions; the quarantine asset's condition reads it.
            metadata={**PM.run_metadata(scope), "signature_verification": decision.mode,
                      "run_rejects": len(rejects)},
        )
        yield from bronze_check_results(spec, warehouse, start, end, rows, rejects,
                                        verification=decision, conflicts=conflicts, scope=scope,
                                        inserted=inserted)

    return _bronze
