"""Landing files for pulled records, and reading them back as Bronze rows.

Pulled deliveries are written exactly like the webhook receiver's (contracts §6):
`landing/<source>/<YYYY-MM-DD>.jsonl` by received day, one envelope per line
`{"received_at", "delivery_id", "provider", "event_type", "signature_status", "headers", "body_raw"}`.
The headers carry the provider's own event/delivery headers (`X-GitHub-Event`/`X-GitHub-Delivery`,
`X-Gitlab-Event`/`X-Gitlab-Event-UUID`) so any envelope reader loads them. Rejected API records go to
`landing/<source>/rejects/<YYYY-MM-DD>.jsonl`, by the day of the window that saw them.

Writes are appends of whole lines, flushed and fsynced (and the folder fsynced when a file is created)
before the caller advances a cursor. A delivery id already in the target day file (or the day of its
provider time) is not written again, so overlapping pulls do not grow the files. A partial last line
left by a crash is closed with a newline first: it becomes one quarantined line, not a corrupt neighbour.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from devmetrics_assets.sources.github_jsonl import BRONZE_COLUMNS
from devmetrics_assets.sources.pull.records import Delivery, Reject
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.github_payloads import to_utc
from devmetrics_assets.transforms.quarantine import REJECT_COLUMNS

REJECTS_DIR = "rejects"
NATIVE_HEADERS = {
    "github": ("X-GitHub-Event", "X-GitHub-Delivery"),
    "gitlab": ("X-Gitlab-Event", "X-Gitlab-Event-UUID"),
}


def body_raw(body: dict) -> str:
    """Compact JSON, key order as built: the exact text stored in Bronze and hashed."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def received_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(delivery: Delivery, received_at: datetime) -> dict:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "devmetrics-assets-pull",
        "X-Devmetrics-Transport": "api-pull",
    }
    native = NATIVE_HEADERS.get(delivery.provider)
    if native:
        headers[native[0]] = delivery.event_type
        headers[native[1]] = delivery.delivery_id
    headers.update(delivery.headers)
    return {
        "received_at": received_text(received_at),
        "delivery_id": delivery.delivery_id,
        "provider": delivery.provider,
        "event_type": delivery.event_type,
        "signature_status": "unchecked",
        "headers": headers,
        "body_raw": body_raw(delivery.body),
    }


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
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                value = json.loads(line).get(key)
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(value, str):
                ids.add(value)
    return ids


