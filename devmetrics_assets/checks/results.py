"""Turn pure validations into Dagster asset-check results with metadata a person can act on.

Checks are yielded by the asset itself for the run's partitions (a standalone check on a
partitioned asset would load every partition: see shared/dagster-facts.md).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from devmetrics_assets.checks.validations_scope import PartitionScope, scope_metadata

SAMPLE = 5


def schema_check_spec(asset: str, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "schema", asset=asset, blocking=blocking,
        description="pandera schema: column types, nullability, allowed values and ranges.",
    )


def unique_check_spec(asset: str, keys: list[str]) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "unique_key", asset=asset, blocking=True,
        description=f"No two rows share the key ({', '.join(keys)}).",
    )


def _days_at(df: pd.DataFrame, labels: object, day_column: str | None) -> tuple[object, ...] | None:
    """The `day_column` values of the rows labelled `labels` (None: not attributable to days)."""
    if day_column is None or day_column not in df.columns:
        return None
    index = pd.Index(pd.Series(labels).dropna().unique())
    rows = df[df.index.isin(index)]
    return tuple(rows[day_column].tolist()) if len(rows) else None


def with_scope(
    result_metadata: dict, scope: PartitionScope | None, passed: bool, failed_days: tuple | None,
    judges: str = "partitions",
) -> dict:
    """Check metadata plus the partitions judged and, on failure, the failed ones."""
    failed = scope.keys_of(failed_days) if scope is not None and failed_days is not None else None
    return {**result_metadata, **scope_metadata(scope, passed, failed, judges)}


def schema_check_result(
    schema: type[pa.DataFrameModel], df: pd.DataFrame, scope: PartitionScope | None = None,
    day_column: str | None = None,
) -> dg.AssetCheckResult:
    """Validate lazily so every failing column is reported at once; the failing rows' `day_column`
    names the failed partitions (a failure not tied to rows fails the whole window)."""
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        days = _days_at(df, cases["index"], day_column) if "index" in cases else None
        metadata = {
            "failures": len(cases),
            "columns": dg.MetadataValue.json(sorted({str(c) for c in cases["column"].dropna()})),
            "sample": dg.MetadataValue.md(cases.head(SAMPLE).to_markdown(index=False)),
        }
        return dg.AssetCheckResult(check_name="schema", passed=False,
                                   metadata=with_scope(metadata, scope, False, days))
    return dg.AssetCheckResult(check_name="schema", passed=True,
                               metadata=with_scope({"rows": len(df)}, scope, True, None))


def unique_check_result(
    df: pd.DataFrame, keys: list[str], scope: PartitionScope | None = None, day_column: str | None = None,
) -> dg.AssetCheckResult:
    duplicated = df[df.duplicated(keys, keep=False)]
    sample = duplicated[keys].drop_duplicates().head(SAMPLE).astype(str).to_dict("records")
    days = tuple(duplicated[day_column].tolist()) if day_column in duplicated and len(duplicated) else None
    metadata = {"duplicate_rows": len(duplicated), "keys": ", ".join(keys),
                "sample_keys": dg.MetadataValue.json(sample)}
    return dg.AssetCheckResult(
        check_name="unique_key",
        passed=duplicated.empty,
        metadata=with_scope(metadata, scope, duplicated.empty, days),
    )
