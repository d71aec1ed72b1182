"""Reading the MongoDB warehouse: the read half of `MongoWarehouse` (storage/mongo.py), as a mixin.

Reads give back exactly what the DuckDB warehouse gives back for the same writes. Bronze and
quarantine are plain collections read with an indexed range query; a Silver/Gold table is read
through its head document (storage/mongo_versions.py), which names the versioned writes visible for
each part of the window, inside one causally consistent session so the rows are at least as new as
the head even when reads go to secondaries. Kept apart from the writer, which is long enough on
its own; the mixin needs only the `db`, `client` and `location` the writer sets up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from pymongo import DESCENDING, MongoClient
from pymongo.database import Database

from devmetrics_assets.storage import mongo_codec as C
from devmetrics_assets.storage import mongo_versions as V
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.frames import TimeLike, naive_utc, window_text
from devmetrics_assets.storage.mongo_aggregates import MongoAggregates
from devmetrics_assets.storage.warehouse import BRONZE_READ_COLUMNS, NothingMaterializedError
from devmetrics_assets.storage.warehouse_bronze import PENDING_DTYPES, empty_pending

HEADS = "_tables"  # one head document per Silver/Gold table: schema + visible segments


class MongoReads(MongoAggregates):
    """The Storage interface's reads on MongoDB; mixed into `MongoWarehouse`. The aggregate reads are
    the `MongoAggregates` mixin (storage/mongo_aggregates.py)."""

    db: Database
    client: MongoClient
    location: str

    def _fixed_schema(self, table: str) -> dict[str, str] | None:
        if table == T.BRONZE_TABLE:
            return T.BRONZE_COLUMNS
        if table == T.QUARANTINE_TABLE:
            return T.QUARANTINE_COLUMNS
        return None

    def read_window(
        self, table: str, partition_column: str, start: TimeLike | None, end: TimeLike | None, *,
        columns: list[str] | None = None, filters: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Rows with start <= partition_column < end (None = unbounded), in the written dtypes.

        `filters`: column -> value equalities (the Storage interface); internally a value may also be a
        MongoDB operator document such as {"$in": [...]}.
        """
        T.check_identifier(table, "table")
        T.check_identifier(partition_column, "partition column")
        window = window_text(start, end)
        fixed = self._fixed_schema(table)
        if fixed is not None:
            if not self.table_exists(table):
                raise NothingMaterializedError.for_table(self.location, table, window)
            wanted = self._wanted(table, fixed, columns, partition_column)
            query = dict(filters or {})
            cond = {k: v for k, v in (("$gte", naive_utc(start)), ("$lt", naive_utc(end))) if v is not None}
            if cond:
                query[partition_column] = cond
            return C.decode_documents(self._find(table, query, wanted), wanted, fixed)
        lo, hi = naive_utc(start), naive_utc(end)
        return self._read_versioned(table, partition_column, lo, hi, columns, filters, window)

    def _find(self, table: str, query: dict[str, Any], wanted: Sequence[str], meta: bool = False,
              session=None) -> list[dict[str, Any]]:
        """Documents with only the wanted fields (plus µs remainders and the metaField)."""
        projection = {"_id": 0, C.MICROS_FIELD: 1, **{c: 1 for c in wanted}, **({"meta": 1} if meta else {})}
        return list(self.db[table].find(query, projection, session=session))

    def _wanted(self, table: str, types: dict[str, str], columns: list[str] | None, partition: str | None):
        wanted = columns or list(types)
        bad = [c for c in [*wanted, *([partition] if partition else [])] if c not in types]
        if bad:
            raise ValueError(f"{table} has no column(s) {bad}; columns: {list(types)}")
        return wanted

    def _read_versioned(
        self, table: str, partition_column: str | None, lo: datetime | None, hi: datetime | None,
        columns: list[str] | None, filters: dict[str, Any] | None, window: str | None = None,
    ) -> pd.DataFrame:
        # One causally consistent session: the rows read are at least as new as the head read, even
        # when reads go to secondaries (readPreference in the URI).
        with self.client.start_session(causal_consistency=True) as session:
            head = self.db[HEADS].find_one({"_id": table}, session=session)
            if head is None:
                raise NothingMaterializedError.for_table(self.location, table, window)
            return self._read_head(head, partition_column, lo, hi, columns, filters, session)

    def _read_head(
        self, head: dict[str, Any], partition_column: str | None, lo: datetime | None, hi: datetime | None,
        columns: list[str] | None, filters: dict[str, Any] | None, session,
    ) -> pd.DataFrame:
        table = head["_id"]
        order = list(dict.fromkeys(head["columns"]))
        types = {c: head["types"][c] for c in order}
        wanted = self._wanted(table, types, columns, partition_column)
        timeseries = bool(head.get("timeseries"))
        meta_fields = head.get("meta_fields") or []
        pieces = V.visible_pieces(head.get("segments") or [], lo, hi)
        query = V.pieces_filter(pieces, "meta.v" if timeseries else "_v", head.get("partition_column"))
        docs: list[dict[str, Any]] = []
        if query is not None:
            for key, value in (filters or {}).items():
                query = {"$and": [query, {f"meta.{key}" if key in meta_fields else key: value}]}
            docs = self._find(table, query, [c for c in wanted if c not in meta_fields], timeseries, session)
        return C.decode_documents(docs, wanted, types, head.get("hints") or {}, meta_fields)

    def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A whole table (every visible partition) in the written dtypes."""
        T.check_identifier(table, "table")
        fixed = self._fixed_schema(table)
        if fixed is not None:
            if not self.table_exists(table):
                raise NothingMaterializedError.for_table(self.location, table)
            wanted = self._wanted(table, fixed, columns, None)
            return C.decode_documents(self._find(table, {}, wanted), wanted, fixed)
        return self._read_versioned(table, None, None, None, columns, None)

    def read_bronze(
        self, kinds: Sequence[str | tuple[str, str]], end: TimeLike, start: TimeLike | None = None
    ) -> pd.DataFrame:
        """Bronze deliveries with start <= event_day < end, in load order, of these kinds: an event
        type (any provider) or a (provider, event_type) pair."""
        types = [k for k in kinds if not isinstance(k, tuple)]
        terms: list[dict[str, Any]] = [{"event_type": {"$in": types}}] if types else []
        terms += [{"provider": p, "event_type": e} for p, e in (k for k in kinds if isinstance(k, tuple))]
        match = {"$or": terms} if terms else {"_id": {"$exists": False}}
        rows = self.read_window(T.BRONZE_TABLE, "event_day", start, end, columns=BRONZE_READ_COLUMNS,
                                filters=match)
        return rows.sort_values("load_seq", kind="stable").reset_index(drop=True)

    def bronze_event_days(self, load_batch_id: str) -> list[date]:
        """Event days of the deliveries one load batch inserted: the Silver partitions it changed."""
        if not self.table_exists(T.BRONZE_TABLE):
            raise NothingMaterializedError.for_table(self.location, T.BRONZE_TABLE)
        days = self.db[T.BRONZE_TABLE].distinct("event_day", {"load_batch_id": load_batch_id})
        return sorted({pd.Timestamp(d).date() for d in days})

    def stored_payload_hashes(self, source: str, delivery_ids: Sequence[str]) -> dict[str, str]:
        """delivery id -> payload_sha256 of the stored deliveries of `source` among `delivery_ids`."""
        found = self.db[T.BRONZE_TABLE].find({"source": source, "delivery_id": {"$in": list(delivery_ids)}},
                                             {"_id": 0, "delivery_id": 1, "payload_sha256": 1})
        return {d["delivery_id"]: d["payload_sha256"] for d in found}

    def was_verified(self, source: str) -> bool:
        """Whether `source` ever had a signature checked (a verified delivery, or one quarantined because
        its signature was missing or wrong)."""
        if self.db[T.BRONZE_TABLE].find_one({"source": source, "signature_status": "verified"}, {"_id": 1}):
            return True
        prefixes = "|".join(T.SIGNATURE_REASON_PREFIXES)
        query = {"source": source, "layer": "bronze", "reason": {"$regex": f"^({prefixes})"}}
        return self.db[T.QUARANTINE_TABLE].find_one(query, {"_id": 1}) is not None

    def landing_offsets(self, source: str) -> dict[str, tuple[int, int]]:
        """file name -> (byte offset, line number) loaded so far of `source`'s landing day files."""
        found = self.db[T.OFFSETS_TABLE].find({"source": source}, {"_id": 0})
        return {d["file"]: (int(d["byte_offset"]), int(d["line_number"])) for d in found}

    def pending_event_days(self) -> pd.DataFrame:
        """The pending-work ledger: (source, load_batch_id, event_day, recorded_at), oldest first."""
        docs = list(self.db[T.PENDING_TABLE].find({}, {"_id": 0}))
        if not docs:
            return empty_pending()
        frame = pd.DataFrame(docs)[list(PENDING_DTYPES)]
        frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True).astype("datetime64[us, UTC]")
        frame["event_day"] = pd.to_datetime(frame["event_day"]).astype("datetime64[us]")
        return frame.sort_values(["recorded_at", "event_day"], kind="stable").reset_index(drop=True)

    def table_exists(self, table: str) -> bool:
        T.check_identifier(table, "table")
        if table in T.FIXED_TABLES:
            return table in self.db.list_collection_names(filter={"name": table})
        return self.db[HEADS].count_documents({"_id": table}, limit=1) > 0

    def max_load_seq(self) -> int:
        """Highest Bronze load_seq (0 when nothing is loaded)."""
        top = self.db[T.BRONZE_TABLE].find_one({}, {"load_seq": 1}, sort=[("load_seq", DESCENDING)])
        return int(top["load_seq"]) if top else 0

