"""Reading a landing day file from where the previous load stopped (no Dagster, no storage here).

An offset is (bytes, lines) of a day file already loaded: always the end of a whole line (just after a
newline), so a last line the receiver is still appending is never consumed half-way. Storage keeps one
per (source, file) (`Storage.landing_offsets`, written by `append_bronze` with the deliveries). The lines
after it are numbered as a whole-file read numbers them (`file:<name>:<n>` quarantine references agree).

- `read_new_lines(path, offset)`: the whole lines after `offset`, and the new offset. A file shorter
  than its offset was replaced: it is read from the start (Bronze dedupes by delivery id).
- `whole_lines_offset(path)`: the offset of everything whole in the file now. A full read takes it
  BEFORE reading, so the stored offset never passes a line that read did not see (lines appended during
  the read are read again next time and deduplicated, never skipped).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from devmetrics_assets.sources.lines import Line, iter_handle_lines

BLOCK = 1024 * 1024


@dataclass(frozen=True)
class FileOffset:
    """Bytes and lines of a day file already loaded (both at the end of a whole line)."""

    byte_offset: int = 0
    line_number: int = 0


def read_new_lines(path: Path, offset: FileOffset) -> tuple[list[Line], FileOffset]:
    """The whole lines of `path` after `offset` (a torn last line is left for later) and the new offset."""
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        if size < offset.byte_offset:  # replaced or truncated: read it again from the start
            offset = FileOffset()
        handle.seek(offset.byte_offset)
        data = handle.read(size - offset.byte_offset)
    end = data.rfind(b"\n") + 1
    if end == 0:
        return [], offset
    chunk = data[:end]
    lines = list(iter_handle_lines(path, io.BytesIO(chunk), first_number=offset.line_number,
                                   partial_last=False))
    return lines, FileOffset(offset.byte_offset + end, offset.line_number + chunk.count(b"\n"))


def whole_lines_offset(path: Path) -> FileOffset:
    """The offset just after the last newline of `path` now, with the number of lines before it."""
    lines, last_end, position = 0, 0, 0
    if not path.exists():
        return FileOffset()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            count = block.count(b"\n")
            if count:
                lines += count
                last_end = position + block.rfind(b"\n") + 1
            position += len(block)
    return FileOffset(last_end, lines)
