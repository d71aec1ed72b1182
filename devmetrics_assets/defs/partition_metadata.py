"""Each partition's own numbers, for the materialisation events of a range run.

A single-run backfill writes one materialisation event per partition; metadata given to `Output` /
`MaterializeResult` goes to EVERY one of them, so a year's run stamped the year's totals on each day and
the UI's metadata plots drew collapses that never happened. The layers instead compute, here, one
metadata dict per partition key from that partition's own rows, and record each with one
`context.add_asset_metadata(metadata, partition_key=key)` call (no extra events: the dicts are merged
into the materialisation events Dagster writes anyway). What belongs to the run as a whole is named as
the run's (`run_window`, `run_partition_count`).

Rates are percentages (floats named `*_pct`; text `7.3 %` in Markdown); a missing value is left out of
the numbers (a gap in the plot, never NaN) and shown as `–` in Markdown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
import pandas as pd

from devmetrics_assets.checks.validations_scope import PartitionScope

MISSING = "–"
# The IO manager's output metadata names the window's row count `row_count` on every partition
# (storage/io_manager.py); each partition overrides it with its own (partition metadata wins the merge).
ROW_COUNT = "row_count"
ORG_INTS = ["deployments", "deploy_days", "failed_deploy_attempts", "rollbacks", "change_failures",
            "change_failures_inferred", "shipped_changes", "recoveries", "unrecovered_failures",
            "rework_deployments", "incidents_opened"]
ORG_RATES = {"change_failure_rate": "change_failure_rate_pct", "rework_rate": "rework_rate_pct",
             "lead_time_coverage": "lead_time_coverage_pct"}
ORG_HOURS = ["lead_time_median_h", "lead_time_p90_h", "recovery_median_h", "recovery_p90_h",
             "deployment_frequency_per_day"]
TABLE = [("deployments", "deployments"), ("change_failure_rate", "CFR"),
         ("lead_time_median_h", "lead h p50"), ("recovery_median_h", "recovery h p50"),
         ("rework_rate", "rework"), ("incidents_opened", "incidents"), ("is_partial", "partial")]


def run_metadata(scope: PartitionScope) -> dict[str, Any]:
    """What a materialisation says about the run that wrote it (the same on every partition)."""
    return {"run_window": scope.label(), "run_partition_count": len(scope.keys)}


def record(context: dg.AssetExecutionContext, per_key: Mapping[str, Mapping[str, Any]]) -> None:
    """One add_asset_metadata call per partition key of the run."""
    for key, metadata in per_key.items():
        context.add_asset_metadata(dict(metadata), partition_key=key)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or (
        not isinstance(value, str | bool) and pd.isna(value))


def percent_text(value: Any) -> str:
    """A 0..1 rate as `7.3 %` (missing: –)."""
    return MISSING if _missing(value) else f"{100 * float(value):.1f} %"


def number_text(value: Any) -> str:
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{float(value):.3g}" if isinstance(value, float) else str(value)


def markdown_row_table(row: Mapping[str, Any]) -> str:
    """One organisation row as a Markdown table: rates as percentages, missing values as –."""
    shown = [(label, column) for column, label in TABLE if column in row]
    cells = [percent_text(row[c]) if c in ORG_RATES else number_text(row[c]) for _, c in shown]
    header = "| " + " | ".join(label for label, _ in shown) + " |"
    return "\n".join([header, "|" + "---|" * len(shown), "| " + " | ".join(cells) + " |"])


# ---- per layer -------------------------------------------------------------------------------------
def bronze_partitions(
    scope: PartitionScope, read_days: Iterable[Any], inserted_days: Iterable[Any],
    quarantined_days: Iterable[Any], conflict_days: Iterable[Any],
) -> dict[str, dict[str, Any]]:
    """Per received day: deliveries read, inserted, skipped as duplicates, quarantined, conflicting."""
    read, inserted = scope.counts(read_days), scope.counts(inserted_days)
    quarantined, conflicts = scope.counts(quarantined_days), scope.counts(conflict_days)
    return {k: {"dagster/row_count": inserted[k], "deliveries_read": read[k], "inserted": inserted[k],
                "duplicates_skipped": max(read[k] - inserted[k], 0), "quarantined": quarantined[k],
                "conflicts": conflicts[k]} for k in scope.keys}


def silver_partitions(
    scope: PartitionScope, rows: pd.DataFrame, rejects: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Per event day: the rows written and the records quarantined."""
    written = scope.counts(rows["event_day"] if len(rows) else pd.Series(dtype=object))
    rejected = scope.counts(rejects["partition_day"] if len(rejects) else pd.Series(dtype=object))
    return {k: {"dagster/row_count": written[k], "rows": written[k], ROW_COUNT: written[k],
                "quarantined": rejected[k]} for k in scope.keys}


def gold_partitions(scope: PartitionScope, gold: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per period: its row count, repos, and the organisation row's counts, rates (%) and medians."""
    keys = scope.group(gold["period_start"]) if len(gold) else pd.Series(dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for key in scope.keys:
        rows = gold[(keys == key).to_numpy(dtype=bool)] if len(gold) else gold
        org = rows[rows["scope_type"] == "org"]
        meta: dict[str, Any] = {
            "dagster/row_count": len(rows), "rows": len(rows), ROW_COUNT: len(rows),
            "repos": int(rows.loc[rows["scope_type"] == "repo", "scope"].nunique()) if len(rows) else 0,
        }
        if len(org):
            row = org.iloc[0].to_dict()
            meta.update({c: int(row[c]) for c in ORG_INTS if c in row and not _missing(row[c])})
            meta.update({pct: round(100 * float(row[c]), 2) for c, pct in ORG_RATES.items()
                         if c in row and not _missing(row[c])})
            meta.update({c: round(float(row[c]), 3) for c in ORG_HOURS if c in row and not _missing(row[c])})
            if "is_partial" in row and not _missing(row["is_partial"]):
                meta["is_partial"] = bool(row["is_partial"])
            meta["org_metrics"] = dg.MetadataValue.md(markdown_row_table(row))
        else:
            meta.update(dict.fromkeys(["deployments", "incidents_opened"], 0))
        out[key] = meta
    return out
