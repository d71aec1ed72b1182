"""The aggregate reads of the Storage interface on a real DuckDB file and on SecantusDB (MongoDB wire
protocol): the same small fixture written to each, the same hand-computed answers from both."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.warehouse import Warehouse


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def stamps(texts) -> pd.Series:
    return pd.Series(pd.to_datetime(list(texts), utc=True, format="ISO8601")).astype("datetime64[us, UTC]")


# (delivery_id, source, provider, event_type, received_at, event_at, body)
DELIVERIES = [
    ("a1", "alpha", "github", "push", "2025-03-01T10:00:00.000001Z", "2025-03-01T09:00Z",
     {"ref": "main", "repo": {"name": "x"}}),
    ("a2", "alpha", "github", "push", "2025-03-01T12:00Z", "2025-03-01T11:00Z", {"ref": "dev"}),
    ("a3", "alpha", "github", "pull_request", "2025-03-02T08:00Z", "2025-02-28T08:00Z",
     {"action": "closed", "number": 1}),
    # a4 and a5 share a millisecond: only the stored microseconds tell which is newest.
    ("a4", "alpha", "gitlab", "deployment", "2025-03-03T23:59:59.999999Z", "2025-03-03T00:00Z", "not json"),
    ("a5", "alpha", "github", "push", "2025-03-03T23:59:59.999000Z", "2025-03-03T00:00Z", {"ref": "x"}),
    ("b1", "beta", "github", "push", "2025-03-05T00:00Z", "2025-03-05T00:00Z", {"ref": "main"}),
    ("b2", "beta", "github", "deployment", "2025-03-02T00:00Z", "2025-03-02T00:00Z", {"sha": "s"}),
]


def bronze() -> pd.DataFrame:
    ids, sources, providers, types, received, event_at, bodies = zip(*DELIVERIES, strict=True)
    return pd.DataFrame({
        "source": sources, "provider": providers, "delivery_id": ids, "event_type": types,
        "received_at": stamps(received),
        "event_at": stamps(event_at),
        "headers": "{}",
        "body": [b if isinstance(b, str) else json.dumps(b) for b in bodies],
        "payload_sha256": "0" * 64, "signature_status": "verified", "load_batch_id": "batch-1",
    })


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def silver_changes() -> pd.DataFrame:
    return pd.DataFrame({"change_id": ["c1", "c2"], "repo": "org/api",
                         "event_day": pd.to_datetime(["2025-03-01", "2025-03-10"]).astype("datetime64[us]")})


def silver_deployments() -> pd.DataFrame:
    return pd.DataFrame({
        "deployment_id": ["d1", "d2", "d3", "d4"],
        "is_production": [True, True, False, True],
        "final_status": ["success", "failure", "success", "success"],
        "commit_shas": ["aaa,bbb", "ccc", "ccc", "ddd"],
        "event_day": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"])
        .astype("datetime64[us]"),
    })


# (quarantine_id, layer, asset, record_ref, partition_day, reason, first_seen_at, last_seen_at)
QUARANTINE = [
    ("q1", "silver", "silver_changes", "r1", "2025-03-01", "missing merged_at",
     "2025-03-01T00:00:00.000001Z", "2025-03-05T10:00:00.000002Z"),
    ("q2", "silver", "silver_changes", "r2", "2025-03-01", "missing merged_at",
     "2025-03-02T00:00Z", "2025-03-05T10:00:00.000002Z"),
    ("q3", "silver", "silver_changes", "r3", "2025-03-02", "missing merged_at",
     "2025-03-03T00:00Z", "2025-03-04T00:00Z"),
    ("q4", "bronze", "bronze_github", "file:2025-03-04.jsonl:3", None, "invalid JSON: line 3",
     "2025-03-06T00:00:00.000500Z", "2025-03-06T00:00:00.000500Z"),
    ("q5", "bronze", "bronze_github", "d9", "2025-03-04", "Signature_Mismatch",
     "2025-03-01T00:00Z", "2025-03-01T00:00Z"),
    ("q6", "silver", "silver_incidents", "i1", "2025-03-03", "bad_sha\nsecond line",
     "2025-03-02T00:00Z", "2025-03-02T00:00Z"),
]


def quarantine() -> pd.DataFrame:
    qid, layer, asset, ref, pday, reason, first, last = zip(*QUARANTINE, strict=True)
    return pd.DataFrame({
        "quarantine_id": qid, "layer": layer, "asset": asset, "source": "sample", "record_ref": ref,
        "partition_day": pd.to_datetime(list(pday)).astype("datetime64[us]"), "reason": reason,
        "record": [f"raw {q}" for q in qid],
        "first_seen_at": stamps(first),
        "last_seen_at": stamps(last),
    })


def fill(store: Storage) -> Storage:
    store.append_bronze(bronze())
    store.replace_partition("silver_changes", silver_changes(), "event_day", "2025-03-01", "2025-03-11")
    store.replace_partition("silver_deployments", silver_deployments(), "event_day",
                            "2025-03-01", "2025-03-05")
    store.upsert_quarantine(quarantine())
    return store


def _duckdb(tmp_path) -> Storage:
    return Warehouse(tmp_path / "wh.duckdb")


def _mongodb(request: pytest.FixtureRequest) -> Storage:
    from devmetrics_assets.storage.mongo import MongoWarehouse

    uri = request.getfixturevalue("secantus_rs_uri")
    return MongoWarehouse(uri, request.getfixturevalue("fresh_database")(uri))


BACKENDS = ["duckdb", pytest.param("mongodb", marks=pytest.mark.mongo)]


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path) -> Storage:
    return _duckdb(tmp_path) if request.param == "duckdb" else _mongodb(request)


@pytest.fixture
def store(empty_store: Storage) -> Storage:
    return fill(empty_store)


def counts(pairs: list[tuple[str, int]]) -> pd.DataFrame:
    return pd.DataFrame({"received_day": pd.to_datetime([d for d, _ in pairs]).astype("datetime64[us]"),
                         "deliveries": np.array([n for _, n in pairs], dtype="int64")})


def test_bronze_daily_counts(store):
    pd.testing.assert_frame_equal(store.bronze_daily_counts("alpha", day("2025-03-01"), day("2025-03-03")),
                                  counts([("2025-03-01", 2), ("2025-03-02", 1)]))
    # A bound inside a day means that whole UTC day.
    got = store.bronze_daily_counts("alpha", utc("2025-03-01T18:00Z"), day("2025-03-10"))
    pd.testing.assert_frame_equal(got, counts([("2025-03-01", 2), ("2025-03-02", 1), ("2025-03-03", 2)]))
    pd.testing.assert_frame_equal(store.bronze_daily_counts("nobody", day("2025-03-01"), day("2025-03-10")),
                                  counts([]))


def shapes(rows: list[tuple[str, str, str | None, int, int]]) -> pd.DataFrame:
    kinds, days, paths, ns, totals = zip(*rows, strict=True)
    return pd.DataFrame({"event_kind": list(kinds),
                         "received_day": pd.to_datetime(list(days)).astype("datetime64[us]"),
                         "path": pd.Series(list(paths), dtype="object"), "n": np.array(ns, dtype="int64"),
                         "deliveries": np.array(totals, dtype="int64")})


def test_bronze_shapes(store):
    got = store.bronze_shapes("alpha", day("2025-03-01"), day("2025-03-02"))
    pd.testing.assert_frame_equal(got, shapes([("push", "2025-03-01", "ref", 2, 2),
                                               ("push", "2025-03-01", "repo", 1, 2),
                                               ("push", "2025-03-01", "repo.name", 1, 2)]))
    # A body that is not a JSON object counts as a delivery without paths; the action names the kind.
    got = store.bronze_shapes("alpha", day("2025-03-02"), day("2025-03-04"))
    pd.testing.assert_frame_equal(got, shapes([("deployment", "2025-03-03", None, 0, 1),
                                               ("pull_request:closed", "2025-03-02", "action", 1, 1),
                                               ("pull_request:closed", "2025-03-02", "number", 1, 1),
                                               ("push", "2025-03-03", "ref", 1, 1)]))
    assert store.bronze_shapes("nobody", day("2025-03-01"), day("2025-03-10")).empty


def test_newest_received_at(store):
    assert store.newest_received_at("alpha") == utc("2025-03-03T23:59:59.999999Z")
    assert store.newest_received_at("beta") == utc("2025-03-05T00:00Z")
    assert store.newest_received_at("nobody") is None


def test_count_bronze_by_event_day_and_kind(store):
    start, end = day("2025-03-01"), day("2025-03-04")
    assert store.count_bronze(start, end) == 5  # a1 a2 a4 a5 b2 (a3 happened 02-28, b1 on 03-05)
    assert store.count_bronze(start, end, [("github", "push")]) == 3
    assert store.count_bronze(start, end, [("gitlab", "deployment"), ("github", "deployment")]) == 2
    assert store.count_bronze(start, end, [("gitlab", "push")]) == 0
    assert store.count_bronze(start, end, []) == 0


def test_values_present(store):
    assert store.values_present("silver_changes", "change_id", ["c1", "c2", "c9"]) == {"c1", "c2"}
    assert store.values_present("silver_changes", "change_id", []) == set()
    assert store.values_present("silver_incidents", "incident_id", ["i1"]) == set()  # never written
    assert store.values_present(T.BRONZE_TABLE, "delivery_id", ["a1", "zz"]) == {"a1"}


def test_shipping_deployments(store):
    got = store.shipping_deployments(["bbb", "ccc"])  # ccc: only a failed and a non-production deployment
    assert got["deployment_id"].tolist() == ["d1"]
    assert list(got.columns) == ["deployment_id", "is_production", "final_status", "commit_shas"]
    assert got.iloc[0].tolist() == ["d1", True, "success", "aaa,bbb"]
    assert store.shipping_deployments(["ddd", "aaa"])["deployment_id"].tolist() == ["d1", "d4"]
    assert store.shipping_deployments(["aa"]).empty  # whole shas only, not prefixes
    assert store.shipping_deployments([]).empty


def test_quarantine_groups(store):
    got = store.quarantine_groups()
    assert got[["layer", "asset", "reason", "rows", "days"]].values.tolist() == [
        ["silver", "silver_changes", "missing merged_at", 3, 2],
        ["bronze", "bronze_github", "Signature_Mismatch", 1, 1],
        ["bronze", "bronze_github", "invalid JSON: line 3", 1, 0],  # no partition day
        ["silver", "silver_incidents", "bad_sha\nsecond line", 1, 1],
    ]
    assert got["first_seen_at"].iloc[0] == utc("2025-03-01T00:00:00.000001Z")
    assert got["last_seen_at"].iloc[0] == utc("2025-03-05T10:00:00.000002Z")
    assert str(got["last_seen_at"].dtype) == "datetime64[us, UTC]" and got["rows"].dtype == "int64"


def test_latest_quarantine(store):
    got = store.latest_quarantine(3)
    assert got["record_ref"].tolist() == ["file:2025-03-04.jsonl:3", "r1", "r2"]  # r1/r2 tie: by id
    assert list(got.columns) == ["layer", "asset", "record_ref", "partition_day", "reason", "record",
                                 "last_seen_at"]
    assert got["last_seen_at"].iloc[0] == utc("2025-03-06T00:00:00.000500Z")
    assert store.latest_quarantine(10)["record_ref"].tolist() == [
        "file:2025-03-04.jsonl:3", "r1", "r2", "r3", "i1", "d9"]


@pytest.mark.parametrize("filters, refs", [
    ({}, ["r1", "r2", "r3", "file:2025-03-04.jsonl:3", "d9", "i1"]),
    ({"layer": "bronze"}, ["file:2025-03-04.jsonl:3", "d9"]),
    ({"reason_like": "MERGED"}, ["r1", "r2", "r3"]),  # a substring, any case
    ({"reason_like": "%mismatch"}, ["d9"]),  # with % a whole-value pattern
    ({"reason_like": "sig%"}, ["d9"]),
    ({"reason_like": "%line"}, ["i1"]),  # % spans the newline; "...: line 3" does not end in "line"
    ({"reason_like": "bad.sha"}, []),  # a dot is literal
    ({"asset": "silver_changes", "reason_like": "merged", "layer": "silver"}, ["r1", "r2", "r3"]),
    ({"asset": "silver_changes", "layer": "bronze"}, []),
])
def test_quarantine_refs(store, filters, refs):
    got = store.quarantine_refs(**filters)
    assert list(got.columns) == ["layer", "asset", "record_ref", "partition_day"]
    assert got["record_ref"].tolist() == refs


def test_read_window_filters(store):
    got = store.read_window("silver_deployments", "event_day", None, None,
                            filters={"final_status": "success"})
    assert sorted(got["deployment_id"]) == ["d1", "d3", "d4"]
    got = store.read_window(T.QUARANTINE_TABLE, "partition_day", day("2025-03-01"), day("2025-03-03"),
                            filters={"layer": "silver", "asset": "silver_changes"})
    assert sorted(got["record_ref"]) == ["r1", "r2", "r3"]


def test_nothing_stored_gives_empty_answers(empty_store):
    s, start, end = empty_store, day("2025-03-01"), day("2025-03-10")
    assert s.bronze_daily_counts("alpha", start, end).empty and s.bronze_shapes("alpha", start, end).empty
    assert s.newest_received_at("alpha") is None and s.count_bronze(start, end) == 0
    assert s.values_present("silver_changes", "change_id", ["c1"]) == set()
    assert s.shipping_deployments(["aaa"]).empty
    assert s.quarantine_groups().empty and s.latest_quarantine(5).empty
    assert s.quarantine_refs(layer="silver").empty
