"""Read the landing envelopes the webhook receiver and the API pullers write (docs/contracts.md §6).

One file per received day, `landing/<source>/<YYYY-MM-DD>.jsonl`, one envelope per line:
`{"received_at", "delivery_id", "provider", "event_type", "signature_status", "headers", "body_raw"}`.
The receiver verified the signature before writing, so `signature_status` is taken from the envelope
and the secret is not needed here. Nothing touches storage or Dagster: the result is (Bronze rows,
rejects) exactly like `github_jsonl.parse_deliveries`, and a line that cannot be used becomes a reject
with its reason and `file:line` reference, never a silent drop.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from devmetrics_assets.sources.github_jsonl import BRONZE_COLUMNS
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.github_payloads import to_utc
from devmetrics_assets.transforms.quarantine import REJECT_COLUMNS

if TYPE_CHECKING:
    from devmetrics_assets.sources.registry import SourceSpec

DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.jsonl$")
SIGNATURE_STATUSES = ("verified", "unchecked")


@dataclass(frozen=True)
class LandingLine:
    path: Path
    number: int
    text: str

    @property
    def ref(self) -> str:
        return f"file:{self.path.name}:{self.number}"


def day_files(folder: Path, start: date | None = None, end: date | None = None) -> list[Path]:
    """The `YYYY-MM-DD.jsonl` files of `folder` whose day is in [start, end). Other files (the
    receiver's index, rejects folder) are never read as deliveries."""
    if not folder.exists():
        return []
    picked = []
    for path in sorted(folder.iterdir()):
        match = DAY_FILE.match(path.name)
        if not match or not path.is_file():
            continue
        day = date.fromisoformat(match.group(1))
        if (start is None or day >= start) and (end is None or day < end):
            picked.append(path)
    return picked


def iter_complete_lines(paths: Iterable[Path]) -> Iterator[LandingLine]:
    """Non-blank, COMPLETE lines. The receiver appends whole lines ending in a newline; a last line
    without one is still being written, so it is left for the next run instead of being rejected."""
    for path in paths:
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        for number, raw in enumerate(data[:end].split(b"\n")[:-1], start=1):
            text = raw.decode("utf-8", errors="surrogateescape")
            if text.strip():
                yield LandingLine(path, number, text)


def parse_landing(
    lines: Iterable[LandingLine],
    *,
    source: str,
    provider: str,
    load_batch_id: str,
    received_start: datetime | None = None,
    received_end: datetime | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn envelope lines into (Bronze rows, rejects).

    Only deliveries received in [received_start, received_end) are returned (the Bronze partition
    window). Timestamps (received_at and the event anchors) are parsed for all lines at once.
    """
    loaded_at = pd.Timestamp.now(tz="UTC")
    rejects: list[dict] = []
    kept: list[tuple[LandingLine, dict]] = []
    for line in lines:
        try:
            envelope = json.loads(line.text)
        except json.JSONDecodeError as exc:
            rejects.append(_reject(source, line, f"line is not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(envelope, dict):
            rejects.append(_reject(source, line, "line is JSON but not an object envelope"))
            continue
        kept.append((line, envelope))

    received = to_utc([envelope.get("received_at") for _, envelope in kept])[0]
    in_window = received.notna().to_numpy(dtype=bool).copy()
    for i in (~in_window).nonzero()[0]:
        rejects.append(_reject(source, kept[i][0], "received_at is missing or not a timestamp"))
    if received_start is not None:
        in_window &= (received >= _utc(received_start)).fillna(False).to_numpy(dtype=bool)
    if received_end is not None:
        in_window &= (received < _utc(received_end)).fillna(False).to_numpy(dtype=bool)

    rows: list[dict] = []
    positions: list[int] = []
    for i in in_window.nonzero()[0]:
        line, envelope = kept[i]
        row, reason = _row(envelope, source, provider)
        if reason is not None:
            rejects.append(_reject(source, line, reason, received.iloc[i].tz_convert(None).floor("D")))
            continue
        rows.append(row)
        positions.append(i)
    bronze = pd.DataFrame(rows, columns=BRONZE_COLUMNS)
    bronze["received_at"] = received.iloc[positions].reset_index(drop=True)
    bronze["load_batch_id"] = load_batch_id
    bronze["loaded_at"] = loaded_at
    return _frame(bronze), _rejects_frame(rejects)


def _utc(value: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
        body = json.loads(raw)
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
        # Parsed for all rows at once in _frame.
        "event_at": anchor_value(provider, event_type, body),
        "headers": json.dumps(headers, sort_keys=True),
        "body": raw,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "signature_status": status,
    }, None


def _frame(bronze: pd.DataFrame) -> pd.DataFrame:
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


def _rejects_frame(rejects: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    frame["partition_day"] = pd.to_datetime(frame["partition_day"]).astype("datetime64[us]")
    return frame


def read_landing_jsonl(
    spec: SourceSpec, *, start: datetime, end: datetime, secret: str | None, load_batch_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Landing envelopes of `spec` received in [start, end). `secret` is unused: the receiver (or the
    puller) already decided `signature_status` before writing the line."""
    del secret
    # Day files cover [start's day, the day holding the last instant before end].
    last_day = (_utc(end) - pd.Timedelta(microseconds=1)).date()
    lines = iter_complete_lines(day_files(spec.landing_dir, _utc(start).date(), last_day + timedelta(days=1)))
    return parse_landing(lines, source=spec.name, provider=spec.provider, load_batch_id=load_batch_id,
                         received_start=start, received_end=end)
