"""Warehouse behaviour on real DuckDB files: atomic partition writes, Bronze, quarantine, locks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse, WarehouseLockedError


def day(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def days_frame(days: list[str], tag: str = "v1") -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame(
        {
            "row_id": [f"{tag}-{i}" for i in range(n)],
            "event_day": pd.to_datetime(days).astype("datetime64[us]"),
            "value": np.arange(n, dtype="int64"),
        }
    )


def column_types(wh: Warehouse, table: str) -> dict[str, str]:
    df = wh.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?", [table])
    return dict(zip(df["column_name"], df["data_type"], strict=True))


@pytest.fixture()
def wh(tmp_path) -> Warehouse:
    return Warehouse(tmp_path / "wh.duckdb")


def all_dtypes_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_day": pd.to_datetime(["2025-03-04", "2025-03-04", "2025-03-04"]).astype("datetime64[us]"),
            "period_start": pd.to_datetime(["2025-03-03"] * 3).astype("datetime64[us]"),
            "created_at": pd.to_datetime(
                ["2025-03-04T10:00:00.123456Z", None, "2025-03-04T23:59:59.000000Z"], utc=True
            ).astype("datetime64[us, UTC]"),
            "naive_ts": pd.to_datetime(["2025-03-04 01:02:03"] * 3).astype("datetime64[us]"),
            "pr_number": pd.array([1, None, 3], dtype="Int64"),
            "mainline_pos": pd.array([0, 1, 2], dtype="Int64"),
            "status_count": np.array([1, 2, 3], dtype="int64"),
            "is_production": [True, False, True],
            "maybe": pd.array([True, None, False], dtype="boolean"),
            "repo": pd.array(["org/a", None, "org/c"], dtype="str"),
            "fixes_issues": pd.array(["", "1,2", ""], dtype="str"),
            "rate": [0.5, np.nan, 1.0],
        }
    )


def test_round_trip_keeps_every_dtype_and_stores_days_as_date(wh):
    df = all_dtypes_frame()
    assert wh.replace_partition("silver_x", df, "event_day", date(2025, 3, 4), date(2025, 3, 5)) == 3
    out = wh.read_window("silver_x", "event_day", "2025-03-04", "2025-03-05")
    pd.testing.assert_frame_equal(out, df)
    types = column_types(wh, "silver_x")
    assert types["event_day"] == "DATE" and types["period_start"] == "DATE"
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["naive_ts"] == "TIMESTAMP"
    assert types["pr_number"] == "BIGINT" and types["is_production"] == "BOOLEAN"


def test_empty_frame_creates_typed_table_and_reads_back_same_dtypes(wh):
    df = all_dtypes_frame().iloc[0:0]
    assert wh.replace_partition("silver_x", df, "event_day", date(2025, 3, 4), date(2025, 3, 5)) == 0
    out = wh.read_window("silver_x", "event_day", None, None)
    assert out.empty
    pd.testing.assert_series_equal(out.dtypes, df.dtypes)
    assert column_types(wh, "silver_x")["is_production"] == "BOOLEAN"


def test_replace_partition_touches_only_its_window_and_is_idempotent(wh):
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02", "2025-01-03"]), "event_day", "2025-01-01", "2025-01-04"
    )
    new = days_frame(["2025-01-02", "2025-01-02"], tag="v2")
    for _ in range(2):
        assert wh.replace_partition("t", new, "event_day", "2025-01-02", "2025-01-03") == 2
    out = wh.read_window("t", "event_day", None, None).sort_values("row_id")
    assert out["row_id"].tolist() == ["v1-0", "v1-2", "v2-0", "v2-1"]


def test_window_accepts_aware_datetimes_like_dagster_time_windows(wh):
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02"]), "event_day", "2025-01-01", "2025-01-03"
    )
    start = datetime(2025, 1, 2, tzinfo=UTC)
    end = datetime(2025, 1, 3, tzinfo=UTC)
    assert wh.read_window("t", "event_day", start, end)["row_id"].tolist() == ["v1-1"]
    wh.replace_partition("t", days_frame(["2025-01-02"], tag="v2"), "event_day", start, end)
    assert sorted(wh.read_window("t", "event_day", None, None)["row_id"]) == ["v1-0", "v2-0"]


def test_timestamptz_partition_column_uses_utc_bounds(wh):
    df = pd.DataFrame({"received_at": pd.to_datetime(["2025-01-01T23:30Z", "2025-01-02T00:00Z"], utc=True)})
    wh.replace_partition(
        "t", df.astype("datetime64[us, UTC]"), "received_at", utc("2025-01-01"), utc("2025-01-03")
    )
    assert column_types(wh, "t")["received_at"] == "TIMESTAMP WITH TIME ZONE"
    first_day = wh.read_window("t", "received_at", "2025-01-01", "2025-01-02")
    assert first_day["received_at"].tolist() == [utc("2025-01-01T23:30")]
    wh.replace_partition("t", df.iloc[0:0], "received_at", "2025-01-02", "2025-01-03")
    assert len(wh.read_window("t", "received_at", None, None)) == 1


def test_nullable_writer_upgrades_remembered_integer_dtype(wh):
    wh.replace_partition("t", days_frame(["2025-01-01"]), "event_day", "2025-01-01", "2025-01-02")
    nullable = days_frame(["2025-01-02"], tag="v2").astype({"value": "Int64"})
    wh.replace_partition("t", nullable, "event_day", "2025-01-02", "2025-01-03")
    assert wh.read_window("t", "event_day", "2025-01-01", "2025-01-02")["value"].dtype == "Int64"
    assert wh.query("SELECT value FROM t")["value"].dtype == "Int64"


@pytest.mark.parametrize("bad_day", ["2025-01-03", "2024-12-31", None])
def test_row_outside_window_is_rejected_before_writing(wh, bad_day):
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02"]), "event_day", "2025-01-01", "2025-01-03"
    )
    bad = days_frame(["2025-01-02"], tag="v2")
    bad = pd.concat([bad, days_frame(["2025-01-02"], tag="bad").assign(event_day=pd.Timestamp(bad_day))])
    with pytest.raises(ValueError, match="outside the window"):
        wh.replace_partition("t", bad, "event_day", "2025-01-02", "2025-01-03")
    assert sorted(wh.read_window("t", "event_day", None, None)["row_id"]) == ["v1-0", "v1-1"]


def test_failing_insert_rolls_back_delete_and_schema_change(wh):
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02"]), "event_day", "2025-01-01", "2025-01-03"
    )
    broken = days_frame(["2025-01-02"], tag="v2").astype({"value": "str"})
    broken["value"] = "not-a-number"
    broken["extra"] = "new column"
    with pytest.raises(duckdb.ConversionException):
        wh.replace_partition("t", broken, "event_day", "2025-01-02", "2025-01-03")
    out = wh.read_window("t", "event_day", None, None).sort_values("row_id", ignore_index=True)
    pd.testing.assert_frame_equal(out, days_frame(["2025-01-01", "2025-01-02"]))


def test_schema_evolution_adds_columns_and_missing_ones_become_null(wh):
    wh.replace_partition("t", days_frame(["2025-01-01"]), "event_day", "2025-01-01", "2025-01-02")
    newer = (
        days_frame(["2025-01-02"], tag="v2")
        .drop(columns=["value"])
        .assign(score=pd.array([7], dtype="Int64"))
    )
    wh.replace_partition("t", newer, "event_day", "2025-01-02", "2025-01-03")
    out = wh.read_window("t", "event_day", None, None).sort_values("row_id", ignore_index=True)
    assert list(out.columns) == ["row_id", "event_day", "value", "score"]
    assert out["value"].dtype == "Int64" and out["value"].isna().tolist() == [False, True]
    assert out["score"].dtype == "Int64" and out["score"].isna().tolist() == [True, False]


def test_empty_frame_clears_window(wh):
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02"]), "event_day", "2025-01-01", "2025-01-03"
    )
    assert wh.replace_partition("t", days_frame([]), "event_day", "2025-01-02", "2025-01-03") == 0
    assert wh.read_window("t", "event_day", None, None)["row_id"].tolist() == ["v1-0"]
    assert wh.replace_partition("t", pd.DataFrame(), "event_day", "2025-01-01", "2025-01-02") == 0
    assert wh.read_window("t", "event_day", None, None).empty
    with pytest.raises(ValueError, match="without columns"):
        wh.replace_partition("other", pd.DataFrame(), "event_day", "2025-01-01", "2025-01-02")


def test_replace_table_is_atomic(wh):
    df = pd.DataFrame({"k": ["a", "b"], "n": [1, 2]})
    assert wh.replace_table("dim", df) == 2
    assert wh.replace_table("dim", df.iloc[:1].assign(extra=True)) == 1
    assert wh.read_table("dim")["extra"].tolist() == [True]
    broken = pd.DataFrame({"k": ["z"], "n": [1], "event_day": ["not a date"]})  # day columns are DATE
    with pytest.raises(duckdb.ConversionException):
        wh.replace_table("dim", broken)
    pd.testing.assert_frame_equal(wh.read_table("dim"), df.iloc[:1].assign(extra=True))


def test_fixed_tables_and_identifiers_are_guarded(wh):
    with pytest.raises(ValueError, match="own writer"):
        wh.replace_partition(
            T.BRONZE_TABLE, days_frame(["2025-01-01"]), "event_day", "2025-01-01", "2025-01-02"
        )
    with pytest.raises(ValueError, match="invalid table"):
        wh.replace_table("t; DROP TABLE x", pd.DataFrame({"a": [1]}))


def test_replacing_a_100k_row_window_is_fast(wh):
    n = 100_000
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "change_id": [f"org/r#{i}" for i in range(n)],
            "event_day": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 7, n), unit="D"),
            "landed_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 86400, n), "s"),
            "pr_number": pd.array(np.where(np.arange(n) % 3 == 0, None, np.arange(n)), dtype="Int64"),
            "is_hotfix": rng.random(n) < 0.1,
            "commit_shas": ["a" * 40 + "," + "b" * 40] * n,
        }
    )
    wh.replace_partition("silver_changes", df, "event_day", "2025-01-01", "2025-01-08")
    started = time.perf_counter()
    assert wh.replace_partition("silver_changes", df, "event_day", "2025-01-01", "2025-01-08") == n
    assert time.perf_counter() - started < 1.0
    assert wh.query("SELECT count(*) AS n FROM silver_changes")["n"].iloc[0] == n


# ---- Bronze --------------------------------------------------------------------------------------
def bronze_rows(ids: list[str], received: list[str], source: str = "sample_org") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": source,
            "provider": "github",
            "delivery_id": ids,
            "event_type": "push",
            "received_at": pd.to_datetime(received, utc=True).astype("datetime64[us, UTC]"),
            "event_at": pd.to_datetime(received, utc=True).astype("datetime64[us, UTC]") - pd.Timedelta("2D"),
            "headers": '{"X-GitHub-Event": "push"}',
            "body": [f'{{"n": "{i}"}}' for i in ids],
            "payload_sha256": "0" * 64,
            "signature_status": "verified",
            "load_batch_id": "batch-1",
        }
    )


def test_append_bronze_dedupes_and_numbers_in_received_order(wh):
    rows = bronze_rows(
        ["c", "a", "b", "a"],
        ["2025-01-03T00:00Z", "2025-01-02T00:00Z", "2025-01-01T12:00Z", "2025-01-05T00:00Z"],
    )
    assert wh.max_load_seq() == 0
    assert wh.append_bronze(rows) == 3
    assert wh.append_bronze(rows) == 0
    stored = wh.read_window(T.BRONZE_TABLE, "received_day", None, None).sort_values("load_seq")
    assert stored["delivery_id"].tolist() == ["b", "a", "c"]
    assert stored["load_seq"].tolist() == [1, 2, 3]
    # the redelivery of "a" (later received_at) was dropped; days derived in UTC
    assert stored.loc[stored["delivery_id"] == "a", "received_day"].iloc[0] == day("2025-01-02")
    assert stored.loc[stored["delivery_id"] == "a", "event_day"].iloc[0] == day("2024-12-31")
    assert stored["loaded_at"].notna().all() and str(stored["loaded_at"].dtype) == "datetime64[us, UTC]"
    more = pd.concat(
        [bronze_rows(["d"], ["2025-01-01T00:00Z"]), bronze_rows(["a"], ["2025-01-09T00:00Z"], "other")]
    )
    assert wh.append_bronze(more) == 2
    assert wh.max_load_seq() == 5
    assert set(column_types(wh, T.BRONZE_TABLE)) == set(T.BRONZE_COLUMNS)


def test_append_bronze_rejects_bad_rows_without_writing(wh):
    with pytest.raises(ValueError, match="missing columns"):
        wh.append_bronze(bronze_rows(["a"], ["2025-01-01T00:00Z"]).drop(columns=["body"]))
    with pytest.raises(ValueError, match="JSON text"):
        wh.append_bronze(bronze_rows(["a"], ["2025-01-01T00:00Z"]).assign(body=[{"parsed": 1}]))
    with pytest.raises(duckdb.ConstraintException):
        wh.append_bronze(bronze_rows(["a", "b"], ["2025-01-01T00:00Z"] * 2).assign(signature_status="bogus"))
    assert wh.max_load_seq() == 0


# ---- quarantine ----------------------------------------------------------------------------------
def q_rows(
    refs: list[str], days: list[str], asset: str = "silver_changes", seen: str = "2025-02-01"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": "silver",
            "asset": asset,
            "source": "sample_org",
            "record_ref": refs,
            "partition_day": pd.to_datetime(days).astype("datetime64[us]"),
            "reason": "missing merged_at",
            "record": "{}",
            "last_seen_at": utc(seen),
        }
    )


def test_quarantine_upsert_keeps_first_seen_and_replace_removes_fixed_records(wh):
    wh.upsert_quarantine(
        q_rows(["d1", "d2", "d3"], ["2025-01-01", "2025-01-01", "2025-01-02"], seen="2025-02-01")
    )
    wh.upsert_quarantine(q_rows(["x"], ["2025-01-01"], asset="silver_incidents"))
    again = q_rows(["d1"], ["2025-01-01"], seen="2025-02-05")
    assert (
        wh.upsert_quarantine(again, replace_asset="silver_changes", start="2025-01-01", end="2025-01-02") == 1
    )
    q = wh.read_window(T.QUARANTINE_TABLE, "partition_day", None, None).sort_values("record_ref")
    assert q["record_ref"].tolist() == ["d1", "d3", "x"]  # d2 fixed; d3 outside window; other asset kept
    d1 = q[q["record_ref"] == "d1"].iloc[0]
    assert d1["last_seen_at"] == utc("2025-02-05")
    assert d1["first_seen_at"] == utc("2025-02-01")
    assert d1["quarantine_id"] == T.quarantine_id(
        "silver", "silver_changes", "sample_org", "d1", "missing merged_at"
    )
    assert q["quarantine_id"].is_unique


def test_quarantine_replace_validates_arguments(wh):
    with pytest.raises(ValueError, match="go together"):
        wh.upsert_quarantine(q_rows(["d1"], ["2025-01-01"]), replace_asset="silver_changes")
    with pytest.raises(ValueError, match="belong to asset"):
        wh.upsert_quarantine(
            q_rows(["d1"], ["2025-01-01"]), replace_asset="silver_other", start="2025-01-01", end="2025-01-02"
        )
    empty = q_rows([], [])
    assert (
        wh.upsert_quarantine(empty, replace_asset="silver_changes", start="2025-01-01", end="2025-01-02") == 0
    )


# ---- reads and errors ----------------------------------------------------------------------------
def test_read_window_filters_and_names_missing_things(wh):
    with pytest.raises(NothingMaterializedError, match="devmetrics demo"):
        wh.read_window("silver_changes", "event_day", "2025-01-01", "2025-01-02")
    with pytest.raises(NothingMaterializedError):
        with wh.connect(read_only=True):
            pass
    assert not wh.path.exists() and not wh.table_exists("t")
    wh.replace_partition(
        "t", days_frame(["2025-01-01", "2025-01-02"]), "event_day", "2025-01-01", "2025-01-03"
    )
    got = wh.read_window(
        "t", "event_day", "2025-01-01", None, where_sql="value >= ?", params=[1], columns=["row_id"]
    )
    assert got["row_id"].tolist() == ["v1-1"] and list(got.columns) == ["row_id"]
    with pytest.raises(ValueError, match="no column"):
        wh.read_window("t", "event_day", None, None, columns=["nope"])
    with pytest.raises(NothingMaterializedError, match="silver_changes.*silver_changes in the Dagster UI"):
        wh.read_window("silver_changes", "event_day", None, None)
    with pytest.raises(NothingMaterializedError):
        wh.query("SELECT * FROM gold_dora_daily")
    assert wh.table_exists("t")


HOLDER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextmanager
def lock_held(path, seconds: float) -> Iterator[None]:
    """Another process holding a read-write connection, like a notebook would."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout.readline().strip() == "ready"
            yield
        finally:
            holder.kill()


def test_locked_file_raises_named_error_after_bounded_retries(wh):
    wh.ensure_schema()
    with lock_held(wh.path, 20):
        quick = Warehouse(wh.path, lock_attempts=3, lock_base_delay=0.01, lock_max_delay=0.02)
        started = time.perf_counter()
        with pytest.raises(WarehouseLockedError, match="notebook") as err:
            quick.table_exists("quarantine")
        assert str(wh.path) in str(err.value)
        assert time.perf_counter() - started < 2
        with pytest.raises(WarehouseLockedError):
            quick.replace_table("dim", pd.DataFrame({"a": [1]}))


def test_writer_waits_for_a_short_lived_lock(wh):
    wh.ensure_schema()
    with lock_held(wh.path, 0.5):
        patient = Warehouse(wh.path, lock_attempts=60, lock_base_delay=0.05, lock_max_delay=0.2)
        assert patient.replace_table("dim", pd.DataFrame({"a": [1]})) == 1
    assert wh.read_table("dim")["a"].tolist() == [1]
