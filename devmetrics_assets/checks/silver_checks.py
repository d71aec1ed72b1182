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
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.transforms import silver_entities

SILVER_QUARANTINE_RATE_WARN = V.QUARANTINE_RATE_WARN
# The entity each model builds: its (provider, event type) kinds (transforms/silver_entities.py) are the
# quarantine rate's denominator. A model not listed is measured against all deliveries of the window.
ENTITIES = {"silver_changes": "changes", "silver_deployments": "deployments", "silver_incidents": "incidents"}


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


# ---- the checks ------------------------------------------------------------------------------------
def silver_validations(
    name: str, rows: pd.DataFrame, rejects: pd.DataFrame, warehouse: Storage,
    start: pd.Timestamp, end: pd.Timestamp,
) -> list[V.Validation]:
    """The non-pandera validations of one Silver model's window (usable without Dagster)."""
    refs = rejects["record_ref"].astype(str) if len(rejects) else pd.Series(dtype="str")
    rejected = int(refs.nunique())
    entity = ENTITIES.get(name)
    kinds = silver_entities.kinds(entity) if entity else None
    read = max(warehouse.count_bronze(start, end, kinds or None), rejected)
    found = [failing_on(V.quarantine_rate(rejected, read, threshold=SILVER_QUARANTINE_RATE_WARN,
                                          sample_refs=refs.unique().tolist()), quarantined_days(rejects))]
    if name == "silver_deployments":
        ids = sorted(set(V._split(rows["change_ids"]))) if len(rows) else []
        known = warehouse.values_present("silver_changes", "change_id", ids)
        found.append(V.deployment_change_refs(rows, known))
    if name == "silver_incidents":
        shas = rows["root_cause_sha"].dropna().astype(str) if len(rows) else pd.Series(dtype="str")
        full = sorted(set(shas[shas.str.len() == V.FULL_SHA_LEN]))
        found.append(V.incident_root_cause_links(rows, warehouse.shipping_deployments(full)))
    return found


def silver_check_results(
    name: str,
    schema: type[pa.DataFrameModel],
    key: list[str],
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
    warehouse: Storage,
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
