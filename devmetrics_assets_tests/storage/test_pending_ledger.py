"""The pending-work ledger is written with the Bronze rows, in the same transaction, and cleared by key."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from devmetrics_assets.storage.warehouse import Warehouse


def bronze(ids: list[str], event_days: list[str], batch: str = "run-1", source: str = "gh") -> pd.DataFrame:
    return pd.DataFrame({
        "source": source, "provider": "github", "delivery_id": ids, "event_type": "push",
        "received_at": pd.to_datetime(["2025-03-10T10:00Z"] * len(ids), utc=True),
        "event_at": pd.to_datetime([f"{d}T09:00Z" for d in event_days], utc=True),
        "headers": "{}", "body": "{}", "payload_sha256": [f"h-{i}" for i in ids],
        "signature_status": "verified", "load_batch_id": batch, "record_ref": [f"file:f:{i}" for i in ids],
    })


def test_an_append_records_the_event_days_it_inserted_and_a_replay_records_nothing(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    assert wh.append_bronze(bronze(["a", "b", "c"], ["2025-03-01", "2025-03-01", "2025-03-09"])) == 3
    assert wh.append_bronze(bronze(["a", "b"], ["2025-03-01", "2025-03-01"], batch="run-2")) == 0
    ledger = wh.pending_event_days()
    assert ledger[["load_batch_id", "event_day"]].values.tolist() == [
        ["run-1", pd.Timestamp("2025-03-01")], ["run-1", pd.Timestamp("2025-03-09")]]
    assert wh.clear_pending(ledger.iloc[:1]) == 1
    assert wh.pending_event_days()["event_day"].tolist() == [pd.Timestamp("2025-03-09")]


def test_a_failed_append_records_no_pending_work_and_keeps_nothing(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.ensure_schema()
    # Make the ledger insert fail inside the append's transaction.
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("DROP TABLE pending_event_days")
        con.execute("CREATE TABLE pending_event_days (source VARCHAR CHECK (source = 'nobody'), "
                    "load_batch_id VARCHAR, event_day DATE, recorded_at TIMESTAMPTZ, "
                    "PRIMARY KEY (load_batch_id, source, event_day))")
    with pytest.raises(duckdb.ConstraintException):
        wh.append_bronze(bronze(["a"], ["2025-03-01"]))
    assert wh.read_table("bronze_deliveries").empty  # the deliveries rolled back with the ledger row


def test_stored_hashes_and_verification_memory(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    assert not wh.was_verified("gh") and wh.stored_payload_hashes("gh", ["a"]) == {}
    wh.append_bronze(bronze(["a"], ["2025-03-01"]))
    assert wh.was_verified("gh") and not wh.was_verified("other")
    assert wh.stored_payload_hashes("gh", ["a", "zzz"]) == {"a": "h-a"}
    unchecked = bronze(["x"], ["2025-03-01"], source="other").assign(signature_status="unchecked")
    wh.append_bronze(unchecked)
    assert not wh.was_verified("other")
    wh.upsert_quarantine(pd.DataFrame({"layer": ["bronze"], "asset": ["bronze_other"], "source": ["other"],
                                       "reason": ["signature mismatch: forged"], "record_ref": ["file:f:9"]}))
    assert wh.was_verified("other")
