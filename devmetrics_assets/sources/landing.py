"""Read the landing envelopes the webhook receiver and the API pullers write (docs/contracts.md §6).

One file per received day, `landing/<source>/<YYYY-MM-DD>.jsonl`, one envelope per line:
`{"received_at", "delivery_id", "provider", "event_type", "signature_status", "headers", "body_raw"}`.
The receiver verified the signature before writing, so `signature_status` is taken from the envelope
and the secret is not needed here. Nothing touches storage or Dagster: the result is (Bronze rows,
rejects) exactly like `github_jsonl.parse_deliveries`, and a line that cannot be used becomes a reject
with its reason and `file:line` reference, never a silent drop. The layout (which day files, which
lines) is landing_files.py's, shared with the writers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from devmetrics_assets import bounded_json
from devmetrics_assets.providers.github.recorded_jsonl import BRONZE_COLUMNS
from devmetrics_assets.sources.landing_files import (
    LandingLine,
    day_files,
    import_files,
    iter_landing_lines,
    iter_lines,
    window_days,
)
from devmetrics_assets.sources.landing_offsets import FileOffset, read_new_lines, whole_lines_offset
from devmetrics_assets.sources.recorded import as_landing, is_recorded
from devmetrics_assets.sources.time_bounds import TimeBounds
from devmetrics_assets.storage.tables import RECORD_REF
from devmetrics_assets.timeutil import as_utc
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.payloads import to_utc
from devmetrics_assets.transforms.quarantine import REJECT_COLUMNS

if TYPE_CHECKING:
    from devmetrics_assets.sources.registry import SourceSpec

SIGNATURE_STATUSES = ("verified", "unchecked")


def parse_landing(
    lines: Iterable[LandingLine],
    *,
    source: str,
    provider: str,
    load_batch_id: str,
    received_start: datetime | None = None,
    received_end: datetime | None = None,
    bounds: TimeBounds | None = None,
    secret: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn envelope lines into (Bronze rows, rejects).

    Landing envelopes carry the signature verdict of the receiver or puller that wrote them; a recorded
    delivery (sources/recorded.py) is verified here with `secret` (None: stored `unchecked`).

    Only deliveries received in [received_start, received_end) are returned (the Bronze partition
    window). Timestamps (received_at and the event anchors) are parsed for all lines at once; those
    outside `bounds` are rejected. A line sources/lines.py could not read is rejected with its problem.
    """
    bounds = bounds or TimeBounds.unbounded()
    loaded_at = pd.Timestamp.now(tz="UTC")
    rejects: list[dict] = []
    kept: list[tuple[LandingLine, dict]] = []
    for line in lines:
        if line.problem is not None:
            rejects.append(_reject(source, line, line.problem))
            continue
        try:
            envelope = json.loads(line.text)  # depth-bounded by sources/lines.py
        except json.JSONDecodeError as exc:
            rejects.append(_reject(source, line, f"line is not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(envelope, dict):
            rejects.append(_reject(source, line, "line is JSON but not an object envelope"))
            continue
        kept.append((line, envelope))

    received = to_utc([envelope.get("received_at") for _, envelope in kept])[0]
    time_problems = bounds.reasons("received_at", received)
    in_window = received.notna().to_numpy(dtype=bool).copy()
    for i in (~in_window).nonzero()[0]:
        rejects.append(_reject(source, kept[i][0], "received_at is missing or not a timestamp"))
    for i in time_problems.notna().to_numpy(dtype=bool).nonzero()[0]:
        rejects.append(_reject(source, kept[i][0], time_problems.iloc[i]))
        in_window[i] = False
    if received_start is not None:
        in_window &= (received >= as_utc(received_start)).fillna(False).to_numpy(dtype=bool)
    if received_end is not None:
        in_window &= (received < as_utc(received_end)).fillna(False).to_numpy(dtype=bool)

    rows: list[dict] = []
    positions: list[int] = []
    for i in in_window.nonzero()[0]:
        line, envelope = kept[i]
        if is_recorded(envelope):
            envelope, reason = as_landing(envelope, provider, secret, options)
            if reason is not None:
                rejects.append(_reject(source, line, reason, received.iloc[i].tz_convert(None).floor("D")))
                continue
        row, reason = _row(envelope, source, provider)
        if reason is not None:
            rejects.append(_reject(source, line, reason, received.iloc[i].tz_convert(None).floor("D")))
            continue
        row[RECORD_REF] = line.ref
        rows.append(row)
        positions.append(i)
    bronze = pd.DataFrame(rows, columns=BRONZE_COLUMNS)
    bronze["received_at"] = received.iloc[positions].reset_index(drop=True)
    bronze["load_batch_id"] = load_batch_id
    bronze["loaded_at"] = loaded_at
    bronze = bronze_frame(bronze)
    return _reject_event_times(bronze, rejects, kept, positions, bounds, source)


def _reject_event_times(bronze: pd.DataFrame, rejects: list[dict], kept: list, positions: list[int],
                        bounds: TimeBounds, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose event time (anchor) is outside the bounds become rejects of their received day."""
    problems = bounds.reasons("event time", bronze["event_at"])
    bad = problems.notna().to_numpy(dtype=bool)
    for i in bad.nonzero()[0]:
        line = kept[positions[i]][0]
        rejects.append(_reject(source, line, problems.iloc[i], bronze["received_day"].iloc[i]))
    return bronze[~bad].reset_index(drop=True), rejects_frame(rejects)


def _row(envelope: dict, source: str, provider: str) -> tuple[dict, str | None]:
    """One Bronze row from an envelope, or the reason it cannot be one."""
    delivery_id = envelope.get("delivery_id")
    if not isinstance(delivery_id, str | int) or delivery_id == "" or isinstance(delivery_id, bool):
        return {}, "delivery_id is missing"
    event_type = envelope.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        return {}, "event_type is missing"
    if envelope.get("provider", provider) != provider:
        return {}, f"provider {envelope.get('provider')!r} does not match the source's provider {provider!r}"
    status = envelope.get("signature_status")
    if status not in SIGNATURE_STATUSES:
        return {}, f"signature_status {status!r} is not one of {list(SIGNATURE_STATUSES)}"
    headers = envelope.get("headers", {})
    if not isinstance(headers, dict):
        return {}, "headers is not an object"
    raw = envelope.get("body_raw")
    if not isinstance(raw, str):
        return {}, "body_raw is missing or not text"
    try:
        body = bounded_json.loads(raw, what="body_raw")
    except bounded_json.JsonTooDeepError as exc:
        return {}, str(exc)
    except json.JSONDecodeError:
        return {}, "body_raw is not valid JSON"
    if not isinstance(body, dict):
        return {}, "body_raw is not a JSON object"
    payload = raw.encode("utf-8", errors="surrogateescape")
    return {
        "source": source,
        "provider": provider,
        "delivery_id": str(delivery_id),
        "event_type": event_type,
        # Parsed for all rows at once in bronze_frame.
        "event_at": anchor_value(provider, event_type, body),
        "headers": json.dumps(headers, sort_keys=True),
        "body": raw,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature_status": status,
    }, None


def bronze_frame(bronze: pd.DataFrame) -> pd.DataFrame:
    """Bronze rows with `received_at` and raw `event_at` anchors set, typed as the contract's columns:
    times UTC (us), `received_day` from `received_at`, `event_day` from the anchor (shared by the pullers)."""
    bronze["event_at"] = to_utc(bronze["event_at"])[0].to_numpy()
    for column in ("received_at", "event_at", "loaded_at"):
        bronze[column] = pd.to_datetime(bronze[column], utc=True).astype("datetime64[us, UTC]")
    bronze["received_day"] = bronze["received_at"].dt.tz_convert(None).dt.floor("D").astype("datetime64[us]")
    # No usable anchor: the delivery stays in its received day, where Silver can quarantine it.
    anchor_day = bronze["event_at"].dt.tz_convert(None).dt.floor("D").astype("datetime64[us]")
    bronze["event_day"] = anchor_day.fillna(bronze["received_day"])
    return bronze


def _reject(source: str, line: LandingLine, reason: str, day: Any = None) -> dict:
    return {"source": source, "record_ref": line.ref, "partition_day": day, "reason": reason,
            "record": line.text}


def rejects_frame(rejects: list[dict]) -> pd.DataFrame:
    """Reject rows as the quarantine's columns (shared by the pullers)."""
    frame = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    frame["partition_day"] = pd.to_datetime(frame["partition_day"]).astype("datetime64[us]")
    return frame


def read_landing_jsonl(
    spec: SourceSpec, *, start: datetime, end: datetime, secret: str | None, load_batch_id: str,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deliveries of `spec` received in [start, end): the day files the receiver (or a puller) wrote, whose
    last line may still be being written, and the recorded files `devmetrics load` copied in, read whole.
    `secret` verifies recorded deliveries; landing envelopes carry their own verdict."""
    days = iter_landing_lines(day_files(spec.landing_dir, *window_days(start, end)))
    imports = iter_lines(import_files(spec.landing_dir))
    return parse_landing(itertools.chain(days, imports), source=spec.name, provider=spec.provider,
                         load_batch_id=load_batch_id, received_start=start, received_end=end, bounds=bounds,
                         secret=secret, options=spec.options)


def read_landing_increment(
    spec: SourceSpec, *, start: datetime, end: datetime, offsets: Mapping[str, tuple[int, int]],
    load_batch_id: str, bounds: TimeBounds | None = None, secret: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, str, int, int]]]:
    """(Bronze rows, rejects, new offsets) of the whole lines of `spec`'s day files in [start, end) after
    the stored `offsets` (file name -> (bytes, lines)): what an event-driven load reads (`secret` verifies
    recorded deliveries, as in `read_landing_jsonl`). Recorded files
    `devmetrics load` copied in are not read here (the full read of that command's runs reads them)."""
    lines: list[LandingLine] = []
    new: list[tuple[str, str, int, int]] = []
    for path in day_files(spec.landing_dir, *window_days(start, end)):
        got, offset = read_new_lines(path, FileOffset(*offsets.get(path.name, (0, 0))))
        lines.extend(got)
        new.append((spec.name, path.name, offset.byte_offset, offset.line_number))
    rows, rejects = parse_landing(lines, source=spec.name, provider=spec.provider,
                                  load_batch_id=load_batch_id, received_start=start, received_end=end,
                                  bounds=bounds, secret=secret, options=spec.options)
    return rows, rejects, new


def landing_offsets_now(spec: SourceSpec, start: datetime, end: datetime) -> list[tuple[str, str, int, int]]:
    """The offsets of everything whole in `spec`'s day files of [start, end) now: a full read takes them
    before reading, so they never pass a line it did not see (sources/landing_offsets.py)."""
    out = []
    for path in day_files(spec.landing_dir, *window_days(start, end)):
        offset = whole_lines_offset(path)
        out.append((spec.name, path.name, offset.byte_offset, offset.line_number))
    return out
