"""MongoDB warehouse: the same Storage semantics as DuckDB on the same inputs, atomic partition writes
(also when the writer dies), Gold in time-series collections, and the real-MongoDB guards.

Runs against SecantusDB (replica set and standalone) and, when MONGODB_URI is set, a real MongoDB.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.loaders import load_quarantine, load_silver
from devmetrics_assets.storage.mongo import HEADS, MongoWarehouse
from devmetrics_assets.storage.mongo_guards import (
    STANDALONE,
    MongoDeploymentError,
    guard_transaction_target,
    is_time_series,
    transaction,
    watch_collection,
)
from devmetrics_assets.storage.selection import (
    describe_storage,
    open_storage,
    storage_kind,
    storage_resources,
)
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse
from devmetrics_assets_tests.storage.test_warehouse import (
    all_dtypes_frame,
    bronze_rows,
    days_frame,
    q_rows,
)

pytestmark = pytest.mark.mongo


@pytest.fixture
def mongo(mongo_uri, fresh_database) -> MongoWarehouse:
    return MongoWarehouse(mongo_uri, fresh_database(mongo_uri))


@pytest.fixture
def pair(tmp_path, mongo) -> tuple[Warehouse, MongoWarehouse]:
    return Warehouse(tmp_path / "wh.duckdb"), mongo


def both(pair, fn):
    """fn applied to DuckDB and MongoDB; each result or the exception type it raised."""
    out = []
    for wh in pair:
        try:
            out.append(fn(wh))
        except Exception as exc:  # noqa: BLE001 - compared below
            out.append(type(exc))
    return out


def assert_same(results, sort: list[str] | None = None) -> None:
    duck, mongo = results
    if isinstance(duck, pd.DataFrame):
        if sort:
            duck = duck.sort_values(sort, ignore_index=True)
            mongo = mongo.sort_values(sort, ignore_index=True)
        pd.testing.assert_frame_equal(mongo.reset_index(drop=True), duck.reset_index(drop=True))
    else:
        assert mongo == duck


def gold_frame(day: str, tag: float = 1.0) -> pd.DataFrame:
    scopes = [("org", "acme"), ("repo", "acme/api"), ("team", "payments")]
    return pd.DataFrame({
        "period": "day",
        "period_start": pd.Timestamp(day).as_unit("us"),
        "scope_type": [s[0] for s in scopes],
        "scope": [s[1] for s in scopes],
        "deployments": np.array([3, 2, 1], dtype="int64"),
        "change_failure_rate": [0.5 * tag, np.nan, 0.25],
        "lead_time_median_h": [1.5, 2.5, np.nan],
        "deployment_frequency_band": pd.array(["elite", None, "high"], dtype="str"),
    })


# ---- the pure parts: visibility of versioned writes, the codec ------------------------------------
def test_newest_segment_wins_and_fully_hidden_writes_are_collectable():
    from devmetrics_assets.storage.mongo_versions import collectable, pieces_filter, visible_pieces

    d = [datetime(2025, 1, i) for i in range(1, 8)]
    segments = [
        {"id": "a", "start": d[0], "end": d[6], "at": d[0]},  # a week
        {"id": "b", "start": d[2], "end": d[3], "at": d[1]},  # one day inside it
        {"id": "c", "start": d[0], "end": d[2], "at": d[2]},  # the first two days
        {"id": "d", "start": d[2], "end": d[3], "at": d[3]},  # the same day as b again
    ]
    assert visible_pieces(segments, None, None) == [
        ("d", d[2], d[3]), ("c", d[0], d[2]), ("a", d[3], d[6])]
    assert visible_pieces(segments, d[1], d[4]) == [("d", d[2], d[3]), ("c", d[1], d[2]), ("a", d[3], d[4])]
    assert pieces_filter([("d", d[2], d[3])], "_v", "event_day") == {
        "_v": "d", "event_day": {"$gte": d[2], "$lt": d[3]}}
    assert pieces_filter([], "_v", "event_day") is None
    assert collectable(segments, d[3], grace_seconds=0) == ["b"]  # a is only partly hidden
    assert collectable(segments, d[3], grace_seconds=3600) == []  # d is too recent
    assert collectable([*segments, {"id": "e", "start": None, "end": None, "at": d[4]}], d[5], 0) == \
        ["a", "b", "c", "d"]


def test_codec_keeps_microseconds_beside_millisecond_dates():
    from devmetrics_assets.storage import mongo_codec as C

    df = all_dtypes_frame()
    types, hints, new = C.plan_schema(df, {}, {})
    assert new == list(df.columns) and types["created_at"] == "TIMESTAMPTZ"
    docs = C.encode_frame(df, types, extra={"_v": "w"})
    assert docs[0]["created_at"] == datetime(2025, 3, 4, 10, 0, 0, 123000)
    assert docs[0]["_us"] == {"created_at": 456} and "_us" not in docs[2]
    assert docs[1]["pr_number"] is None and docs[0]["maybe"] is True and docs[1]["rate"] is None
    pd.testing.assert_frame_equal(C.decode_documents(docs, list(df.columns), types, hints), df)


# ---- identical semantics ------------------------------------------------------------------------
def test_round_trip_of_every_dtype_is_identical_to_duckdb(pair):
    df = all_dtypes_frame()
    window = ("2025-03-04", "2025-03-05")
    written = both(pair, lambda w: w.replace_partition("silver_x", df, "event_day", *window))
    assert written == [3, 3]
    got = both(pair, lambda w: w.read_window("silver_x", "event_day", "2025-03-04", "2025-03-05"))
    assert_same(got)
    pd.testing.assert_frame_equal(got[1], df)  # microseconds survive BSON's milliseconds
    empty = all_dtypes_frame().iloc[0:0]
    both(pair, lambda w: w.replace_partition("silver_e", empty, "event_day", "2025-03-04", "2025-03-05"))
    got = both(pair, lambda w: w.read_window("silver_e", "event_day", None, None))
    assert_same(got)
    pd.testing.assert_series_equal(got[1].dtypes, empty.dtypes)


def test_partition_replacement_sequence_is_identical_to_duckdb(pair):
    steps = [
        lambda w: w.replace_partition("t", days_frame(["2025-01-01", "2025-01-02", "2025-01-03"]),
                                      "event_day", "2025-01-01", "2025-01-04"),
        lambda w: w.replace_partition("t", days_frame(["2025-01-02", "2025-01-02"], tag="v2"),
                                      "event_day", "2025-01-02", "2025-01-03"),
        lambda w: w.replace_partition("t", days_frame(["2025-01-02", "2025-01-02"], tag="v2"),
                                      "event_day", "2025-01-02", "2025-01-03"),  # idempotent
        lambda w: w.replace_partition("t", days_frame(["2025-01-03"], tag="v3").astype({"value": "Int64"}),
                                      "event_day", datetime(2025, 1, 3, tzinfo=UTC),
                                      datetime(2025, 1, 4, tzinfo=UTC)),
        lambda w: w.replace_partition(
            "t", days_frame(["2025-01-05"], tag="v4").drop(columns=["value"])
            .assign(score=pd.array([7], dtype="Int64")), "event_day", "2025-01-05", "2025-01-06"),
        lambda w: w.replace_partition("t", days_frame(["2025-01-09"], tag="bad"),  # outside the window
                                      "event_day", "2025-01-05", "2025-01-06"),
        lambda w: w.replace_partition("t", days_frame([]), "event_day", "2025-01-01", "2025-01-02"),
        lambda w: w.replace_partition("t", pd.DataFrame(), "event_day", "2025-01-05", "2025-01-06"),
        lambda w: w.replace_partition("nothing", pd.DataFrame(), "event_day", "2025-01-01", "2025-01-02"),
    ]
    for step in steps:
        assert_same(both(pair, step))
        assert_same(both(pair, lambda w: w.read_window("t", "event_day", None, None)), sort=["row_id"])
    for lo, hi in [("2025-01-02", "2025-01-04"), (None, "2025-01-03"), ("2025-01-03", None)]:
        assert_same(both(pair, lambda w, lo=lo, hi=hi: w.read_window("t", "event_day", lo, hi)),
                    sort=["row_id"])
    assert_same(both(pair, lambda w: w.read_table("t", columns=["row_id", "score"])), sort=["row_id"])


def test_timestamptz_partition_column_is_identical_to_duckdb(pair):
    df = pd.DataFrame({"received_at": pd.to_datetime(["2025-01-01T23:30Z", "2025-01-02T00:00Z"], utc=True)})
    df = df.astype("datetime64[us, UTC]")
    both(pair, lambda w: w.replace_partition("ts", df, "received_at", "2025-01-01", "2025-01-03"))
    assert_same(both(pair, lambda w: w.read_window("ts", "received_at", "2025-01-01", "2025-01-02")))
    both(pair, lambda w: w.replace_partition("ts", df.iloc[0:0], "received_at", "2025-01-02", "2025-01-03"))
    assert_same(both(pair, lambda w: w.read_window("ts", "received_at", None, None)))


def test_replace_table_and_a_failing_write_are_identical_to_duckdb(pair):
    df = pd.DataFrame({"k": ["a", "b"], "n": [1, 2]})
    assert both(pair, lambda w: w.replace_table("dim", df)) == [2, 2]
    both(pair, lambda w: w.replace_table("dim", df.iloc[:1].assign(extra=True)))
    broken = pd.DataFrame({"k": ["z"], "n": [1], "event_day": ["not a date"]})
    duck_error, mongo_error = both(pair, lambda w: w.replace_table("dim", broken))
    assert issubclass(duck_error, Exception) and issubclass(mongo_error, ValueError)
    assert_same(both(pair, lambda w: w.read_table("dim")))
    both(pair, lambda w: w.replace_partition("t", days_frame(["2025-01-01", "2025-01-02"]), "event_day",
                                             "2025-01-01", "2025-01-03"))
    bad = days_frame(["2025-01-02"], tag="v2").astype({"value": "str"}).assign(value="x", extra="new")
    duck_error, mongo_error = both(pair, lambda w: w.replace_partition("t", bad, "event_day", "2025-01-02",
                                                                       "2025-01-03"))
    assert issubclass(duck_error, Exception) and issubclass(mongo_error, ValueError)
    assert_same(both(pair, lambda w: w.read_window("t", "event_day", None, None)), sort=["row_id"])


def test_bronze_append_is_identical_to_duckdb(pair):
    rows = bronze_rows(["c", "a", "b", "a"], ["2025-01-03T00:00:00.000001Z", "2025-01-02T00:00:00.000000Z",
                                              "2025-01-01T12:00:00.123456Z", "2025-01-05T00:00:00.000000Z"])
    assert both(pair, lambda w: w.max_load_seq()) == [0, 0]
    assert both(pair, lambda w: w.append_bronze(rows)) == [3, 3]
    assert both(pair, lambda w: w.append_bronze(rows)) == [0, 0]
    more = pd.concat([bronze_rows(["d"], ["2025-01-01T00:00:00Z"]),
                      bronze_rows(["a"], ["2025-01-09T00:00:00Z"], "other").assign(load_batch_id="batch-2")])
    assert both(pair, lambda w: w.append_bronze(more)) == [2, 2]
    assert both(pair, lambda w: w.max_load_seq()) == [5, 5]
    stored = both(pair, lambda w: w.read_window(T.BRONZE_TABLE, "received_day", None, None)
                  .drop(columns=["loaded_at"]))
    assert_same(stored, sort=["load_seq"])
    assert_same(both(pair, lambda w: w.read_bronze(["push"], "2025-01-08", "2024-12-31")))
    assert_same(both(pair, lambda w: w.read_bronze([("github", "push"), "issues"], "2025-01-08")))
    assert_same(both(pair, lambda w: w.read_bronze([("gitlab", "push")], "2025-01-08")))  # empty
    assert_same(both(pair, lambda w: w.read_bronze([], "2025-01-08")))
    assert both(pair, lambda w: w.bronze_event_days("batch-2")) == [[date(2025, 1, 7)]] * 2
    bad = bronze_rows(["x", "y"], ["2025-01-01T00:00:00Z"] * 2).assign(signature_status="bogus")
    duck_error, mongo_error = both(pair, lambda w: w.append_bronze(bad))
    assert issubclass(duck_error, Exception) and issubclass(mongo_error, ValueError)
    parsed = bronze_rows(["z"], ["2025-01-01T00:00:00Z"]).assign(body=[{"parsed": 1}])
    assert both(pair, lambda w: w.append_bronze(parsed)) == [ValueError, ValueError]
    assert both(pair, lambda w: w.max_load_seq()) == [5, 5]


def test_pending_ledger_hashes_and_verification_memory_are_identical_to_duckdb(pair):
    rows = bronze_rows(["a", "b"], ["2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"])
    assert both(pair, lambda w: w.append_bronze(rows)) == [2, 2]
    assert both(pair, lambda w: w.append_bronze(rows)) == [0, 0]  # a replay adds no pending work
    ledgers = both(pair, lambda w: w.pending_event_days().drop(columns="recorded_at"))
    assert_same(ledgers, sort=["event_day"])
    assert len(ledgers[0]) >= 1
    assert both(pair, lambda w: w.clear_pending(w.pending_event_days().iloc[:1])) == [1, 1]
    assert_same(both(pair, lambda w: w.pending_event_days().drop(columns="recorded_at")), sort=["event_day"])
    ids = rows["delivery_id"].tolist()
    assert_same(both(pair, lambda w: w.stored_payload_hashes(rows["source"].iloc[0], [*ids, "zzz"])))
    assert both(pair, lambda w: w.was_verified(rows["source"].iloc[0])) == [
        bool((rows["signature_status"] == "verified").any())] * 2
    assert both(pair, lambda w: w.was_verified("never-seen")) == [False, False]


def test_quarantine_upsert_is_identical_to_duckdb(pair):
    def scenario(w):
        w.upsert_quarantine(q_rows(["d1", "d2", "d3"], ["2025-01-01", "2025-01-01", "2025-01-02"]))
        w.upsert_quarantine(q_rows(["x"], ["2025-01-01"], asset="silver_incidents"))
        w.upsert_quarantine(q_rows(["d1"], ["2025-01-01"], seen="2025-02-05T10:00:00.123456Z"),
                            replace_asset="silver_changes", start="2025-01-01", end="2025-01-02")
        w.upsert_quarantine(q_rows(["n"], [None]))
        return w.read_window(T.QUARANTINE_TABLE, "partition_day", None, None)

    assert_same(both(pair, scenario), sort=["record_ref"])
    assert_same(both(pair, lambda w: w.read_window(T.QUARANTINE_TABLE, "partition_day", "2025-01-01",
                                                   "2025-01-02")), sort=["record_ref"])
    assert_same(both(pair, lambda w: load_quarantine(layer="silver", warehouse=w)))
    assert both(pair, lambda w: w.upsert_quarantine(q_rows(["d1"], ["2025-01-01"]),
                                                    replace_asset="other", start="2025-01-01",
                                                    end="2025-01-02")) == [ValueError, ValueError]


def test_errors_are_identical_to_duckdb(pair):
    for fn in (
        lambda w: w.read_window("silver_changes", "event_day", "2025-01-01", "2025-01-02"),
        lambda w: w.read_table("silver_changes"),
        lambda w: w.table_exists("silver_changes"),
        lambda w: w.replace_partition(T.BRONZE_TABLE, days_frame(["2025-01-01"]), "event_day",
                                      "2025-01-01", "2025-01-02"),
        lambda w: w.replace_table("t; DROP TABLE x", pd.DataFrame({"a": [1]})),
    ):
        assert_same(both(pair, fn))
    both(pair, lambda w: w.replace_partition("t", days_frame(["2025-01-01"]), "event_day", "2025-01-01",
                                             "2025-01-02"))
    assert both(pair, lambda w: w.read_window("t", "event_day", None, None, columns=["nope"])) == \
        [ValueError, ValueError]
    assert both(pair, lambda w: w.table_exists("t")) == [True, True]
    with pytest.raises(NothingMaterializedError, match="devmetrics demo"):
        load_silver("changes", warehouse=pair[1])


# ---- Gold: time-series collections, versioned replacement ---------------------------------------
def test_gold_is_a_time_series_collection_replaced_by_versions(pair):
    duck, mongo = pair
    mongo.gc_grace_seconds = 0
    for tag in (1.0, 2.0, 3.0):
        both(pair, lambda w, tag=tag: w.replace_partition(
            "gold_dora_daily", pd.concat([gold_frame("2025-01-01", tag), gold_frame("2025-01-02", tag)]),
            "period_start", "2025-01-01", "2025-01-03"))
    both(pair, lambda w: w.replace_partition("gold_dora_daily", gold_frame("2025-01-02", 9.0),
                                             "period_start", "2025-01-02", "2025-01-03"))
    assert_same(both(pair, lambda w: w.read_window("gold_dora_daily", "period_start", None, None)),
                sort=["period_start", "scope_type"])
    info = next(mongo.db.list_collections(filter={"name": "gold_dora_daily"}))
    assert info["options"]["timeseries"] == {"timeField": "period_start", "metaField": "meta",
                                             "granularity": "hours"}
    assert is_time_series(mongo.db, "gold_dora_daily")
    doc = mongo.db["gold_dora_daily"].find_one({"meta.scope_type": "repo"})
    assert isinstance(doc["period_start"], datetime)
    assert set(doc["meta"]) == {"scope_type", "scope", "period", "v"}
    # the three full rewrites were collected (metaField-only deletes); the last window write and the
    # one it half-shadows stay: 2 days x 3 scopes + 1 day x 3 scopes
    assert mongo.db["gold_dora_daily"].count_documents({}) == 9
    assert len(mongo.db[HEADS].find_one({"_id": "gold_dora_daily"})["segments"]) == 2


# ---- atomicity ----------------------------------------------------------------------------------
def changes_frame(n: int, tag: str, day: str = "2025-01-02") -> pd.DataFrame:
    return pd.DataFrame({"change_id": [f"{tag}-{i}" for i in range(n)], "repo": "acme/api",
                         "event_day": pd.Timestamp(day).as_unit("us")})


@pytest.mark.parametrize("table", ["silver_changes", "gold_dora_daily"])
def test_exception_mid_write_leaves_the_previous_partition_and_nothing_staged(mongo, table):
    column = "period_start" if table.startswith("gold") else "event_day"
    frame = gold_frame("2025-01-02") if table.startswith("gold") else changes_frame(6, "old")
    mongo.replace_partition(table, frame, column, "2025-01-02", "2025-01-03")
    before = mongo.read_window(table, column, None, None)
    mongo.chunk_size = 1

    def crash(written: int) -> None:
        if written >= 2:
            raise RuntimeError("simulated crash mid-write")

    mongo.on_chunk_written = crash
    new = (gold_frame("2025-01-02", 5.0) if table.startswith("gold")
           else changes_frame(6, "new"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        mongo.replace_partition(table, new, column, "2025-01-02", "2025-01-03")
    pd.testing.assert_frame_equal(mongo.read_window(table, column, None, None), before)
    assert mongo.db[table].count_documents({}) == len(before)  # staged rows aborted or discarded


KILLED_WRITER = """
import sys, time
import pandas as pd
from devmetrics_assets.storage.mongo import MongoWarehouse
wh = MongoWarehouse(sys.argv[1], sys.argv[2], use_transactions=False, chunk_size=20)
def slow(n):
    print("staged", n, flush=True)
    time.sleep(60)
