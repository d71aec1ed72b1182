"""Which write is visible where: the versioned-partition scheme of the MongoDB backend.

Every Silver/Gold write stores its rows tagged with a fresh write id, then makes them visible by
appending one segment {id, start, end, at} to the table's head document in ONE update. For a
partition value x, the visible rows are those of the LAST segment whose window contains x. So a
reader sees either the old rows or the new rows of a window, never a mix, on any deployment
(standalone, replica set, sharded), and a writer that dies before the flip leaves only invisible
staged rows. Superseded writes are deleted later, by write id only (a metaField-only delete on a
time-series collection), once fully shadowed for longer than a grace period, so a reader that
resolved the head just before a flip can still finish.

Pure functions on plain values (no pymongo), so the scheme is unit-testable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

_LOW = datetime.min
_HIGH = datetime.max


def _lo(value: datetime | None) -> datetime:
    return _LOW if value is None else value


def _hi(value: datetime | None) -> datetime:
    return _HIGH if value is None else value


def _subtract(spans: list[tuple[datetime, datetime]], a: datetime, b: datetime) -> tuple[list, list]:
    """(parts of spans inside [a, b), parts outside)."""
    inside, outside = [], []
    for lo, hi in spans:
        x, y = max(lo, a), min(hi, b)
        if x < y:
            inside.append((x, y))
            if lo < x:
                outside.append((lo, x))
            if y < hi:
                outside.append((y, hi))
        else:
            outside.append((lo, hi))
    return inside, outside


def visible_pieces(
    segments: Sequence[dict[str, Any]], start: datetime | None, end: datetime | None
) -> list[tuple[str, datetime | None, datetime | None]]:
    """[(write id, piece start, piece end)] that are current inside [start, end); None = unbounded."""
    uncovered = [(_lo(start), _hi(end))]
    pieces: list[tuple[str, datetime | None, datetime | None]] = []
    for seg in reversed(segments):
        if not uncovered:
            break
        inside, uncovered = _subtract(uncovered, _lo(seg.get("start")), _hi(seg.get("end")))
        for x, y in inside:
            pieces.append((seg["id"], None if x == _LOW else x, None if y == _HIGH else y))
    return pieces


def pieces_filter(
    pieces: Sequence[tuple[str, datetime | None, datetime | None]], version_field: str, column: str | None
) -> dict[str, Any] | None:
    """A MongoDB filter selecting exactly the visible rows; None when nothing is visible."""
    by_version: dict[str, list[dict[str, Any]]] = {}
    for wid, a, b in pieces:
        cond: dict[str, Any] = {}
        if a is not None:
            cond["$gte"] = a
        if b is not None:
            cond["$lt"] = b
        by_version.setdefault(wid, []).append({column: cond} if cond and column else {})
    clauses = []
    for wid, ranges in by_version.items():
        if any(not r for r in ranges):
            clauses.append({version_field: wid})
        elif len(ranges) == 1:
            clauses.append({version_field: wid, **ranges[0]})
        else:
            clauses.append({version_field: wid, "$or": ranges})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def shadowed_since(seg: dict[str, Any], later: Sequence[dict[str, Any]]) -> datetime | None:
    """When `seg` became fully hidden by later segments (their latest commit time), else None."""
    spans = [(_lo(seg.get("start")), _hi(seg.get("end")))]
    since: datetime | None = None
    for other in later:
        inside, spans = _subtract(spans, _lo(other.get("start")), _hi(other.get("end")))
        if inside:
            since = other["at"] if since is None else max(since, other["at"])
    return since if not spans else None


def collectable(segments: Sequence[dict[str, Any]], now: datetime, grace_seconds: float) -> list[str]:
    """Write ids fully shadowed for at least the grace period: safe to delete."""
    out = []
    for i, seg in enumerate(segments[:-1]):
        since = shadowed_since(seg, segments[i + 1 :])
        if since is not None and (now - since).total_seconds() >= grace_seconds:
            out.append(seg["id"])
    return out
