"""DuckDBPartitionIOManager on real daily-partitioned toy assets and a real DuckDB file."""

# No `from __future__ import annotations`: Dagster inspects the context annotation at definition time.

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets.storage.io_manager import DuckDBPartitionIOManager, WarehouseResource
from devmetrics_assets.storage.warehouse import Warehouse

daily = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-03-01")
SINGLE_RUN = dg.BackfillPolicy.single_run()

# How toy_silver behaves in the current test: value written, and an optional planted fault.
BEHAVIOUR: dict[str, object] = {}


def naive(value) -> pd.Timestamp:
    return pd.Timestamp(value).tz_convert("UTC").tz_localize(None)


@dg.asset(partitions_def=daily, backfill_policy=SINGLE_RUN, metadata={"partition_column": "event_day"})
def toy_silver(context: dg.AssetExecutionContext) -> pd.DataFrame:
    window = context.partition_time_window
    days = pd.date_range(naive(window.start), naive(window.end), freq="D", inclusive="left")
    df = pd.DataFrame(
        {
            "row_id": [f"{d.date()}-{i}" for d in days for i in range(2)],
            "event_day": [d for d in days for _ in range(2)],
            "landed_at": [pd.Timestamp(d, tz="UTC") + pd.Timedelta(hours=i) for d in days for i in range(2)],
            "value": pd.array([BEHAVIOUR.get("value", 1)] * (2 * len(days)), dtype="Int64"),
        }
    ).astype({"event_day": "datetime64[us]", "landed_at": "datetime64[us, UTC]"})
    fault = BEHAVIOUR.get("fault")
    if fault == "outside":  # a transform bug producing a row for the next day
        df = pd.concat([df, df.tail(1).assign(event_day=naive(window.end))], ignore_index=True)
    elif fault == "bad_type":  # INSERT fails: text into the BIGINT column
        df = df.astype({"value": "str"}).assign(value="oops")
    return df


# Declares toy_silver as an input, which no product asset does (they use `deps` and the warehouse
# resource): the IO manager refuses to load it.
@dg.asset(partitions_def=daily, backfill_policy=SINGLE_RUN, metadata={"partition_column": "event_day"})
def toy_gold(toy_silver: pd.DataFrame) -> pd.DataFrame:
    return toy_silver


@dg.asset(partitions_def=daily, backfill_policy=SINGLE_RUN)
def toy_side_effect(context: dg.AssetExecutionContext):
    return None


ASSETS = [toy_silver, toy_gold, toy_side_effect]


@pytest.fixture(autouse=True)
def reset_behaviour():
    BEHAVIOUR.clear()
    yield
    BEHAVIOUR.clear()


@pytest.fixture()
def path(tmp_path) -> str:
    return str(tmp_path / "wh.duckdb")


def run(
    path: str,
    selection,
    *,
    key: str | None = None,
    first: str | None = None,
    last: str | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    tags = {}
    if first is not None:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key=key,
        tags=tags,
        resources={"io_manager": DuckDBPartitionIOManager(path=path)},
        raise_on_error=raise_on_error,
    )


def stored(path: str, table: str = "toy_silver") -> pd.DataFrame:
    df = Warehouse(path).read_table(table)
    return df.sort_values(df.columns[0], ignore_index=True)


def error_text(result: dg.ExecuteInProcessResult, step: str) -> str:
    error = result.failure_data_for_node(step).error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


def test_single_partition_write_is_idempotent_and_reports_metadata(path):
    result = run(path, [toy_silver], key="2025-01-02")
    first = stored(path)
    assert first["row_id"].tolist() == ["2025-01-02-0", "2025-01-02-1"]
    assert str(first["landed_at"].dtype) == "datetime64[us, UTC]" and first["value"].dtype == "Int64"
    meta = result.asset_materializations_for_node("toy_silver")[0].metadata
    assert meta["row_count"].value == 2 and meta["table"].value == "toy_silver"
    assert meta["window"].value.startswith("[2025-01-02T00:00:00+00:00, 2025-01-03T00:00:00+00:00)")
    run(path, [toy_silver], key="2025-01-02")
    pd.testing.assert_frame_equal(stored(path), first)


def test_range_run_writes_the_window_and_a_partition_run_only_its_day(path):
    run(path, [toy_silver], first="2025-01-01", last="2025-01-03")
    days = pd.date_range("2025-01-01", periods=3)
    assert stored(path)["event_day"].tolist() == [d for d in days for _ in range(2)]
    # Re-materialise only the middle day with new values: neighbours stay as they were.
    BEHAVIOUR["value"] = 5
    run(path, [toy_silver], key="2025-01-02")
    assert stored(path)["value"].tolist() == [1, 1, 5, 5, 1, 1]


@pytest.mark.parametrize("fault, message", [("bad_type", "oops"), ("outside", "outside the window")])
def test_failing_write_leaves_previous_partition_and_neighbours_intact(path, fault, message):
    run(path, [toy_silver], first="2025-01-01", last="2025-01-03")
    before = stored(path)
    BEHAVIOUR.update(value=9, fault=fault)
    result = run(path, [toy_silver], key="2025-01-02", raise_on_error=False)
    assert not result.success
    assert message in error_text(result, "toy_silver")
    pd.testing.assert_frame_equal(stored(path), before)


def test_none_output_stores_nothing(path):
    result = run(path, [toy_side_effect], key="2025-01-02")
    assert result.success
    assert not Warehouse(path).table_exists("toy_side_effect")


def test_an_asset_input_is_refused_with_the_way_to_read_instead(path):
    run(path, [toy_silver], key="2025-01-02")
    result = run(path, [toy_gold], key="2025-01-02", raise_on_error=False)
    assert not result.success
    text = error_text(result, "toy_gold")
    assert "does not load inputs: declare toy_silver in `deps=`" in text
    assert not Warehouse(path).table_exists("toy_gold")


def test_warehouse_resource_points_at_the_file(path):
    assert WarehouseResource(path=path).warehouse().path == Warehouse(path).path
