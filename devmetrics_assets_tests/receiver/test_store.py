"""The landing store on its own: group commit, duplicates inside one batch, received-day files,
and that a failed write never leaves a partial line behind."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devmetrics_assets.receiver.store import LandingStore, Pending, SourceLog, StoreError


def pending(delivery_id: str, when: datetime) -> Pending:
    line = json.dumps({"delivery_id": delivery_id, "received_at": when.isoformat()}).encode() + b"\n"
    return Pending(delivery_id, when, line)


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["delivery_id"] for line in path.read_text().splitlines()]


def test_concurrent_puts_are_group_committed(tmp_path: Path):
    fsyncs: list[int] = []

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        os.fsync(fd)

    store = LandingStore({"s": tmp_path / "s"}, tmp_path / "_rejects", fsync=counting_fsync)
    when = datetime(2025, 3, 4, 10, tzinfo=UTC)

    async def run() -> list[str]:
        results = await asyncio.gather(*(store.put("s", pending(f"d{i % 150}", when)) for i in range(200)))
        await store.close()
        return results

    results = asyncio.run(run())
    assert results.count("stored") == 150 and results.count("duplicate") == 50
    assert sorted(ids_in(tmp_path / "s" / "2025-03-04.jsonl")) == sorted(f"d{i}" for i in range(150))
    # 200 deliveries in a few batches, not 200 fsyncs (plus one for the new file's directory entry)
    assert store.stats.batches < 10 and len(fsyncs) <= store.stats.batches + 1


def test_a_batch_spanning_midnight_goes_to_each_received_day(tmp_path: Path):
    log = SourceLog(tmp_path)
    before = datetime(2025, 3, 4, 23, 59, 59, tzinfo=UTC)
    after = datetime(2025, 3, 5, 0, 0, 1, tzinfo=UTC)
    assert log.commit([pending("a", before), pending("b", after), pending("a", after)]) == [
        "stored", "stored", "duplicate"]
    log.close()
    assert ids_in(tmp_path / "2025-03-04.jsonl") == ["a"]
    assert ids_in(tmp_path / "2025-03-05.jsonl") == ["b"]


def test_failed_fsync_truncates_the_partial_batch_and_raises(tmp_path: Path):
    calls = {"n": 0}

    def fsync_fails_second_time(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # 1: directory entry, 2: first batch, 3: second batch
            raise OSError(5, "Input/output error")
        os.fsync(fd)

    log = SourceLog(tmp_path, fsync=fsync_fails_second_time)
    when = datetime(2025, 3, 4, tzinfo=UTC)
    log.commit([pending("a", when)])
    with pytest.raises(OSError):
        log.commit([pending("b", when), pending("c", when)])
    assert log.known({"a", "b", "c"}) == {"a"}
    assert log.commit([pending("d", when)]) == ["stored"]
    log.close()
    assert ids_in(tmp_path / "2025-03-04.jsonl") == ["a", "d"]


def test_store_error_reaches_every_waiting_request(tmp_path: Path):
    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    store = LandingStore({"s": tmp_path / "s"}, tmp_path / "_rejects", fsync=broken)
    when = datetime(2025, 3, 4, tzinfo=UTC)

    async def run() -> list[object]:
        results = await asyncio.gather(*(store.put("s", pending(f"d{i}", when)) for i in range(5)),
                                       return_exceptions=True)
        await store.close()
        return results

    results = asyncio.run(run())
    assert all(isinstance(r, StoreError) for r in results)
    assert store.stats.stored == 0 and store.stats.failed_batches >= 1


def test_a_torn_line_left_by_a_crash_does_not_swallow_the_next_delivery(tmp_path: Path):
    when = datetime(2025, 3, 4, 10, tzinfo=UTC)
    (tmp_path / "2025-03-04.jsonl").write_bytes(b'{"delivery_id": "torn", "rece')  # the crash's leftover
    log = SourceLog(tmp_path)
    assert log.commit([pending("next", when)]) == ["stored"]
    log.close()
    lines = (tmp_path / "2025-03-04.jsonl").read_text().splitlines()
    assert lines[0] == '{"delivery_id": "torn", "rece'
    assert json.loads(lines[1])["delivery_id"] == "next"
