"""Bronze and quarantine on MongoDB: the same validation, derivations and keys as the DuckDB writer.

The row checks themselves are shared with the DuckDB writer (tables.check_bronze_rows /
check_quarantine_rows); what is here is what MongoDB needs on top, in place of DuckDB's SQL:

- Bronze rows get received_day (UTC day of received_at), event_day (given, else the day of event_at,
  else received_day) and loaded_at (now) like `tables.bronze_select_sql`; duplicates inside a batch
  keep the earliest received_at; pairs already stored are dropped before numbering, and a concurrent
  writer's duplicates are caught by the unique (source, delivery_id) index.
- Quarantine rows are upserts by quarantine_id that keep first_seen_at, like DuckDB's ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from devmetrics_assets.storage import mongo_codec as C
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.frames import TimeLike

DUPLICATE_KEY = 11000
check_bronze_rows = T.check_bronze_rows  # still importable from here; the check is shared with DuckDB


def create_fixed_indexes(db: Database) -> None:
    """Bronze: the dedupe key, what Silver reads by (event day + type), loads and the tail order."""
    bronze = db[T.BRONZE_TABLE]
    bronze.create_index([("source", ASCENDING), ("delivery_id", ASCENDING)], unique=True)
    bronze.create_index([("event_day", ASCENDING), ("event_type", ASCENDING)])
    bronze.create_index([("received_day", ASCENDING)])
    bronze.create_index([("load_batch_id", ASCENDING)])
    # Not unique: a sharded collection can only enforce unique keys prefixed by the shard key
    # (docs/mongodb.md); the counter already hands out disjoint blocks.
    bronze.create_index([("load_seq", ASCENDING)])
    quarantine = db[T.QUARANTINE_TABLE]
    quarantine.create_index([("asset", ASCENDING), ("partition_day", ASCENDING)])
    quarantine.create_index([("partition_day", ASCENDING)])


def _day(series: pd.Series) -> pd.Series:
    """A day column as naive midnights (aware values converted to UTC first)."""
    return C.utc_naive(series).dt.normalize()


def bronze_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Derived days and loaded_at, NOT NULL / allowed-value checks, one row per (source, delivery_id)."""
    frame = rows.drop(columns=["load_seq"], errors="ignore").copy()
    for c in T.BRONZE_COLUMNS:
        if c not in frame.columns and c != "load_seq":
            frame[c] = None
    received_at = pd.to_datetime(frame["received_at"], utc=True).astype("datetime64[us, UTC]")
    event_at = pd.to_datetime(frame["event_at"], utc=True).astype("datetime64[us, UTC]")
    received_day = _day(frame["received_day"]).fillna(received_at.dt.tz_localize(None).dt.normalize())
    event_day = _day(frame["event_day"]).fillna(event_at.dt.tz_localize(None).dt.normalize())
    loaded_at = pd.to_datetime(frame["loaded_at"], utc=True).astype("datetime64[us, UTC]")
    frame = frame.assign(received_at=received_at, event_at=event_at, received_day=received_day,
                         event_day=event_day.fillna(received_day),
                         loaded_at=loaded_at.fillna(pd.Timestamp.now(tz="UTC")))
    nulls = [c for c in T.BRONZE_REQUIRED if frame[c].isna().any()]
    if nulls:
        raise ValueError(f"bronze rows: null values in required column(s) {nulls}")
    bad = sorted(set(frame["signature_status"]) - set(T.SIGNATURE_STATUSES))
    if bad:
        raise ValueError(f"bronze rows: signature_status must be one of {T.SIGNATURE_STATUSES}, got {bad}")
    frame["_ord"] = range(len(frame))
    frame = frame.sort_values(["received_at", "_ord"], kind="stable")
    frame = frame.drop_duplicates(["source", "delivery_id"], keep="first").drop(columns="_ord")
    return frame[[c for c in T.BRONZE_COLUMNS if c != "load_seq"]].reset_index(drop=True)


