"""Turn pure validations into Dagster asset-check results with metadata a person can act on.

Checks are yielded by the asset itself for the run's partitions (a standalone check on a
partitioned asset would load every partition: see shared/dagster-facts.md).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

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


def schema_check_result(schema: type[pa.DataFrameModel], df: pd.DataFrame) -> dg.AssetCheckResult:
    """Validate lazily so every failing column is reported at once."""
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        return dg.AssetCheckResult(
            check_name="schema",
            passed=False,
            metadata={
                "failures": len(cases),
                "columns": dg.MetadataValue.json(sorted({str(c) for c in cases["column"].dropna()})),
                "sample": dg.MetadataValue.md(cases.head(SAMPLE).to_markdown(index=False)),
            },
        )
    return dg.AssetCheckResult(check_name="schema", passed=True, metadata={"rows": len(df)})


def unique_check_result(df: pd.DataFrame, keys: list[str]) -> dg.AssetCheckResult:
    duplicated = df[df.duplicated(keys, keep=False)]
    sample = duplicated[keys].drop_duplicates().head(SAMPLE).astype(str).to_dict("records")
    return dg.AssetCheckResult(
        check_name="unique_key",
        passed=duplicated.empty,
        metadata={"duplicate_rows": len(duplicated), "keys": ", ".join(keys),
                  "sample_keys": dg.MetadataValue.json(sample)},
    )
