"""The local profile's Dagster storage: Dagster's SQLite storage, with cheaper event writes.

Why: a single-run backfill of a year writes one ASSET_MATERIALIZATION_PLANNED and one ASSET_MATERIALIZATION
event per partition of every asset (about 3,000 events for the demo's year). Dagster's SQLite event log
creates a new SQLAlchemy engine, opens a new connection and commits once per shard for EVERY event (the
run's own file, then the cross-run index), so the bookkeeping of a backfill cost more than its data work
(docs/benchmark.md, "Backfill bookkeeping"). This storage changes only how the same rows reach the same
files:

- one engine per (process, shard) instead of one per event (still no connection pool: a connection is
  opened per transaction, as Dagster does, so nothing is shared across threads or forked processes);
- `store_event_batch`: the events Dagster hands over as one batch (a step's per-partition
  materialisations, a run's planned events; batching is on when DAGSTER_EVENT_BATCH_SIZE > 0, which
  `instance_setup.prepare_environment` sets) are written in one transaction per shard, with the same
  statements `store_event` runs for each (Dagster's SQLite storage has no batch write of its own; its
  base class loops over `store_event`).

Every event is still stored, per partition, so the UI's partition status (materialised, in progress,
failed) is what it was. The tables, files and layout are Dagster's own (`storage: sqlite` writes the same
`history/` and `schedules/` folders), so a home can move between this and Dagster's stock storage.
It subclasses Dagster's internal SQLite classes, pinned with the dagster version in pyproject.toml;
devmetrics_assets_tests/test_instance_storage.py checks it writes what the stock storage writes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

# Dagster's own busy timeout for its SQLite files (sqlite_event_log.SQLITE_BUSY_TIMEOUT_SECONDS).
BUSY_TIMEOUT_SECONDS = 30
MODULE = __name__
STORAGE_CLASS = "LocalSqliteStorage"


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one engine per shard and process, and batched writes."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[tuple[int, str], Engine] = {}
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> BatchedSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        # Keyed by pid too: an engine created before a fork is never used by the child.
        key = (os.getpid(), shard)
        with self._engines_lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=NullPool,
                                       connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
                self._engines[key] = engine
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # The stock _connect, minus creating and disposing an engine each time.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """The statements `store_event` runs for each event, in one transaction per shard."""
        for run_id in dict.fromkeys(e.run_id for e in events):
            self._store_run_batch([e for e in events if e.run_id == run_id])

    def _store_run_batch(self, events: Sequence[EventLogEntry]) -> None:
        statements = [self.prepare_insert_event(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        checks: list[tuple[EventLogEntry, int]] = []
        with self.index_transaction() as conn:
            for event, statement in zip(events, statements, strict=True):
                kind = event.dagster_event_type if event.is_dagster_event else None
                if kind in ASSET_EVENTS:
                    with db_result(conn, statement) as result:
                        event_id = result.inserted_primary_key[0]
                    self._store_asset_event_tags(conn, [event], [event_id])
                    self._store_asset_event(conn, event, event_id)
                elif kind in ASSET_CHECK_EVENTS:
                    with db_result(conn, statement) as result:
                        checks.append((event, result.inserted_primary_key[0]))
                elif kind in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
                    conn.execute(statement)
        # Check rows are written through their own connection in Dagster's code, after the index row.
        for event, event_id in checks:
            self.store_asset_check_event(event, event_id)


class LocalSqliteStorage(DagsterSqliteStorage):
    """Dagster's unified SQLite storage (`storage: sqlite`) with BatchedSqliteEventLogStorage for events."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Any) -> LocalSqliteStorage:
        return cls(inst_data=inst_data, **config_value)

