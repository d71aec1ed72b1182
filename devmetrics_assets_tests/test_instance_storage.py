"""The local profile's storage (instance_storage.py) stores what Dagster's stock SQLite storage stores.

The same single-run backfill (a partitioned asset, a downstream asset and an asset check, over ten days)
runs once on `storage: sqlite` and once on LocalSqliteStorage with batching on; every table of the
event index and every run's events must hold the same rows (ids, timestamps and run ids aside), and what
the UI asks (materialised partitions, latest materialisation per partition, check results) must agree.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.instance_setup import DAGSTER_YAML, EVENT_BATCH_ENV
from devmetrics_assets.instance_storage import BatchedSqliteEventLogStorage, LocalSqliteStorage

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(),
          check_specs=[dg.AssetCheckSpec("non_empty", asset="upstream")])
def upstream(context):
    for key in context.partition_keys:
        context.add_asset_metadata({"rows": int(key[-2:])}, partition_key=key)
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True, check_name="non_empty")])


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run(), deps=[upstream])
def downstream(context) -> None:
    if context.run.tags.get("fail") == "yes":
        raise RuntimeError("planned failure")


JOB = dg.define_asset_job("both", selection=[upstream, downstream])
DEFS = dg.Definitions(assets=[upstream, downstream], jobs=[JOB])


def backfill(instance: dg.DagsterInstance, tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    job = DEFS.resolve_job_def("both")
    return job.execute_in_process(instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": "2026-01-01",
        "dagster/asset_partition_range_end": "2026-01-10", **(tags or {})})


def open_instance(home: Path, yaml: str | None, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    if yaml is not None:
        (home / "dagster.yaml").write_text(yaml)
    return dg.DagsterInstance.from_config(str(home))


# Columns that differ between two identical runs: ids, times, run ids, serialised events (which hold them).
VOLATILE = {"id", "run_id", "timestamp", "event_timestamp", "create_timestamp", "update_timestamp",
            "event", "event_id", "evaluation_event", "evaluation_event_timestamp",
            "evaluation_event_storage_id", "materialization_event_storage_id", "last_materialization",
            "last_run_id", "last_materialization_timestamp", "cached_status_data"}
STABLE_TAGS = {"dagster/partition"}  # other tag values (data versions, event pointers) name the run


def table_rows(db: Path) -> dict[str, list[tuple]]:
    """Each table's rows without the columns that differ between two identical runs (sorted)."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            if table in {"alembic_version", "secondary_indexes"}:
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in VOLATILE]
            quoted = ", ".join('"' + c + '"' for c in cols)
            rows = conn.execute(f"SELECT {quoted} FROM {table}").fetchall() if cols else []
            if table == "asset_event_tags":
                key_at, value_at = cols.index("key"), cols.index("value")
                rows = [(*r[:value_at], r[value_at] if r[key_at] in STABLE_TAGS else "*", *r[value_at + 1:])
                        for r in rows]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def run_rows(home: Path) -> list[tuple]:
    """Every run shard's event rows (event type, asset key, partition), across runs."""
    rows: list[tuple] = []
    for db in sorted((home / "history" / "runs").glob("*.db")):
        if db.stem == "index":
            continue
        conn = sqlite3.connect(db)
        rows += conn.execute("SELECT dagster_event_type, asset_key, partition FROM event_logs").fetchall()
        conn.close()
    return sorted(rows, key=repr)


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failed-run"])
def test_the_local_storage_stores_what_the_stock_sqlite_storage_stores(tmp_path, monkeypatch, fail):
    monkeypatch.setenv(EVENT_BATCH_ENV, "1000")
    tags = {"fail": "yes"} if fail else {}
    stock = open_instance(tmp_path / "stock", None, monkeypatch)
    assert type(stock.event_log_storage).__name__ == "SqliteEventLogStorage"
    stock_result = backfill(stock, tags)
    local = open_instance(tmp_path / "local", DAGSTER_YAML, monkeypatch)
    assert isinstance(local.get_ref().storage_data.rehydrate(LocalSqliteStorage), LocalSqliteStorage)
    assert isinstance(local.event_log_storage, BatchedSqliteEventLogStorage)
    local_result = backfill(local, tags)
    assert stock_result.success is local_result.success is (not fail)

    index = table_rows(tmp_path / "local" / "history" / "runs" / "index.db")
    assert index == table_rows(tmp_path / "stock" / "history" / "runs" / "index.db")
    assert len(index["asset_event_tags"]) >= 10  # one partition tag per materialisation, at least
    assert run_rows(tmp_path / "local") == run_rows(tmp_path / "stock")
    materialized = {key: sorted(inst.get_materialized_partitions(dg.AssetKey(key)))
                    for inst in (stock, local) for key in ("upstream", "downstream")}
    assert len(materialized["upstream"]) == 10
    for inst in (stock, local):
        assert sorted(inst.get_materialized_partitions(dg.AssetKey("upstream"))) == materialized["upstream"]
        assert len(inst.get_materialized_partitions(dg.AssetKey("downstream"))) == (0 if fail else 10)


def test_planned_events_reach_storage_as_one_batch_per_run_when_batching_is_on(tmp_path, monkeypatch):
    """The point of the class: Dagster hands the per-partition events over in batches, one write each."""
    monkeypatch.setenv(EVENT_BATCH_ENV, "1000")
    local = open_instance(tmp_path / "local", DAGSTER_YAML, monkeypatch)
    batches: list[int] = []
    original = BatchedSqliteEventLogStorage.store_event_batch

    def counting(self, events):
        batches.append(len(events))
        return original(self, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", counting)
    assert backfill(local).success
    # 20 planned events + 1 planned check in one batch; 10 materialisations of each asset in one each.
    assert sorted(batches) == [10, 10, 21]
