"""Each line is read on its own: undecodable, oversized or too-deep lines are flagged, never raised."""

from __future__ import annotations

from pathlib import Path

from devmetrics_assets.sources.lines import is_binary, iter_lines


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
