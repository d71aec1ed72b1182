"""Landing offsets are stored with the deliveries read up to them, on both backends."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.storage.test_pending_ledger import bronze


def test_offsets_are_written_with_the_deliveries_and_without_new_ones(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    assert wh.landing_offsets("gh") == {}
    assert wh.append_bronze(bronze(["a"], ["2025-03-01"]), [("gh", "2025-03-10.jsonl", 120, 1)]) == 1
    # A read of only rejects or duplicates still moves the offset (nothing to insert).
    assert wh.append_bronze(bronze([], []), [("gh", "2025-03-10.jsonl", 300, 3),
                                             ("other", "2025-03-10.jsonl", 7, 1)]) == 0
    assert wh.landing_offsets("gh") == {"2025-03-10.jsonl": (300, 3)}
    assert wh.landing_offsets("other") == {"2025-03-10.jsonl": (7, 1)}


def test_a_failed_append_leaves_the_offset_where_it_was(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.append_bronze(bronze(["a"], ["2025-03-01"]), [("gh", "f.jsonl", 10, 1)])
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # make the ledger insert fail in the transaction
        con.execute("DROP TABLE pending_event_days")
        con.execute("CREATE TABLE pending_event_days (source VARCHAR CHECK (source = 'nobody'), "
                    "load_batch_id VARCHAR, event_day DATE, recorded_at TIMESTAMPTZ, "
                    "PRIMARY KEY (load_batch_id, source, event_day))")
    with pytest.raises(duckdb.ConstraintException):
        wh.append_bronze(bronze(["b"], ["2025-03-01"]), [("gh", "f.jsonl", 99, 2)])
    assert wh.landing_offsets("gh") == {"f.jsonl": (10, 1)}


@pytest.mark.mongo
def test_mongo_stores_offsets_per_source_and_file(mongo_uri, fresh_database) -> None:
    from devmetrics_assets.storage.mongo import MongoWarehouse

    wh = MongoWarehouse(mongo_uri, fresh_database(mongo_uri))
    assert wh.landing_offsets("gh") == {}
    assert wh.append_bronze(bronze(["a"], ["2025-03-01"]), [("gh", "2025-03-10.jsonl", 120, 1)]) == 1
    assert wh.append_bronze(bronze(["a"], ["2025-03-01"]), [("gh", "2025-03-10.jsonl", 300, 3)]) == 0
    assert wh.landing_offsets("gh") == {"2025-03-10.jsonl": (300, 3)}
    assert wh.landing_offsets("other") == {}
