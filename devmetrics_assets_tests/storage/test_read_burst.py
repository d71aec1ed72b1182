"""Reads in a burst (Warehouse.reading / storage.reading) and text columns fetched through Arrow."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage import warehouse_schema as S
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.warehouse import Warehouse


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "row_id": ["a", "b", "c"],
        "event_day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]).astype("datetime64[us]"),
        "note": pd.Series(["x", None, "z"], dtype="str"),
        "n": pd.Series([1, None, 3], dtype="Int64"),
        "ok": [True, False, True],
        "at": pd.to_datetime(["2026-01-01T01:00Z", None, "2026-01-03T03:00Z"], utc=True).astype(
            "datetime64[us, UTC]"),
        "score": [1.5, np.nan, 2.5],
    })


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb")
    w.replace_partition("silver_changes", _frame(), "event_day", pd.Timestamp("2026-01-01"),
                        pd.Timestamp("2026-01-04"))
    return w


def test_reads_inside_a_burst_equal_reads_outside_and_share_one_connection(wh: Warehouse) -> None:
    alone = wh.read_window("silver_changes", "event_day", None, None)
    opened = []
    real_open = wh._open
    wh._open = lambda read_only: opened.append(read_only) or real_open(read_only)  # type: ignore[method-assign]
    with reading(wh):
        with reading(wh):  # nested: the outer one's connection
            inside = wh.read_window("silver_changes", "event_day", None, None)
        assert wh.table_exists("silver_changes") and not wh.table_exists("nothing_here")
        table = wh.read_table("silver_changes")
    assert opened == [True]
    pd.testing.assert_frame_equal(alone, inside)
    pd.testing.assert_frame_equal(alone, table)


def test_a_burst_refuses_writes_and_releases_the_file(wh: Warehouse) -> None:
    with reading(wh), pytest.raises(RuntimeError, match="no write"):
        wh.ensure_schema()
    wh.ensure_schema()  # released: writing works again
    with duckdb.connect(str(wh.path)) as con:  # and so does any other writer
        con.execute("CREATE TABLE other (x INTEGER)")


def test_reading_is_a_no_op_for_storages_without_it() -> None:
    with reading(object()):
        pass


def _old_fetch(con: duckdb.DuckDBPyConnection, sql: str, hints: dict[str, str]) -> pd.DataFrame:
    con.execute(sql)
    types = [str(d[1]) for d in con.description]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        return T.normalise_frame(con.df(), types, hints)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM silver_changes",
    "SELECT note, row_id FROM silver_changes",  # text only
    "SELECT note FROM silver_changes WHERE false",  # empty
    "SELECT note AS a, row_id AS a FROM silver_changes",  # duplicate names: DuckDB's own renaming
    "SELECT [1, 2] AS l, note FROM silver_changes",  # a type Arrow would not round-trip: as before
])
def test_fetch_gives_what_con_df_gives(wh: Warehouse, sql: str) -> None:
    with duckdb.connect(str(wh.path), read_only=True) as con:
        hints = {c: h for c, (_, h) in S.columns(con, "silver_changes").items() if h}
        pd.testing.assert_frame_equal(S.fetch(con, sql, None, hints), _old_fetch(con, sql, hints),
                                      check_exact=True)


def test_an_empty_text_result_can_be_joined_on() -> None:
    # The Arrow path once gave empty text columns no chunks, and pandas' join then raised ArrowInvalid
    # (gold_facts on a day without incident links).
    con = duckdb.connect()
    con.execute("CREATE TABLE t (incident_id VARCHAR, n BIGINT)")
    empty = S.fetch(con, "SELECT incident_id, n FROM t")
    known = empty.rename(columns={"n": "x"}).drop_duplicates("incident_id").set_index("incident_id")
    joined = empty.join(known, on="incident_id")  # both sides empty, as fact_tables.incident_link_facts
    assert joined.empty and list(joined.columns) == ["incident_id", "n", "x"]
    con.execute("SELECT incident_id, n FROM t")
    assert empty.dtypes.equals(T.normalise_frame(S._df(con), ["VARCHAR", "BIGINT"], None).dtypes)
