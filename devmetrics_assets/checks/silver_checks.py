"""Asset checks of the Silver assets, computed for the run's window (never all partitions)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from devmetrics_assets.checks.results import (
    schema_check_result,
    schema_check_spec,
    unique_check_result,
    unique_check_spec,
)
from devmetrics_assets.storage.warehouse import Warehouse


def silver_check_specs(name: str, key: list[str]) -> list[dg.AssetCheckSpec]:
    return [schema_check_spec(name), unique_check_spec(name, key)]


def silver_check_results(
    name: str,
    schema: type[pa.DataFrameModel],
    key: list[str],
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
    warehouse: Warehouse,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> list[dg.AssetCheckResult]:
    return [schema_check_result(schema, rows), unique_check_result(rows, key)]