wh.on_chunk_written = slow
frame = pd.DataFrame({"change_id": [f"new-{i}" for i in range(200)], "repo": "acme/api",
                      "event_day": pd.Timestamp("2025-01-02").as_unit("us")})
wh.replace_partition("silver_changes", frame, "event_day", "2025-01-02", "2025-01-03")
"""


def test_killed_writer_process_leaves_no_partial_partition_visible(mongo):
    mongo.replace_partition("silver_changes", changes_frame(5, "old"), "event_day", "2025-01-02",
                            "2025-01-03")
    with subprocess.Popen([sys.executable, "-c", KILLED_WRITER, mongo.uri, mongo.database],
                          stdout=subprocess.PIPE, text=True) as writer:
        try:
            assert writer.stdout.readline().startswith("staged 20")
        finally:
            writer.kill()  # SIGKILL: no except/finally runs in the writer
            writer.wait()
    assert mongo.db["silver_changes"].count_documents({}) == 25  # 20 staged rows exist ...
    seen = load_silver("changes", "2025-01-01", "2025-01-31", warehouse=mongo)
    assert sorted(seen["change_id"]) == [f"old-{i}" for i in range(5)]  # ... and are invisible
    mongo.stale_write_seconds = 0
    mongo.collect_garbage("silver_changes")
    assert mongo.db["silver_changes"].count_documents({}) == 5


def test_concurrent_reader_sees_the_old_or_the_new_partition_never_a_mix(mongo):
    mongo.replace_partition("silver_changes", changes_frame(30, "v0"), "event_day", "2025-01-02",
                            "2025-01-03")
    mongo.chunk_size = 5
    mongo.on_chunk_written = lambda n: time.sleep(0.02)
    seen: list[frozenset[str]] = []
    done = threading.Event()
    reader = MongoWarehouse(mongo.uri, mongo.database)

    def read() -> None:
        while not done.is_set():
            seen.append(frozenset(reader.read_window("silver_changes", "event_day", None, None)["change_id"]))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for v in range(1, 4):
            mongo.replace_partition("silver_changes", changes_frame(30, f"v{v}"), "event_day",
                                    "2025-01-02", "2025-01-03")
    finally:
        done.set()
        thread.join()
    versions = {frozenset(f"v{v}-{i}" for i in range(30)) for v in range(4)}
    assert len(seen) > 5 and set(seen) <= versions


# ---- guards -------------------------------------------------------------------------------------
def test_standalone_refuses_transactions_and_change_streams(secantus_standalone_uri, fresh_database):
    wh = MongoWarehouse(secantus_standalone_uri, fresh_database(secantus_standalone_uri))
    assert wh.kind == STANDALONE and not wh.transactional()
    with pytest.raises(MongoDeploymentError, match="replica set"):
        with transaction(wh.client, wh.kind, wh.location):
            pass  # SecantusDB itself would accept it; real mongod refuses, so do we
    with pytest.raises(MongoDeploymentError, match="Change streams need a replica set"):
        watch_collection(wh.db["bronze_deliveries"], wh.kind, wh.location)
    forced = MongoWarehouse(secantus_standalone_uri, wh.database, use_transactions=True)
    with pytest.raises(MongoDeploymentError, match="transactions"):
        forced.replace_partition("silver_changes", changes_frame(1, "a"), "event_day", "2025-01-02",
                                 "2025-01-03")
    wh.replace_partition("silver_changes", changes_frame(2, "a"), "event_day", "2025-01-02", "2025-01-03")
    assert len(wh.read_table("silver_changes")) == 2  # the write-then-swap path works there


def test_time_series_collections_refuse_change_streams_and_transactions(replica_set_uri, fresh_database):
    wh = MongoWarehouse(replica_set_uri, fresh_database(replica_set_uri))
    wh.replace_partition("gold_dora_daily", gold_frame("2025-01-02"), "period_start", "2025-01-02",
                         "2025-01-03")
    with pytest.raises(MongoDeploymentError, match="time-series"):
        watch_collection(wh.db["gold_dora_daily"], wh.kind, wh.location)
    with pytest.raises(MongoDeploymentError, match="inside a transaction"):
        guard_transaction_target(wh.db, "gold_dora_daily")
    with watch_collection(wh.db["bronze_deliveries"], wh.kind, wh.location) as stream:
        assert stream.try_next() is None


# ---- selection ----------------------------------------------------------------------------------
def test_storage_is_chosen_by_mongodb_uri(tmp_path, secantus_rs_uri):
    from devmetrics_assets.config import Settings
    from devmetrics_assets.storage.io_manager import (
        DuckDBPartitionIOManager,
        MongoPartitionIOManager,
        MongoWarehouseResource,
    )

    settings = Settings(home=tmp_path, warehouse_path=tmp_path / "w.duckdb", landing_dir=tmp_path,
                        rules_path=tmp_path / "r.yaml", partition_start="2025-01-01")
    assert storage_kind({}) == "duckdb" and storage_kind({"MONGODB_URI": " "}) == "duckdb"
    assert isinstance(open_storage(settings, {}), Warehouse)
    assert isinstance(storage_resources(settings, {})["io_manager"], DuckDBPartitionIOManager)
    env = {"MONGODB_URI": secantus_rs_uri, "MONGODB_DATABASE": "dm_selected"}
    opened = open_storage(settings, env)
    assert isinstance(opened, MongoWarehouse) and opened.database == "dm_selected"
    resources = storage_resources(settings, env)
    assert isinstance(resources["io_manager"], MongoPartitionIOManager)
    assert isinstance(resources["warehouse"], MongoWarehouseResource)
    secret = {"MONGODB_URI": "mongodb://alice:s3cret@db.example:27017/?replicaSet=rs0"}
    where = describe_storage(settings, secret)
    assert "s3cret" not in where and "alice" not in where and "db.example" in where


# ---- the whole graph --------------------------------------------------------------------------------
def materialise_sample(root, org, env: dict[str, str]):
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import materialise_days
    from devmetrics_assets_tests.conftest import land_sample, settings_in

    settings = settings_in(root)
    days = land_sample(org, settings)
    defs = build_definitions(settings)
    defs = dg.Definitions(assets=list(defs.assets), jobs=list(defs.jobs),
                          resources={**defs.resources, **storage_resources(settings, env)})
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
        for key, value in env.items():
            mp.setenv(key, value)  # the Mongo resources read MONGODB_URI through dg.EnvVar
        assert all(r.success for r in materialise_days(defs, instance, days))
    return defs


@pytest.fixture(scope="module", params=["secantus", "real"])
def graph_pair(request, tmp_path_factory):
    """The tiny sample org (2 repos x 20 days) materialised once into DuckDB and once into MongoDB."""
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
    from devmetrics_assets.storage.mongo import shared_client
    from devmetrics_assets_tests.mongo_support import real_mongodb_uri

    uri = real_mongodb_uri() if request.param == "real" else request.getfixturevalue("secantus_rs_uri")
    root = tmp_path_factory.mktemp("graph")
    database = f"devmetrics_test_graph_{root.name}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
        org = generate_sample_org(root / "org", repos=2, days=20, start=date(2025, 1, 1), seed=5)
        materialise_sample(root / "duck", org, {})
        env = {"MONGODB_URI": uri, "MONGODB_DATABASE": database}
        defs = materialise_sample(root / "mongo", org, env)
        assert not (root / "mongo" / "warehouse.duckdb").exists()  # nothing went to DuckDB
        yield Warehouse(root / "duck" / "warehouse.duckdb"), MongoWarehouse(uri, database), defs, env
    shared_client(uri).drop_database(database)


@pytest.mark.slow
def test_whole_graph_on_mongodb_gives_gold_identical_to_duckdb(graph_pair, monkeypatch):
    from devmetrics_assets.storage.loaders import load_gold

    duck, mongo, _, env = graph_pair
    for grain in ("day", "week", "month"):
        got = [load_gold(grain, scope_type=None, warehouse=w) for w in (duck, mongo)]
        assert len(got[0]) > 0 and got[0]["deployments"].sum() > 0
        assert_same(got)
    keys = {"changes": "change_id", "deployments": "deployment_id", "incidents": "incident_id"}
    for entity, key in keys.items():
        assert_same([load_silver(entity, warehouse=w) for w in (duck, mongo)], sort=[key])
    stamps = ["first_seen_at", "last_seen_at"]
    assert_same([load_quarantine(warehouse=w).drop(columns=stamps) for w in (duck, mongo)],
                sort=["quarantine_id"])
    assert_same([w.read_window(T.BRONZE_TABLE, "received_day", None, None)
                 .drop(columns=["load_batch_id", "loaded_at"]) for w in (duck, mongo)], sort=["delivery_id"])
    assert is_time_series(mongo.db, "gold_dora_weekly")
    for key, value in env.items():  # notebooks: the configured warehouse by default
        monkeypatch.setenv(key, value)
    assert_same([load_gold("month", scope_type="org", warehouse=duck), load_gold("month", scope_type="org")])


@pytest.mark.slow
def test_quarantine_summary_asset_on_mongodb(graph_pair, monkeypatch):
    import dagster as dg

    from devmetrics_assets.defs.quarantine import summarise_quarantine

    duck, mongo, defs, env = graph_pair
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("quarantine_job").execute_in_process(instance=instance)
    assert result.success
    on_duck, on_mongo = summarise_quarantine(duck), summarise_quarantine(mongo)
    assert on_duck.total > 0 and on_mongo.total == on_duck.total
    assert on_mongo.by_layer == on_duck.by_layer
