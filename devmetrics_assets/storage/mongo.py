"""The MongoDB warehouse: the `Storage` interface (storage/backend.py) on MongoDB with pymongo.

Same semantics as the DuckDB `Warehouse`, so the layers, the IO manager and the loaders do not care:
- Bronze (`bronze_deliveries`, a normal collection): unique index on (source, delivery_id); an append
  inserts only pairs not stored yet (duplicates inside a batch keep the earliest received_at) and
  numbers them in received order with load_seq blocks reserved from a counter document. Appends are
  idempotent rather than all-or-nothing: a crash mid-append leaves a prefix the retried run completes.
- Silver (collections named like the tables, indexed by partition column) and Gold (TIME-SERIES
  collections: timeField period_start as a real date, metaField {scope_type, scope, period, v},
  granularity hours): a window is replaced by a versioned write made visible by one update of the
  table's head document (storage/mongo_versions.py), wrapped in a transaction when the deployment
  has them (replica set, sharded) and the collection allows it (not time-series). Readers never see a
  half-written window; rewriting a window is idempotent; rows outside the window are refused first.
- Quarantine (`quarantine`, _id = quarantine_id): upsert keeping first_seen_at; replacing an asset's
  window removes its fixed records (in a transaction where available).

Collections and indexes are created on first use. No Dagster import (loaders and the watcher use it).
This module holds the client, the schema and the writes; the reads are the `MongoReads` mixin
(storage/mongo_reads.py), Bronze/quarantine specifics are in mongo_bronze.py, and the window and row
checks are shared with the DuckDB backend (frames.py, tables.py).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.errors import CollectionInvalid, DuplicateKeyError

from devmetrics_assets.storage import mongo_bronze as B
from devmetrics_assets.storage import mongo_codec as C
from devmetrics_assets.storage import mongo_guards as G
from devmetrics_assets.storage import mongo_versions as V
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.frames import TimeLike, check_partition_frame, check_rows_in_window, naive_utc
from devmetrics_assets.storage.mongo_reads import HEADS, MongoReads

WRITES = "_writes"  # staging writes in progress (cleaned up if their writer died)
COUNTERS = "_counters"
SEQ_COUNTER = "bronze_load_seq"
TIMESERIES_META = ("scope_type", "scope", "period")
DAY_TYPES = ("DATE", "TIMESTAMP", *C.TZ_TYPES)

_CLIENTS: dict[tuple[int, str], MongoClient] = {}
_CLIENTS_LOCK = threading.Lock()
_READY: set[tuple[int, str, str]] = set()  # (pid, uri, database) whose collections and indexes exist
_KINDS: dict[tuple[int, str], str] = {}


def shared_client(uri: str) -> MongoClient:
    """One client per process and URI (pymongo pools connections; clients are not fork-safe)."""
    key = (os.getpid(), uri)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            # A keyword overrides the URI's option, so the 10 s default applies only when the URI sets none.
            options = uri.partition("?")[2].lower()
            timeout = {} if "serverselectiontimeoutms=" in options else {"serverSelectionTimeoutMS": 10_000}
            _CLIENTS[key] = MongoClient(uri, tz_aware=False, appname="devmetrics", **timeout)
        return _CLIENTS[key]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class MongoWarehouse(MongoReads):
    """One MongoDB database holding the warehouse. Cheap to construct; the client is shared.

    The writes are here; the reads come from `MongoReads` (storage/mongo_reads.py)."""

    def __init__(
        self,
        uri: str,
        database: str = "devmetrics",
        *,
        use_transactions: bool | None = None,
        gc_grace_seconds: float = 300.0,
        stale_write_seconds: float = 3600.0,
        chunk_size: int = 5_000,
        transaction_max_rows: int = 50_000,
        timeseries_prefix: str = "gold_",
    ) -> None:
        self.uri = uri
        self.database = database
        self.client = shared_client(uri)
        self.db = self.client[database]
        self.location = f"{G.redact_uri(uri)} (database {database})"
        self.use_transactions = use_transactions
        self.gc_grace_seconds = gc_grace_seconds
        self.stale_write_seconds = stale_write_seconds
        self.chunk_size = max(1, chunk_size)
        self.transaction_max_rows = transaction_max_rows
        self.timeseries_prefix = timeseries_prefix
        # Test hook: called after each staged chunk of a partition write (simulate a crash or a slow writer).
        self.on_chunk_written: Callable[[int], None] | None = None
        self._key = (os.getpid(), uri, database)

    def __repr__(self) -> str:
        return f"MongoWarehouse({self.location!r})"

    # ---- deployment --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        key = (os.getpid(), self.uri)
        if key not in _KINDS:
            _KINDS[key] = G.deployment_kind(self.client)
        return _KINDS[key]

    def transactional(self, rows: int = 0) -> bool:
        if self.use_transactions is False or rows > self.transaction_max_rows:
            return False
        if self.use_transactions:
            G.require_replica_set(self.kind, "Multi-document transactions", self.location)
        return G.supports_transactions(self.kind)

    # ---- schema ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create Bronze, quarantine and the bookkeeping collections with their indexes (idempotent)."""
        if self._key in _READY:
            return
        existing = set(self.db.list_collection_names())
        for name in (T.BRONZE_TABLE, T.QUARANTINE_TABLE, T.PENDING_TABLE, T.OFFSETS_TABLE, HEADS, WRITES,
                     COUNTERS):
            if name not in existing:
                try:
                    self.db.create_collection(name)
                except CollectionInvalid:
                    pass  # created concurrently
        B.create_fixed_indexes(self.db)
        self.db[WRITES].create_index([("table", ASCENDING), ("started_at", ASCENDING)])
        seed = self.max_load_seq()
        self.db[COUNTERS].update_one({"_id": SEQ_COUNTER}, {"$setOnInsert": {"seq": seed}}, upsert=True)
        _READY.add(self._key)

    def _head(self, table: str) -> dict[str, Any] | None:
        return self.db[HEADS].find_one({"_id": table})

    def _is_timeseries_table(self, table: str, column: str, types: dict[str, str]) -> bool:
        return table.startswith(self.timeseries_prefix) and types.get(column, "").upper() in DAY_TYPES

    def _create_table_collection(self, table: str, column: str | None, timeseries: bool) -> None:
        if table in self.db.list_collection_names():
            return
        try:
            if timeseries:
                self.db.create_collection(
                    table, timeseries={"timeField": column, "metaField": "meta", "granularity": "hours"})
            else:
                self.db.create_collection(table)
        except CollectionInvalid:
            return
        coll = self.db[table]
        version = "meta.v" if timeseries else "_v"
        keys = [(version, ASCENDING)] + ([(column, ASCENDING)] if column else [])
        coll.create_index(keys)
        if column and not timeseries:
            coll.create_index([(column, ASCENDING)])

    # ---- Silver / Gold writes ----------------------------------------------------------------
    def replace_partition(
        self, table: str, df: pd.DataFrame, partition_column: str, start: TimeLike, end: TimeLike
    ) -> int:
        """Replace rows with start <= partition_column < end by df, atomically for readers."""
        T.check_writable(table, partition_column)
        head = self._head(table)
        check_partition_frame(table, df, partition_column, lambda: head is not None)
        if len(df.columns) == 0 and partition_column not in head["types"]:
            raise ValueError(f"{table} has no partition column {partition_column!r}")
        if head is not None and head.get("partition_column") not in (None, partition_column):
            raise ValueError(
                f"{table} is partitioned by {head['partition_column']!r}, not {partition_column!r}")
        if len(df.columns):
            check_rows_in_window(df, partition_column, start, end)
        segment = {"start": naive_utc(start), "end": naive_utc(end)}
        return self._write(table, df, partition_column, segment, head, replace_schema=False)

    def replace_table(self, table: str, df: pd.DataFrame) -> int:
        """Replace a whole (unpartitioned) table by df, its schema included, atomically for readers."""
        T.check_writable(table)
        if len(df.columns) == 0:
            raise ValueError(f"cannot create {table} from a frame without columns")
        head = self._head(table)
        column = head.get("partition_column") if head else None
        return self._write(table, df, column, {"start": None, "end": None}, head, replace_schema=True)

    def _write(
        self, table: str, df: pd.DataFrame, column: str | None, segment: dict[str, Any],
        head: dict[str, Any] | None, *, replace_schema: bool,
    ) -> int:
        self.ensure_schema()
        old_types = {} if head is None else head["types"]
        types, hints, new_cols = C.plan_schema(df, old_types, {} if head is None else head["hints"],
                                               replace=replace_schema)
        if head is not None and not replace_schema:
            timeseries = bool(head.get("timeseries"))
        else:
            timeseries = column is not None and self._is_timeseries_table(table, column, types)
        meta_fields = [c for c in TIMESERIES_META if c in types] if timeseries else []
        wid = uuid.uuid4().hex
        # Encoding casts to the table's types; a bad value fails here, before anything is written.
        docs = C.encode_frame(
            df, types,
            extra=None if timeseries else {"_v": wid},
            meta_fields=meta_fields if timeseries else (),
            meta_extra={"v": wid} if timeseries else None,
        )
        self._create_table_collection(table, column, timeseries)
        version_field = "meta.v" if timeseries else "_v"
        segment = {"id": wid, **segment}
        columns = list(df.columns) if replace_schema or head is None else [*head["columns"], *new_cols]
        schema = {"columns": columns, "types": types, "hints": hints, "partition_column": column,
                  "timeseries": timeseries, "meta_fields": meta_fields}
        whole = replace_schema or head is None

        def flip() -> dict[str, Any]:
            segment["at"] = _now()
            if whole:
                return {"$set": schema, "$push": {"segments": segment}}
            sets = {f"types.{c}": t for c, t in types.items()} | {f"hints.{c}": h for c, h in hints.items()}
            push: dict[str, Any] = {"segments": segment}
            if new_cols:
                push["columns"] = {"$each": new_cols}
            return {"$set": sets, "$push": push}

        coll = self.db[table]
        if not timeseries and self.transactional(len(docs)):
            G.guard_transaction_target(self.db, table)

            def stage_and_flip(session) -> None:
                self._stage(coll, docs, session)
                self.db[HEADS].update_one({"_id": table}, flip(), upsert=True, session=session)

            G.run_transaction(self.client, self.kind, self.location, stage_and_flip)
        else:
            self.db[WRITES].insert_one({"_id": wid, "table": table, "version_field": version_field,
                                        "started_at": _now()})
            try:
                self._stage(coll, docs, None)
                self._flip_with_retry(table, flip)  # the single update that makes the rows visible
            except BaseException:
                self._discard(coll, version_field, wid)
                raise
            self.db[WRITES].delete_one({"_id": wid})
        self.collect_garbage(table)
        return len(df)

    def _flip_with_retry(self, table: str, flip: Callable[[], dict[str, Any]]) -> None:
        try:
            self.db[HEADS].update_one({"_id": table}, flip(), upsert=True)
        except DuplicateKeyError:  # two first writers raced on the upsert; the head exists now
            self.db[HEADS].update_one({"_id": table}, flip())

    def _stage(self, coll, docs: list[dict[str, Any]], session) -> None:
        for i in range(0, len(docs), self.chunk_size):
            coll.insert_many(docs[i : i + self.chunk_size], ordered=False, session=session)
            if self.on_chunk_written is not None:
                self.on_chunk_written(min(i + self.chunk_size, len(docs)))

    def _discard(self, coll, version_field: str, wid: str) -> None:
        """Best effort: remove a failed write's staged rows (they were never visible)."""
        try:
            coll.delete_many({version_field: wid})
            self.db[WRITES].delete_one({"_id": wid})
        except Exception:  # noqa: BLE001 - a later collect_garbage retries stale writes
            pass

    def collect_garbage(self, table: str) -> int:
        """Delete writes fully shadowed for longer than the grace period, and stale staged writes."""
        head = self._head(table)
        if head is None:
            return 0
        version_field = "meta.v" if head.get("timeseries") else "_v"
        now = _now()
        doomed = V.collectable(head.get("segments") or [], now, self.gc_grace_seconds)
        if doomed:
            self.db[HEADS].update_one({"_id": table}, {"$pull": {"segments": {"id": {"$in": doomed}}}})
            self.db[table].delete_many({version_field: {"$in": doomed}})  # write id only: metaField delete
        stale = now - pd.Timedelta(seconds=self.stale_write_seconds).to_pytimedelta()
        for write in self.db[WRITES].find({"table": table, "started_at": {"$lt": stale}}):
            self._discard(self.db[table], write.get("version_field", version_field), write["_id"])
        return len(doomed)

    # ---- Bronze ------------------------------------------------------------------------------
    def append_bronze(self, rows: pd.DataFrame, offsets: Sequence[T.LandingOffset] = ()) -> int:
        """Append deliveries not yet stored; returns how many were inserted (0 for a replay). The landing
        `offsets` are written after the deliveries (an append is not one transaction here), so a crash in
        between re-reads lines whose deliveries are stored (deduplicated), never skips one."""
        T.check_bronze_rows(rows)
        self.ensure_schema()
        inserted = self._append_bronze(rows) if not rows.empty else 0
        B.record_offsets(self.db[T.OFFSETS_TABLE], offsets, _now())
        return inserted

    def _append_bronze(self, rows: pd.DataFrame) -> int:
        coll = self.db[T.BRONZE_TABLE]
        frame = B.drop_stored(coll, B.bronze_frame(rows), self.chunk_size)
        if frame.empty:
            return 0
        # Pending work is written ahead of the deliveries (an append is not one transaction here): a crash
        # in between leaves a pending day whose refresh finds nothing new, never new rows nobody refreshes.
        B.record_pending(self.db[T.PENDING_TABLE], frame, _now())
        counter = self.db[COUNTERS].find_one_and_update(
            {"_id": SEQ_COUNTER}, {"$inc": {"seq": len(frame)}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        first = int(counter["seq"]) - len(frame) + 1
        frame["load_seq"] = range(first, first + len(frame))
        return B.insert_new(coll, C.encode_frame(frame, T.BRONZE_COLUMNS), self.chunk_size)

    def clear_pending(self, done: pd.DataFrame) -> int:
        """Remove these (load_batch_id, source, event_day) rows from the pending-work ledger."""
        if done.empty:
            return 0
        keys = done[["load_batch_id", "source", "event_day"]].itertuples(index=False)
        ids = [B.pending_id(b, s, d) for b, s, d in keys]
        return int(self.db[T.PENDING_TABLE].delete_many({"_id": {"$in": ids}}).deleted_count)

    # ---- quarantine --------------------------------------------------------------------------
    def upsert_quarantine(
        self, rows: pd.DataFrame, *, replace_asset: str | None = None, start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> int:
        """Insert or refresh quarantine rows (first_seen_at kept, last_seen_at updated); with
        replace_asset and a window, that asset's rows in [start, end) not in `rows` are removed."""
        frame = B.quarantine_frame(rows, replace_asset, start, end)
        self.ensure_schema()
        ops = [B.quarantine_op(doc) for doc in C.encode_frame(frame, T.QUARANTINE_COLUMNS)]
        coll = self.db[T.QUARANTINE_TABLE]
        stale = None
        if replace_asset is not None:
            window = {"$gte": naive_utc(start), "$lt": naive_utc(end)}
            stale = {"asset": replace_asset, "partition_day": window,
                     "_id": {"$nin": frame["quarantine_id"].tolist()}}
        if self.transactional(len(ops)):

            def upsert_and_prune(session) -> None:
                if ops:
                    coll.bulk_write(ops, ordered=False, session=session)
                if stale is not None:
                    coll.delete_many(stale, session=session)

            G.run_transaction(self.client, self.kind, self.location, upsert_and_prune)
        else:
            if ops:
                coll.bulk_write(ops, ordered=False)
            if stale is not None:
                coll.delete_many(stale)
        return len(frame)
