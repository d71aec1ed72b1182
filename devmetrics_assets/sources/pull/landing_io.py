"""Landing files for pulled records, and reading them back as Bronze rows.

Pulled deliveries are written exactly like the webhook receiver's (contracts §6):
`landing/<source>/<YYYY-MM-DD>.jsonl` by received day, one envelope per line
`{"received_at", "delivery_id", "provider", "event_type", "signature_status", "headers", "body_raw"}`.
The headers carry the provider's own event/delivery headers (`X-GitHub-Event`/`X-GitHub-Delivery`,
`X-Gitlab-Event`/`X-Gitlab-Event-UUID`) so any envelope reader loads them. Rejected API records go to
`landing/<source>/rejects/<YYYY-MM-DD>.jsonl`, by the day of the window that saw them.

The layout, the envelope and the durable append are the receiver's (sources/landing_files.py): writes
are appends of whole lines, fsynced (and the folder fsynced when a file is created) before the caller
advances a cursor. A delivery id already in the target day file (or the day of its
provider time) is not written again, so overlapping pulls do not grow the files. A partial last line
left by a crash is closed with a newline first: it becomes one quarantined line, not a corrupt neighbour
(until then readers leave it unread, like every landing reader: sources/lines.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.sources.landing import parse_landing, rejects_frame
from devmetrics_assets.sources.landing_files import (
    DayFileWriter,
    LandingLine,
    day_file,
    day_file_name,
    day_files,
    encode_line,
    iter_landing_lines,
    window_days,
)
from devmetrics_assets.sources.landing_files import envelope as landing_envelope
from devmetrics_assets.sources.pull.records import Delivery, Reject
from devmetrics_assets.sources.time_bounds import TimeBounds

REJECTS_DIR = "rejects"
# Pulled files have always been created like open(..., "a") does (0o666 before the umask).
FILE_MODE = 0o666


def body_raw(body: dict) -> str:
    """Compact JSON, key order as built: the exact text stored in Bronze and hashed."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def envelope(delivery: Delivery, received_at: datetime) -> dict:
    """The landing envelope of a pulled delivery, with the provider's own event/delivery headers."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "devmetrics-assets-pull",
        "X-Devmetrics-Transport": "api-pull",
    }
    system = PROVIDERS.get(delivery.provider)
    native = system.webhook.native_headers if system else None
    if native:
        headers[native[0]] = delivery.event_type
        headers[native[1]] = delivery.delivery_id
    headers.update(delivery.headers)
    return landing_envelope(
        received_at=received_at,
        delivery_id=delivery.delivery_id,
        provider=delivery.provider,
        event_type=delivery.event_type,
        signature_status="unchecked",
        headers=headers,
        body_raw=body_raw(delivery.body),
    )


@contextmanager
def source_lock(landing_dir: Path) -> Iterator[None]:
    """One puller per source at a time (two Bronze runs must not interleave appends and cursors)."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    with (landing_dir / ".pull.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _existing_ids(path: Path, key: str) -> set[str]:
    if not path.exists():
        return set()
    ids: set[str] = set()
    # Read as the Bronze reader reads it: an id on a torn last line is not landed yet.
    for line in iter_landing_lines([path]):
        try:
            value = json.loads(line.text).get(key)
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, str):
            ids.add(value)
    return ids


def _writer(folder: Path) -> DayFileWriter:
    return DayFileWriter(folder, mode=FILE_MODE, close_torn_line=True)


def land(
    landing_dir: Path,
    envelopes: Iterable[tuple[dict, date]],
    rejects: Iterable[Reject] = (),
    *,
    reject_day: date | None = None,
) -> int:
    """Append envelopes (with the day of their provider time, also checked for duplicates) and rejects;
    fsync before returning. Returns how many envelopes were written."""
    by_day: dict[date, list[dict]] = {}
    also: dict[date, set[date]] = {}
    for env, version_day in envelopes:
        day = datetime.fromisoformat(env["received_at"]).date()
        by_day.setdefault(day, []).append(env)
        also.setdefault(day, set()).add(version_day)
    written = 0
    with _writer(landing_dir) as files:
        for day, items in sorted(by_day.items()):
            known: set[str] = set()
            for other in {day, *also[day]}:
                known |= _existing_ids(day_file(landing_dir, other), "delivery_id")
            lines = []
            for env in items:
                if env["delivery_id"] not in known:
                    known.add(env["delivery_id"])
                    lines.append(encode_line(env, compact=False))
            if lines:
                files.append(day_file_name(day), b"".join(lines))
            written += len(lines)
    rejects = list(rejects)
    if rejects and reject_day is not None:
        folder = landing_dir / REJECTS_DIR
        known = _existing_ids(day_file(folder, reject_day), "key")
        lines = []
        for rej in rejects:
            key = hashlib.sha256(f"{rej.ref}|{rej.reason}".encode()).hexdigest()
            if key not in known:
                known.add(key)
                lines.append(
                    encode_line(
                        {
                            "key": key,
                            "record_ref": rej.ref,
                            "reason": rej.reason,
                            "record": rej.record,
                            "partition_day": reject_day.isoformat(),
                        },
                        compact=False,
                    )
                )
        if lines:
            with _writer(folder) as files:
                files.append(day_file_name(reject_day), b"".join(lines))
    return written


def _window_lines(folder: Path, start: datetime, end: datetime) -> Iterator[LandingLine]:
    """Every non-blank line of the day files that can hold [start, end). A torn last line is left unread,
    as in the webhook landing files (sources/lines.py): it was never fsynced whole, so its cursor did not
    advance and the next pull lands it again; the next append closes it into a quarantined line."""
    return iter_landing_lines(day_files(folder, *window_days(start, end)))


def read_landed(
    landing_dir: Path, *, source: str, provider: str, start: datetime, end: datetime, load_batch_id: str,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bronze rows for envelopes received in [start, end), and rejects (bad lines, rejected records).

    The envelopes are the receiver's format, so the receiver's parser reads them (sources/landing.py);
    pulled records are stored `unchecked` (an API answer carries no webhook signature)."""
    bronze, rejects = parse_landing(_window_lines(landing_dir, start, end), source=source, provider=provider,
                                    load_batch_id=load_batch_id, received_start=start, received_end=end,
                                    bounds=bounds)
    pulled = rejects_frame(_read_rejects(landing_dir / REJECTS_DIR, source, start, end))
    rejects = pd.concat([rejects, pulled], ignore_index=True) if len(pulled) else rejects
    bronze = bronze.sort_values(["received_at", "delivery_id"], kind="stable").reset_index(drop=True)
    return bronze, rejects


def _line_day(path: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(path.stem)
    except ValueError:
        return None


def _read_rejects(folder: Path, source: str, start: datetime, end: datetime) -> list[dict]:
    out: list[dict] = []
    for line in _window_lines(folder, start, end):
        try:
            item = json.loads(line.text)
            out.append(
                {
                    "source": source,
                    "record_ref": str(item["record_ref"]),
                    "partition_day": datetime.fromisoformat(str(item["partition_day"])),
                    "reason": str(item["reason"]),
                    "record": str(item["record"]),
                }
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            out.append(
                {
                    "source": source,
                    "record_ref": line.ref,
                    "partition_day": _line_day(line.path),
                    "reason": f"unreadable reject line: {type(exc).__name__}",
                    "record": line.text,
                }
            )
    return out
