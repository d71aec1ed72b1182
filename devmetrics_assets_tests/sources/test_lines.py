"""Each line is read on its own: undecodable, oversized or too-deep lines are flagged, never raised."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.config import Settings
from devmetrics_assets.sources.landing import read_landing_jsonl
from devmetrics_assets.sources.landing_files import DayFileWriter, encode_line, envelope
from devmetrics_assets.sources.lines import is_binary, iter_landing_lines, iter_lines
from devmetrics_assets.sources.pull.landing_io import _existing_ids, read_landed
from devmetrics_assets.sources.registry import sources_from_mapping


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_an_invalid_utf8_line_is_flagged_and_its_neighbours_read(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", b'{"a": 1}\n{"b": "\xff\xfe"}\n\n{"c": 3}')
    lines = list(iter_lines([path]))
    assert [(line.number, line.problem is None) for line in lines] == [(1, True), (2, False), (4, True)]
    assert lines[1].problem == "line is not valid UTF-8 (byte 0xff at byte 8)"
    assert lines[1].ref == "file:f.jsonl:2" and "\ufffd" in lines[1].text  # kept readable for quarantine


def test_a_torn_last_line_waits_in_landing_files_but_counts_in_recorded_files(tmp_path: Path) -> None:
    path = write(tmp_path / "2025-03-04.jsonl", b'{"a": 1}\n{"b": ')
    assert [line.text for line in iter_lines([path], partial_last=False)] == ['{"a": 1}']
    assert [line.text for line in iter_lines([path])] == ['{"a": 1}', '{"b": ']


def test_an_oversized_line_is_skipped_in_bounded_memory_and_the_next_one_read(tmp_path: Path) -> None:
    path = write(tmp_path / "f.jsonl", b'{"a": "' + b"x" * 5000 + b'"}\n{"b": 2}\n' + b"y" * 3000)
    lines = list(iter_lines([path], max_line_bytes=1000))
    assert [line.number for line in lines] == [1, 2, 3]
    assert lines[0].problem == "line is 5,010 bytes, over the 1,000-byte limit"
    assert len(lines[0].text) <= 4096 and lines[1].problem is None
    assert lines[2].problem == "line is 3,000 bytes, over the 1,000-byte limit"


def test_deep_json_lines_are_flagged_with_their_depth(tmp_path: Path) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    path = write(tmp_path / "f.jsonl", deep + b"\n[[1]]\n")
    first, second = iter_lines([path])
    assert first.problem == "line nests 10000 levels deep; the limit is 128" and second.problem is None


def test_crlf_line_ends_are_tolerated_and_binary_files_are_recognised(tmp_path: Path) -> None:
    text = write(tmp_path / "f.jsonl", b'{"a": 1}\r\n{"b": 2}\r\n')
    assert [line.text for line in iter_lines([text])] == ['{"a": 1}', '{"b": 2}']
    assert not is_binary(text)
    assert is_binary(write(tmp_path / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


def test_landing_files_leave_a_torn_last_line_until_the_next_append_closes_it(tmp_path: Path) -> None:
    path = write(tmp_path / "2025-03-04.jsonl", b'{"a": 1}\n{"b": ')
    assert [line.text for line in iter_landing_lines([path])] == ['{"a": 1}']
    with DayFileWriter(tmp_path, close_torn_line=True) as files:
        files.append(path.name, b'{"c": 3}\n')
    # The crash's leftover is now a line of its own (quarantined by the parser), the next one intact.
    assert [(line.number, line.text) for line in iter_landing_lines([path])] == [
        (1, '{"a": 1}'), (2, '{"b": '), (3, '{"c": 3}')]


def _envelope_line(delivery_id: str) -> bytes:
    return encode_line(envelope(received_at=datetime(2025, 3, 4, 10, tzinfo=UTC), delivery_id=delivery_id,
                                provider="github", event_type="ping", signature_status="unchecked",
                                headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery_id},
                                body_raw='{"zen":"x"}'))


def _read_webhook_landing(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    # The source `hooks` lands in <landing_dir>/hooks, i.e. `folder`.
    settings = Settings(home=folder.parent, warehouse_path=folder / "w.duckdb", landing_dir=folder.parent,
                        rules_path=folder / "r.yaml", partition_start="2025-01-01")
    entry = {"name": "hooks", "type": "landing_jsonl", "provider": "github"}
    [spec] = sources_from_mapping({"sources": [entry]}, settings=settings)
    return read_landing_jsonl(spec, start=datetime(2025, 3, 4, tzinfo=UTC),
                              end=datetime(2025, 3, 5, tzinfo=UTC), secret=None, load_batch_id="b")


def _read_pulled_landing(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_landed(folder, source="hooks", provider="github", start=datetime(2025, 3, 4, tzinfo=UTC),
                       end=datetime(2025, 3, 5, tzinfo=UTC), load_batch_id="b")


@pytest.mark.parametrize("read", [_read_webhook_landing, _read_pulled_landing], ids=["webhook", "pull"])
def test_both_landing_readers_treat_a_torn_last_line_alike(tmp_path: Path, read) -> None:
    folder = tmp_path / "hooks"
    folder.mkdir()
    whole, torn = _envelope_line("first"), _envelope_line("second")
    path = write(folder / "2025-03-04.jsonl", whole + torn[:-1])  # only the newline is missing
    rows, rejects = read(folder)
    assert rows["delivery_id"].tolist() == ["first"] and rejects.empty
    # The pull dedup agrees with the readers: an id on a torn line is not landed yet, so it is re-landed.
    assert _existing_ids(path, "delivery_id") == {"first"}
    with DayFileWriter(folder, close_torn_line=True) as files:
        files.append(path.name, _envelope_line("third"))
    rows, rejects = read(folder)
    assert rows["delivery_id"].tolist() == ["first", "second", "third"] and rejects.empty