def _append_lines(path: Path, lines: list[str]) -> None:
    if not lines:
        return
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        if not created and handle.tell() > 0:
            with path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    handle.write(b"\n")
        handle.write("".join(line + "\n" for line in lines).encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    for day, items in sorted(by_day.items()):
        known: set[str] = set()
        for other in {day, *also[day]}:
            known |= _existing_ids(landing_dir / f"{other.isoformat()}.jsonl", "delivery_id")
        lines = []
        for env in items:
            if env["delivery_id"] not in known:
                known.add(env["delivery_id"])
                lines.append(json.dumps(env, ensure_ascii=False))
        _append_lines(landing_dir / f"{day.isoformat()}.jsonl", lines)
        written += len(lines)
    rejects = list(rejects)
    if rejects and reject_day is not None:
        path = landing_dir / REJECTS_DIR / f"{reject_day.isoformat()}.jsonl"
        known = _existing_ids(path, "key")
        lines = []
        for rej in rejects:
            key = hashlib.sha256(f"{rej.ref}|{rej.reason}".encode()).hexdigest()
            if key not in known:
                known.add(key)
                lines.append(
                    json.dumps(
                        {
                            "key": key,
                            "record_ref": rej.ref,
                            "reason": rej.reason,
                            "record": rej.record,
                            "partition_day": reject_day.isoformat(),
                        },
                        ensure_ascii=False,
                    )
                )
        _append_lines(path, lines)
    return written


@dataclass(frozen=True)
class _Line:
    path: Path
    number: int
    text: str

    @property
    def ref(self) -> str:
        return f"file:{self.path.name}:{self.number}"


def _iter_lines(folder: Path, first: date, last: date) -> Iterator[_Line]:
    """Non-blank lines of the `YYYY-MM-DD.jsonl` files of `folder` for days in [first, last)."""
    if not folder.exists():
        return
    for path in sorted(folder.glob("????-??-??.jsonl")):
        try:
            day = date.fromisoformat(path.stem)
        except ValueError:
            continue
        if not first <= day < last:
            continue
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    yield _Line(path, number, text.rstrip("\n"))


def _days(start: datetime, end: datetime) -> tuple[date, date]:
    """Day files that can hold [start, end): end's day is included when end is not midnight."""
    last = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(days=1)
    return start.date(), last


def read_landed(
    landing_dir: Path, *, source: str, provider: str, start: datetime, end: datetime, load_batch_id: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bronze rows for envelopes received in [start, end), and rejects (bad lines, rejected records)."""
    first, last = _days(start, end)
    rows: list[dict] = []
    rejects: list[dict] = []
    loaded_at = pd.Timestamp.now(tz="UTC")
    for line in _iter_lines(landing_dir, first, last):
        day = _line_day(line.path)
        try:
            env = json.loads(line.text)
            if not isinstance(env, dict):
                raise ValueError("line is JSON but not an object envelope")
            received = datetime.fromisoformat(str(env["received_at"])).astimezone(UTC)
            delivery, event_type = str(env["delivery_id"]), str(env["event_type"])
            raw = env["body_raw"]
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("body_raw is not a JSON object")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            rejects.append(
                {
                    "source": source,
                    "record_ref": line.ref,
                    "partition_day": day,
                    "reason": f"unreadable landing line: {type(exc).__name__}: {exc}",
                    "record": line.text,
                }
            )
            continue
        if not start <= received < end:
            continue
        headers = env.get("headers") if isinstance(env.get("headers"), dict) else {}
        row_provider = str(env.get("provider") or provider)
        rows.append(
            {
                "source": source,
                "provider": row_provider,
                "delivery_id": delivery,
                "event_type": event_type,
                "received_at": received,
                "received_day": datetime(received.year, received.month, received.day),
                "event_at": anchor_value(row_provider, event_type, body),
                "headers": json.dumps(headers, sort_keys=True),
                "body": raw,
                "payload_sha256": hashlib.sha256(raw.encode("utf-8")).hexdigest(),
                "signature_status": "unchecked",
                "load_batch_id": load_batch_id,
                "loaded_at": loaded_at,
            }
        )
    rejects.extend(_read_rejects(landing_dir / REJECTS_DIR, source, first, last))
    return _bronze_frame(rows), _reject_frame(rejects)


def _line_day(path: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(path.stem)
    except ValueError:
        return None


def _read_rejects(folder: Path, source: str, first: date, last: date) -> list[dict]:
    out: list[dict] = []
    for line in _iter_lines(folder, first, last):
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


def _bronze_frame(rows: list[dict]) -> pd.DataFrame:
    bronze = pd.DataFrame(rows, columns=BRONZE_COLUMNS)
    bronze["event_at"] = to_utc(bronze["event_at"])[0].to_numpy()
    for column in ("received_at", "event_at", "loaded_at"):
        bronze[column] = pd.to_datetime(bronze[column], utc=True).astype("datetime64[us, UTC]")
    bronze["received_day"] = pd.to_datetime(bronze["received_day"]).astype("datetime64[us]")
    anchor_day = bronze["event_at"].dt.tz_convert(None).dt.floor("D").astype("datetime64[us]")
    bronze["event_day"] = anchor_day.fillna(bronze["received_day"])
    return bronze.sort_values(["received_at", "delivery_id"], kind="stable").reset_index(drop=True)


def _reject_frame(rejects: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rejects, columns=REJECT_COLUMNS)
    frame["partition_day"] = pd.to_datetime(frame["partition_day"]).astype("datetime64[us]")
    return frame