def drop_stored(coll: Collection, frame: pd.DataFrame, chunk: int) -> pd.DataFrame:
    """The rows whose (source, delivery_id) is not stored yet (indexed $in lookups per source)."""
    stored: set[tuple[str, str]] = set()
    for source, ids in frame.groupby("source", sort=False)["delivery_id"]:
        ids = ids.tolist()
        for i in range(0, len(ids), chunk):
            found = coll.find({"source": source, "delivery_id": {"$in": ids[i : i + chunk]}},
                              {"_id": 0, "delivery_id": 1})
            stored.update((source, d["delivery_id"]) for d in found)
    if not stored:
        return frame
    keys = pd.Series(list(zip(frame["source"], frame["delivery_id"], strict=True)), index=frame.index)
    return frame[~keys.isin(stored)].reset_index(drop=True)


def pending_id(load_batch_id: str, source: str, day: object) -> str:
    return f"{load_batch_id}|{source}|{pd.Timestamp(day):%Y-%m-%d}"


def record_pending(coll: Collection, frame: pd.DataFrame, now: Any) -> None:
    """Upsert the (batch, source, event day) rows of the deliveries about to be inserted."""
    keys = frame[["load_batch_id", "source", "event_day"]].drop_duplicates()
    ops = [UpdateOne({"_id": pending_id(b, s, d)},
                     {"$setOnInsert": {"load_batch_id": b, "source": s, "recorded_at": now,
                                       "event_day": pd.Timestamp(d).to_pydatetime()}}, upsert=True)
           for b, s, d in keys.itertuples(index=False)]
    if ops:
        coll.bulk_write(ops, ordered=False)


def record_offsets(coll: Collection, offsets: Sequence[tuple[str, str, int, int]], now: Any) -> None:
    """Upsert the landing offsets (source, file, bytes, lines), one document per (source, file)."""
    ops = [UpdateOne({"_id": f"{source}/{name}"},
                     {"$set": {"source": source, "file": name, "byte_offset": int(size),
                               "line_number": int(lines), "updated_at": now}}, upsert=True)
           for source, name, size, lines in offsets]
    if ops:
        coll.bulk_write(ops, ordered=False)


def insert_new(coll: Collection, docs: list[dict[str, Any]], chunk: int) -> int:
    """insert_many by chunks; a concurrent writer's duplicates are skipped, not errors."""
    inserted = 0
    for i in range(0, len(docs), chunk):
        try:
            inserted += len(coll.insert_many(docs[i : i + chunk], ordered=False).inserted_ids)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            inserted += int(exc.details.get("nInserted", 0))
    return inserted


def quarantine_frame(
    rows: pd.DataFrame, replace_asset: str | None, start: TimeLike | None, end: TimeLike | None
) -> pd.DataFrame:
    """Validated rows with ids and times filled (tables.prepare_quarantine_rows); the layer is checked
    here because MongoDB has no CHECK constraint to do it, unlike the DuckDB table."""
    T.check_quarantine_rows(rows, replace_asset, start, end)
    frame = T.prepare_quarantine_rows(rows)
    if not frame.empty and not frame["layer"].isin(T.LAYERS).all():
        raise ValueError(f"quarantine rows: layer must be one of {T.LAYERS}")
    return frame


def quarantine_op(doc: dict[str, Any]) -> UpdateOne:
    """Upsert by quarantine_id: everything refreshed except first_seen_at (set on insert only)."""
    qid = doc["quarantine_id"]
    micros = doc.pop(C.MICROS_FIELD, {})
    kept = {"quarantine_id": qid, "first_seen_at": doc.pop("first_seen_at"),
            f"{C.MICROS_FIELD}.first_seen_at": micros.get("first_seen_at", 0)}
    sets = {c: v for c, v in doc.items() if c != "quarantine_id"}
    sets[f"{C.MICROS_FIELD}.last_seen_at"] = micros.get("last_seen_at", 0)
    return UpdateOne({"_id": qid}, {"$set": sets, "$setOnInsert": kept}, upsert=True)
