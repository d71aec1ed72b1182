"""Reading a landing day file from a stored offset (sources/landing_offsets.py)."""

from __future__ import annotations

from pathlib import Path

from devmetrics_assets.sources.landing_offsets import FileOffset, read_new_lines, whole_lines_offset
from devmetrics_assets.sources.lines import iter_landing_lines


def test_a_partial_last_line_waits_until_it_is_whole(tmp_path: Path):
    path = tmp_path / "2025-03-04.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}\n{"c": ')
    lines, offset = read_new_lines(path, FileOffset())
    assert [(x.number, x.text) for x in lines] == [(1, '{"a": 1}'), (3, '{"b": 2}')]
    assert offset == FileOffset(len(b'{"a": 1}\n\n{"b": 2}\n'), 3)
    assert read_new_lines(path, offset) == ([], offset)  # still torn: nothing consumed
    with path.open("ab") as handle:
        handle.write(b'3}\n{"d": 4}\n')
    lines, offset = read_new_lines(path, offset)
    assert [(x.ref, x.text) for x in lines] == [("file:2025-03-04.jsonl:4", '{"c": 3}'),
                                                ("file:2025-03-04.jsonl:5", '{"d": 4}')]
    assert offset == FileOffset(path.stat().st_size, 5)


def test_increments_name_lines_as_a_whole_read_does(tmp_path: Path):
    path = tmp_path / "2025-03-04.jsonl"
    chunks = [b'{"a": 1}\n', b'not json\n\n', b'{"b": 2}\r\n{"c"', b': 3}\n']
    seen, offset = [], FileOffset()
    for chunk in chunks:
        with path.open("ab") as handle:
            handle.write(chunk)
        lines, offset = read_new_lines(path, offset)
        seen.extend(lines)
    assert seen == list(iter_landing_lines([path]))
    assert offset == whole_lines_offset(path)


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path):
    path = tmp_path / "2025-03-04.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    _, offset = read_new_lines(path, FileOffset())
    path.write_bytes(b'{"z": 9}\n')
    lines, new = read_new_lines(path, offset)
    assert [x.text for x in lines] == ['{"z": 9}'] and new == FileOffset(9, 1)


def test_whole_lines_offset_stops_at_the_last_newline(tmp_path: Path):
    path = tmp_path / "2025-03-04.jsonl"
    assert whole_lines_offset(path) == FileOffset()
    path.write_bytes(b"one\ntwo\nthr")
    assert whole_lines_offset(path) == FileOffset(8, 2)
