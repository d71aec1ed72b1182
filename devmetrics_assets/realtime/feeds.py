"""Where the watcher reads newly stored deliveries from, with a cursor it can resume from.

- MongoDB: a change stream on `bronze_deliveries` (inserts only, full documents). The cursor is the
  resume token of the last change handled (or the stream's post-batch token when idle), persisted
  in the watcher state; a restart resumes right after it. Needs a replica set / sharded cluster and
  is refused on time-series collections (storage/mongo_guards.py).
- DuckDB: tails `bronze_deliveries` by load_seq (assigned inside the append transaction, and one
  writer at a time per file, so a committed seq is never overtaken by a smaller one). The cursor is
  the last seq handled. Short read-only connections, so Bronze writers are not blocked for long.

On a first start the cursor begins "now" (history is not alerted); `bootstrap()` returns recent
push / deployment_status history stored before that point, to seed the rollback index quietly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
from bson import json_util
from pymongo.errors import OperationFailure

from devmetrics_assets.clock import utc_now
from devmetrics_assets.realtime.classify import Delivery
from devmetrics_assets.realtime.state import WatcherState
from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.mongo import MongoWarehouse
from devmetrics_assets.storage.mongo_guards import watch_collection
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse, WarehouseLockedError

BOOTSTRAP_EVENTS = ("push", "deployment_status")
TAIL_COLUMNS = "source, provider, delivery_id, event_type, received_at, event_day, body, load_seq, loaded_at"
HISTORY_LOST_CODES = (280, 286)  # ChangeStreamFatalError, ChangeStreamHistoryLost


class ResumeImpossibleError(RuntimeError):
    """The saved cursor can no longer be resumed (MongoDB's oplog moved past it)."""


def _records(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    yield from frame.to_dict("records")


class DuckDBTail:
    CURSOR = "duckdb_load_seq"
    waits_for_changes = False  # a poll returns at once: the watcher sleeps between empty polls

    def __init__(self, warehouse: Warehouse, state: WatcherState) -> None:
        self.warehouse = warehouse
        self.state = state
        self.last = 0

    def open(self, from_beginning: bool = False) -> bool:
        """Position at the saved cursor; True on a first start (cursor created now)."""
        saved = self.state.cursor(self.CURSOR)
        if saved is not None:
            self.last = int(saved)
            return False
        self.last = 0 if from_beginning else self.warehouse.max_load_seq()
        self.state.set_cursor(self.CURSOR, self.last)
        self.state.commit()
        return True

    def poll(self, max_events: int = 500, wait_seconds: float = 0.0) -> list[tuple[Delivery, Any]]:
        """Deliveries after the cursor, in load order: one short read-only connection, no pandas."""
        sql = f"SELECT {TAIL_COLUMNS} FROM {T.BRONZE_TABLE} WHERE load_seq > ? ORDER BY load_seq LIMIT ?"
        try:
            with self.warehouse.connect(read_only=True) as con:
                cur = con.execute(sql, [self.last, max_events])
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
        except (NothingMaterializedError, WarehouseLockedError, duckdb.CatalogException):
            return []  # nothing stored yet, or a writer holds the file right now: next poll
        out = [(Delivery.from_record(dict(zip(names, r, strict=True))), int(r[names.index("load_seq")]))
               for r in rows]
        if out:
            self.last = out[-1][1]
        return out

    def save(self, cursor: Any) -> None:
        self.state.set_cursor(self.CURSOR, int(cursor))

    def idle_cursor(self) -> Any | None:
        return None

    def bootstrap(self, days: int) -> list[Delivery]:
        return _history(self.warehouse, days, lambda f: f[f["load_seq"] <= self.last])

    def close(self) -> None:
        pass


class MongoChangeFeed:
    CURSOR = "mongo_resume_token"
    waits_for_changes = True  # try_next waits up to max_await_ms server-side

    def __init__(self, warehouse: MongoWarehouse, state: WatcherState, max_await_ms: int = 200) -> None:
        self.warehouse = warehouse
        self.state = state
        self.max_await_ms = max_await_ms
        self.stream = None
        self.opened_at = datetime.now(UTC)
        self._idle_token: Any | None = None

    def open(self, from_beginning: bool = False) -> bool:
        self.warehouse.ensure_schema()
        saved = self.state.cursor(self.CURSOR)
        kwargs: dict[str, Any] = {"pipeline": [{"$match": {"operationType": "insert"}}],
                                  "max_await_time_ms": self.max_await_ms}
        if saved is not None:
            kwargs["resume_after"] = json_util.loads(saved)
        coll = self.warehouse.db[T.BRONZE_TABLE]
        try:
            self.stream = watch_collection(coll, self.warehouse.kind, self.warehouse.location, **kwargs)
        except OperationFailure as exc:
            raise self._resume_error(exc) from exc
        self.opened_at = datetime.now(UTC)
        if saved is not None:
            return False
        self.state.set_cursor(self.CURSOR, json_util.dumps(self.stream.resume_token))
        self.state.commit()
        self._backlog = list(self._existing()) if from_beginning else []
        return True

    def _existing(self) -> Iterator[tuple[Delivery, Any]]:
        docs = self.warehouse.db[T.BRONZE_TABLE].find({}, {"_id": 0}).sort("load_seq", 1)
        token = json_util.dumps(self.stream.resume_token)
        for doc in docs:
            yield Delivery.from_record(doc), token

    @staticmethod
    def _resume_error(exc: OperationFailure) -> Exception:
        if exc.code in HISTORY_LOST_CODES:
            return ResumeImpossibleError(
                "The saved change-stream resume token is older than MongoDB's oplog window, so the "
                "events since then cannot be replayed. Restart with `python -m devmetrics_assets.realtime "
                "--reset-cursor` (alerts resume from now; Silver/Gold are rebuilt from Bronze anyway) and "
                f"consider a larger oplog. Server said: {exc}")
        return exc

    def poll(self, max_events: int = 500, wait_seconds: float = 0.0) -> list[tuple[Delivery, Any]]:
        out: list[tuple[Delivery, Any]] = []
        backlog = getattr(self, "_backlog", [])
        while backlog and len(out) < max_events:
            out.append(backlog.pop(0))
        self._idle_token = None
        while len(out) < max_events:
            try:
                change = self.stream.try_next()
            except OperationFailure as exc:
                raise self._resume_error(exc) from exc
            if change is None:
                self._idle_token = self.stream.resume_token
                break
            out.append((Delivery.from_record(change["fullDocument"]), json_util.dumps(change["_id"])))
            break  # hand it over now; asking for more would wait up to max_await_ms
        return out

    def save(self, cursor: Any) -> None:
        self.state.set_cursor(self.CURSOR, cursor)

    def idle_cursor(self) -> Any | None:
        """After a poll that drained the stream: its post-batch token (keeps the cursor fresh)."""
        return None if self._idle_token is None else json_util.dumps(self._idle_token)

    def bootstrap(self, days: int) -> list[Delivery]:
        cutoff = pd.Timestamp(self.opened_at)
        return _history(self.warehouse, days, lambda f: f[f["received_at"] <= cutoff])

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _history(storage: Storage, days: int, keep) -> list[Delivery]:
    """Recent push / deployment_status deliveries (by event day) in load order, for the rollback index."""
    if days <= 0 or not storage.table_exists(T.BRONZE_TABLE):
        return []
    end = pd.Timestamp(utc_now().date() + timedelta(days=2))
    frame = storage.read_bronze(BOOTSTRAP_EVENTS, end, end - pd.Timedelta(days=days + 2))
    return [Delivery.from_record(r) for r in _records(keep(frame))]
