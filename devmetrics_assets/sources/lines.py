"""Reading delivery files line by line, each line on its own: one bad line never blocks the others.

Every reader of landing and recorded files (the GitHub JSONL parser, the landing-envelope parser, the
command line's pre-scan) takes its lines from `iter_lines`. A line is decoded, measured and depth-checked
here, alone: bytes that are not UTF-8, a line over the size bound or JSON nested past the depth bound
give a `Line` with a `problem` (the reason it is quarantined, with its `file:line` reference) instead of
an exception that would stop the whole file and every later load.

A torn last line (no newline at the end of the file) is read one of two ways, named here once:
- landing day files (`iter_landing_lines`: the receiver's and the pullers' `YYYY-MM-DD.jsonl` and the
  pullers' rejects) leave it unread. Both writers append whole lines and acknowledge a delivery (or
  advance a pull cursor) only after the fsync, so a torn last line is either still being written (the
  next run reads it whole) or a crash's leftover nobody was told was stored (the provider redelivers, the
  puller pulls it again); the next append to that file starts with a newline
  (`DayFileWriter(close_torn_line=True)`), which turns the leftover into one quarantined line.
- recorded files (`iter_lines`, the default): a last line without a newline is usual and complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from devmetrics_assets.bounded_json import MAX_JSON_DEPTH, json_depth

# `YYYY-MM-DD.jsonl`: a file holding one received day (the receiver's, pullers' and generator's convention).
DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl$")
# GitHub caps webhook payloads at 25 MB; the envelope around it adds headers and escaping.
MAX_LINE_BYTES = 32 * 1024 * 1024
# What of an unusable line is kept in quarantine when the whole line is too big to keep.
EXCERPT_BYTES = 4096
# A file whose first bytes hold a NUL is binary (an image, an archive), not JSON lines.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Line:
    """One non-blank line: where it is, its text, and why it cannot be used (None when it can)."""

    path: Path
    number: int
    text: str
    problem: str | None = None

    @property
    def ref(self) -> str:
        return f"file:{self.path.name}:{self.number}"


def line_problem(raw: bytes, max_line_bytes: int = MAX_LINE_BYTES,
                 max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str | None]:
    """(text, problem) for one line's bytes, newline removed. The text is exact when the line is usable,
    else a readable rendering (invalid bytes replaced, a huge line cut to an excerpt)."""
    if len(raw) > max_line_bytes:
        excerpt = raw[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        return excerpt, f"line is {len(raw):,} bytes, over the {max_line_bytes:,}-byte limit"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (raw.decode("utf-8", errors="replace"),
                f"line is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1})")
    depth = json_depth(text, max_depth)
    if depth > max_depth:
        return text[:EXCERPT_BYTES], f"line nests {depth} levels deep; the limit is {max_depth}"
    return text, None


def iter_lines(paths: Iterable[Path], *, partial_last: bool = True,
               max_line_bytes: int = MAX_LINE_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Iterator[Line]:
    """The non-blank lines of `paths`, numbered from 1 in the file (blank lines counted), streamed.

    `partial_last=False` leaves a last line without a newline unread: in a landing file it is still being
    written (the writers append whole lines), and the next run reads it whole. A recorded file's last line
    often has no newline and is complete, hence the default. A trailing carriage return is dropped.
    """
    for path in paths:
        with path.open("rb") as handle:
            yield from iter_handle_lines(path, handle, partial_last=partial_last,
                                         max_line_bytes=max_line_bytes, max_depth=max_depth)


def iter_handle_lines(
    path: Path, handle: BinaryIO, *, first_number: int = 0, partial_last: bool = True,
    max_line_bytes: int = MAX_LINE_BYTES, max_depth: int = MAX_JSON_DEPTH,
) -> Iterator[Line]:
    """`iter_lines` of one open binary handle from its current position, numbered after `first_number`
    (the lines before it in the file): an incremental read names lines as a whole-file read does."""
    number = first_number
    while True:
        # At most one byte past the bound per read, so a file without newlines never fills memory.
        raw = handle.readline(max_line_bytes + 2)
        if not raw:
            break
        number += 1
        if len(raw) > max_line_bytes + 1 and not raw.endswith(b"\n"):
            size, excerpt = len(raw), raw[:EXCERPT_BYTES]
            while True:  # skip the rest of the oversized line
                rest = handle.readline(1024 * 1024)
                size += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield Line(path, number, excerpt.decode("utf-8", errors="replace"),
                       f"line is {size:,} bytes, over the {max_line_bytes:,}-byte limit")
            continue
        if not raw.endswith(b"\n") and not partial_last:
            break
        raw = raw.rstrip(b"\n").rstrip(b"\r")
        if not raw.strip():
            continue
        text, problem = line_problem(raw, max_line_bytes, max_depth)
        yield Line(path, number, text, problem)


def iter_landing_lines(paths: Iterable[Path]) -> Iterator[Line]:
    """The lines of landing day files: a torn last line is left unread (see the module docstring)."""
    return iter_lines(paths, partial_last=False)


def is_binary(path: Path) -> bool:
    """True when the file's first bytes hold a NUL: no JSON-lines file does, every image or archive does."""
    with path.open("rb") as handle:
        return b"\0" in handle.read(SNIFF_BYTES)
