"""Asset checks of a Bronze asset, computed for the run's window from what the load just read."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.warehouse import Warehouse

QUARANTINE_RATE_WARN = 0.05


def bronze_check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "quarantine_rate",
            asset=spec.asset_name,
            description=f"Warns when over {QUARANTINE_RATE_WARN:.0%} of the records read are quarantined.",
        )
    ]


def bronze_check_results(
    spec: SourceSpec,
    warehouse: Warehouse,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
) -> list[dg.AssetCheckResult]:
    read = len(rows) + len(rejects)
    rate = len(rejects) / read if read else 0.0
    return [
        dg.AssetCheckResult(
            check_name="quarantine_rate",
            passed=rate <= QUARANTINE_RATE_WARN,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined": len(rejects), "read": read, "rate": rate,
                      "threshold": QUARANTINE_RATE_WARN,
                      "sample_refs": dg.MetadataValue.json(rejects["record_ref"].head(5).tolist())},
        )
    ]
