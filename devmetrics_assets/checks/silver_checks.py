"""Asset checks of the Silver assets, computed for the run's window (never all partitions).

Blocking (they protect Gold: a failure fails the run and automation does not build Gold on it):
`schema` (pandera) and `unique_key`. Warnings: `quarantine_rate` (share of the window's deliveries the
model could not use), and the cross-table references: `change_refs` on silver_deployments (every change a
deployment shipped exists in silver_changes) and `root_cause_links` on silver_incidents (a full root-cause
sha was shipped by a successful production deployment).

The reference checks are warnings on purpose: the three Silver assets are siblings in the graph (each
reads Bronze, none reads another), so in one run silver_deployments may be checked before silver_changes
has written the same days; a blocking check would then fail a correct run. Declaring the referenced table
as `additional_deps` of the check does not order the steps (verified), so the order cannot be relied on.
Gold's blocking `reconciliation` check re-verifies the totals once all of Silver is written.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from devmetrics_assets.checks import validations as V
from devmetrics_assets.checks.bronze_checks import as_check_result, quarantined_days
from devmetrics_assets.checks.results import (
    schema_check_result,
    schema_check_spec,
    unique_check_result,
    unique_check_spec,
)
from devmetrics_assets.checks.validations_core import failing_on
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse
from devmetrics_assets.transforms import silver_entities

SILVER_QUARANTINE_RATE_WARN = V.QUARANTINE_RATE_WARN
# The entity each model builds: its (provider, event type) kinds (transforms/silver_entities.py) are the
# quarantine rate's denominator. A model not listed is measured against all deliveries of the window.
ENTITIES = {"silver_changes": "changes", "silver_deployments": "deployments", "silver_incidents": "incidents"}
REFERENCE_CHECKS = {"silver_deployments": "change_refs", "silver_incidents": "root_cause_links"}


def silver_check_specs(name: str, key: list[str]) -> list[dg.AssetCheckSpec]:
    specs = [
        schema_check_spec(name),
        unique_check_spec(name, key),
        dg.AssetCheckSpec(
            "quarantine_rate", asset=name, blocking=False,
            description=(f"Warns when over {SILVER_QUARANTINE_RATE_WARN:.0%} of the window's Bronze "
                         "deliveries this model reads were quarantined."),
        ),
    ]
    if name == "silver_deployments":
        specs.append(dg.AssetCheckSpec(
            "change_refs", asset=name, blocking=False, additional_deps=["silver_changes"],
            description="Warns when a deployment's change_ids are not in silver_changes (any partition).",
        ))
    if name == "silver_incidents":
        specs.append(dg.AssetCheckSpec(
            "root_cause_links", asset=name, blocking=False, additional_deps=["silver_deployments"],
            description=("Warns when a full root-cause sha was not shipped by any successful production "
                         "deployment (it may predate tracking)."),
        ))
    return specs


# ---- what the checks read ------------------------------------------------------------------------
def _speaks_sql(warehouse: object) -> bool:
    return callable(getattr(warehouse, "query", None))


def window_deliveries(
    warehouse: Warehouse, kinds: Sequence[tuple[str, str]] | None, start: pd.Timestamp, end: pd.Timestamp
) -> int:
    """Bronze deliveries (of these (provider, event type) kinds, or all) with event day in [start, end)."""
    if not warehouse.table_exists("bronze_deliveries"):
        return 0
    rows = warehouse.read_window("bronze_deliveries", "event_day", start, end,
                                 columns=["provider", "event_type"])
    if not kinds:
        return len(rows)
    pairs = pd.MultiIndex.from_arrays([rows["provider"].astype(str), rows["event_type"].astype(str)])
    return int(pairs.isin(list(kinds)).sum())


def known_change_ids(warehouse: Warehouse, wanted: Sequence[str], end: pd.Timestamp) -> set[str]:
    """Which of `wanted` exist in silver_changes (any partition up to end + 1 day: changes land first)."""
    if not wanted:
        return set()
    try:
        if _speaks_sql(warehouse):
            got = warehouse.query("SELECT change_id FROM silver_changes WHERE list_contains(?, change_id)",
                                  [list(wanted)])
        else:
            got = warehouse.read_window("silver_changes", "event_day", None, end + pd.Timedelta(days=1),
                                        columns=["change_id"])
    except NothingMaterializedError:
        return set()
    return set(got["change_id"].astype(str)) & set(wanted)


def shipping_deployments(warehouse: Warehouse, shas: Sequence[str]) -> pd.DataFrame:
    """silver_deployments rows (successful production) that shipped any of `shas`, for the link check."""
    columns = ["deployment_id", "is_production", "final_status", "commit_shas"]
    empty = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
    if not shas:
        return empty
    try:
        if _speaks_sql(warehouse):
            return warehouse.query(
                "SELECT deployment_id, is_production, final_status, commit_shas FROM silver_deployments "
                "WHERE is_production AND final_status = 'success' "
                "AND len(list_intersect(string_split(commit_shas, ','), ?)) > 0",
                [list(shas)],
            )
        return warehouse.read_table("silver_deployments", columns=columns)
    except NothingMaterializedError:
        return empty


# ---- the checks ------------------------------------------------------------------------------------
def silver_validations(
    name: str, rows: pd.DataFrame, rejects: pd.DataFrame, warehouse: Warehouse,
    start: pd.Timestamp, end: pd.Timestamp,
) -> list[V.Validation]:
    """The non-pandera validations of one Silver model's window (usable without Dagster)."""
    refs = rejects["record_ref"].astype(str) if len(rejects) else pd.Series(dtype="str")
    rejected = int(refs.nunique())
    entity = ENTITIES.get(name)
    kinds = silver_entities.kinds(entity) if entity else None
    read = max(window_deliveries(warehouse, kinds, start, end), rejected)
    found = [failing_on(V.quarantine_rate(rejected, read, threshold=SILVER_QUARANTINE_RATE_WARN,
                                          sample_refs=refs.unique().tolist()), quarantined_days(rejects))]
    if name == "silver_deployments":
        ids = sorted(set(V._split(rows["change_ids"]))) if len(rows) else []
        found.append(V.deployment_change_refs(rows, known_change_ids(warehouse, ids, end)))
    if name == "silver_incidents":
        shas = rows["root_cause_sha"].dropna().astype(str) if len(rows) else pd.Series(dtype="str")
        full = sorted(set(shas[shas.str.len() == V.FULL_SHA_LEN]))
        found.append(V.incident_root_cause_links(rows, shipping_deployments(warehouse, full)))
    return found


def silver_check_results(
    name: str,
    schema: type[pa.DataFrameModel],
    key: list[str],
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
    warehouse: Warehouse,
    start: pd.Timestamp,
    end: pd.Timestamp,
    scope: PartitionScope | None = None,
) -> list[dg.AssetCheckResult]:
    """Check results for the window; `scope` (the run's partitions) is named in each, with the failed
    partitions (the event days of the failing rows) on failure."""
    return [
        schema_check_result(schema, rows, scope, "event_day"),
        unique_check_result(rows, key, scope, "event_day"),
        *(as_check_result(v, scope=scope)
          for v in silver_validations(name, rows, rejects, warehouse, start, end)),
    ]
