"""Read recorded GitHub webhook deliveries (JSONL envelopes) into Bronze rows.

One envelope per line: `received_at`, `delivery_id`, `headers` (with `X-GitHub-Event`,
`X-GitHub-Delivery`, `X-Hub-Signature-256`) and `body` (or `body_raw`, the exact bytes as text).
Nothing here touches storage or Dagster: the result is a frame of Bronze rows and a frame of
rejects that the caller quarantines. A line that cannot be used is never dropped: it becomes a
reject with its reason and its `file:line` reference. Lines are read one by one (sources/lines.py), so
bytes that are not UTF-8, an oversized line or JSON nested too deep reject that line only; received and
event times outside the history floor and the allowed future skew are rejected (sources/time_bounds.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from devmetrics_assets.bounded_json import MAX_JSON_DEPTH, json_depth
from devmetrics_assets.providers.github.anchors import ANCHOR_PATHS, event_anchor_value
from devmetrics_assets.sources.lines import DAY_FILE, Line, iter_lines
from devmetrics_assets.sources.time_bounds import TimeBounds
from devmetrics_assets.storage import tables as T
from devmetrics_assets.timeutil import as_utc
from devmetrics_assets.transforms.payloads import to_utc
from devmetrics_assets.transforms.quarantine import REJECT_COLUMNS

if TYPE_CHECKING:  # sources/registry.py reads the provider registry
    from devmetrics_assets.sources.registry import SourceSpec

PROVIDER = "github"

# What a reader returns: the bronze_deliveries columns but load_seq, which storage assigns on append,
# plus `record_ref` (file:line), which the Bronze asset uses to trace a row back and never stores.
BRONZE_COLUMNS = [*(c for c in T.BRONZE_COLUMNS if c != "load_seq"), T.RECORD_REF]


def body_bytes(envelope: dict) -> bytes:
    """The bytes GitHub signed: `body_raw` when recorded, else the compact JSON of `body`."""
    raw = envelope.get("body_raw")
    if isinstance(raw, str):
        return raw.encode("utf-8")
    return json.dumps(envelope.get("body"), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature_for(secret: str, payload: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `payload`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def verify_signature(secret: str, payload: bytes, header_value: str | None) -> bool:
    """Constant-time comparison, as GitHub recommends, of bytes: a header with non-ASCII text is simply
    a mismatch (comparing `str`s would raise TypeError and fail the whole file)."""
    if not isinstance(header_value, str) or not header_value:
        return False
    given = header_value.strip().encode("utf-8", errors="surrogateescape")
    return hmac.compare_digest(signature_for(secret, payload).encode("ascii"), given)


def _hmac_pads(secret: str) -> tuple[str, str]:
    """HMAC-SHA256 inner/outer padded keys as hex, so SQL can compute HMAC from sha256 (RFC 2104)."""
    key = secret.encode("utf-8")
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def _anchor_sql() -> str:
    """GitHub's anchor rule (anchors.ANCHOR_PATHS) as one SQL CASE over `body`."""
    cases = []
    for event, paths in ANCHOR_PATHS.items():
        values = ", ".join(
            "nullif(json_extract_string(body, '$." + ".".join(path) + "'), '')" for path in paths
        )
        cases.append(f"WHEN '{event}' THEN coalesce({values})")
    return f"CASE event_type {' '.join(cases)} END"


def _header_sql(name: str) -> str:
    # HTTP header names are case-insensitive and recorded files differ in case.
    key = f"list_filter(json_keys(headers), lambda k: lower(k) = '{name.lower()}')[1]"
    return f"json_extract_string(headers, '/' || {key})"


# One row per usable line (`lines_in`: ref, text; sources/lines.py read, decoded and bounded them); each
# envelope check in order gives the first failing reason (nothing is silently dropped). Times without an
# offset are UTC (the connection's time zone). An event time that cannot be represented is no anchor.
PARSE_SQL = """
WITH envelopes AS MATERIALIZED (
    SELECT ref, text, is_json,
           CASE WHEN is_json THEN json_type(text) END AS shape,
           CASE WHEN is_json AND json_type(text) = 'OBJECT' THEN json_transform(text, $envelope) END AS e
    FROM (SELECT ref, text, json_valid(text) AS is_json FROM lines_in)
), fields AS (
    SELECT ref, text, is_json, shape,
           try_cast(e.received_at AS TIMESTAMPTZ) AS received_at,
           e.headers AS headers, e.body_raw AS body_raw, e.body AS body_json,
           e.delivery_id AS envelope_delivery_id
    FROM envelopes
), headed AS MATERIALIZED (
    SELECT *,
           coalesce(nullif(envelope_delivery_id, ''), {delivery_header}) AS delivery_id,
           {event_header} AS event_type,
           {signature_header} AS signature,
           CASE WHEN body_raw IS NOT NULL THEN body_raw ELSE body_json::VARCHAR END AS body,
           CASE WHEN body_raw IS NOT NULL THEN (CASE WHEN json_valid(body_raw) THEN json_type(body_raw) END)
                ELSE json_type(body_json) END AS body_shape
    FROM fields
), anchored AS (
    SELECT *, try_cast(event_at_raw AS DOUBLE) AS epoch FROM (SELECT *, {anchor} AS event_at_raw FROM headed)
), timed AS (
    -- Epoch seconds (milliseconds tolerated) or ISO-8601, like payloads.to_utc.
    SELECT * EXCLUDE (epoch),
           CASE WHEN epoch IS NOT NULL
                THEN try(to_timestamp(CASE WHEN abs(epoch) >= 1e11 THEN epoch / 1000 ELSE epoch END))
                ELSE try_cast(event_at_raw AS TIMESTAMPTZ) END AS event_at,
           received_at BETWEEN $earliest AND $latest AS received_ok
    FROM anchored
), judged AS (
    SELECT *, CASE
        WHEN NOT is_json THEN 'line is not valid JSON'
        WHEN shape <> 'OBJECT' THEN 'line is JSON but not an object envelope'
        WHEN received_at IS NULL THEN 'received_at is missing or not a timestamp'
        WHEN received_at < $earliest THEN 'received_at ' || strftime(received_at, '%Y-%m-%dT%H:%M:%SZ')
             || ' is before the history floor ' || $floor_text || ' (DEVMETRICS_HISTORY_FLOOR)'
        WHEN received_at > $latest THEN 'received_at ' || strftime(received_at, '%Y-%m-%dT%H:%M:%SZ')
             || ' is more than ' || $skew_text || ' h in the future (DEVMETRICS_FUTURE_SKEW_HOURS)'
        WHEN headers IS NULL OR json_type(headers) <> 'OBJECT' THEN 'headers is missing or not an object'
        WHEN delivery_id IS NULL OR delivery_id = '' OR event_type IS NULL OR event_type = ''
            THEN 'delivery id (delivery_id / X-GitHub-Delivery) or X-GitHub-Event is missing'
        WHEN body_raw IS NOT NULL AND body_shape IS NULL THEN 'body_raw is not valid JSON'
        WHEN body_shape IS DISTINCT FROM 'OBJECT' THEN 'body is missing or not a JSON object'
        WHEN event_at < $earliest THEN 'event time ' || strftime(event_at, '%Y-%m-%dT%H:%M:%SZ')
             || ' is before the history floor ' || $floor_text || ' (DEVMETRICS_HISTORY_FLOOR)'
        WHEN event_at > $latest THEN 'event time ' || strftime(event_at, '%Y-%m-%dT%H:%M:%SZ')
             || ' is more than ' || $skew_text || ' h in the future (DEVMETRICS_FUTURE_SKEW_HOURS)'
        WHEN $check_signature AND (signature IS NULL OR signature = '')
            THEN 'unsigned delivery: X-Hub-Signature-256 missing while a secret is set'
        WHEN $check_signature AND signature <> 'sha256=' ||
             sha256(unhex($opad) || unhex(sha256(unhex($ipad) || encode(body))))
            THEN 'signature mismatch'
        END AS reason
    FROM timed
)
SELECT ref, reason, CASE WHEN received_ok THEN received_at END AS received_at, delivery_id, event_type,
       -- The line is kept for rejects, and for body_raw bodies: their nesting is checked in Python.
       CASE WHEN reason IS NOT NULL OR body_raw IS NOT NULL THEN text END AS text,
       CASE WHEN reason IS NOT NULL THEN signature END AS signature_header,
       CASE WHEN reason IS NULL THEN headers::VARCHAR END AS headers,
       CASE WHEN reason IS NULL THEN body END AS body,
       CASE WHEN reason IS NULL THEN sha256(body) END AS payload_sha256,
       CASE WHEN reason IS NULL THEN event_at END AS event_at
FROM judged
-- Lines without a usable received time are reported in every window: they have no day of their own.
WHERE received_at IS NULL OR NOT received_ok
   OR (received_at >= coalesce($start, received_at)
       AND received_at < coalesce($end, received_at + INTERVAL 1 DAY))
"""
ENVELOPE = (
    '{"received_at": "VARCHAR", "delivery_id": "VARCHAR", "headers": "JSON", "body": "JSON", '
    '"body_raw": "VARCHAR"}'
)
JUDGED_COLUMNS = ["ref", "reason", "received_at", "delivery_id", "event_type", "text", "signature_header",
                  "headers", "body", "payload_sha256", "event_at"]

MISMATCH = (
    "signature mismatch: X-Hub-Signature-256 does not verify with the configured secret "
    "(forged or wrong secret)"
)


def _recheck_mismatches(judged: pd.DataFrame, secret: str, bounds: TimeBounds) -> pd.DataFrame:
    """SQL re-serialises `body`; where its bytes could differ from the recorded ones, Python decides.

    Only the few rows SQL rejected as mismatched are re-read, with the exact contract bytes.
    """
    mismatched = judged.index[judged["reason"] == "signature mismatch"]
    for index in mismatched:
        envelope = json.loads(judged.at[index, "text"])  # depth-bounded by sources/lines.py
        payload = body_bytes(envelope)
        if verify_signature(secret, payload, judged.at[index, "signature_header"]):
            body = json.loads(payload)
            event_at = to_utc([event_anchor_value(judged.at[index, "event_type"], body)])[0]
            problem = bounds.reasons("event time", event_at).iloc[0]
            judged.at[index, "reason"] = problem
            if problem is None:
                judged.at[index, "body"] = payload.decode("utf-8")
                judged.at[index, "payload_sha256"] = hashlib.sha256(payload).hexdigest()
                judged.at[index, "headers"] = json.dumps(envelope["headers"])
                judged.at[index, "event_at"] = event_at.iloc[0]
        else:
            judged.at[index, "reason"] = MISMATCH
    return judged


def select_files(paths: Iterable[Path], start: date | None = None, end: date | None = None) -> list[Path]:
    """Files to read for received days [start, end). `YYYY-MM-DD.jsonl` files hold that received day
    (the generator's and receiver's convention), so the others are skipped unread; any other name is
    read whole."""
    chosen = []
    for path in sorted(paths):
        match = DAY_FILE.match(path.name)
        if match and start is not None and end is not None:
            if not start <= date.fromisoformat(match.group(1)) < end:
                continue
        chosen.append(path)
    return chosen


def parse_deliveries(
    paths: Sequence[Path],
    *,
    source: str,
    secret: str | None,
    load_batch_id: str,
    received_start: datetime | None = None,
    received_end: datetime | None = None,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn the envelope lines of these files into (bronze rows, rejects).

    Only deliveries received in [received_start, received_end) are returned (the Bronze partition
    window); rejects are returned for every unusable line read, since their day may be unknown.
    With a `secret`, a delivery whose signature is missing or wrong is rejected, never loaded.
    `bounds` limits received and event times (default: only what a timestamp can represent).
    """
    return parse_lines(iter_lines(paths), source=source, secret=secret, load_batch_id=load_batch_id,
                       received_start=received_start, received_end=received_end, bounds=bounds)


def parse_lines(
    lines: Iterable[Line],
    *,
    source: str,
    secret: str | None,
    load_batch_id: str,
    received_start: datetime | None = None,
    received_end: datetime | None = None,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`parse_deliveries` for lines already read: unreadable ones are rejected here, the rest are judged
    in one DuckDB pass over an Arrow table of (ref, text)."""
    bounds = bounds or TimeBounds.unbounded()
    unreadable: list[Line] = []
    refs: list[str] = []
    texts: list[str] = []
    for line in lines:
        if line.problem is not None:
            unreadable.append(line)
        else:
            refs.append(line.ref)
            texts.append(line.text)
    ipad, opad = _hmac_pads(secret) if secret is not None else ("", "")
    sql = PARSE_SQL.format(
        delivery_header=_header_sql("X-GitHub-Delivery"), event_header=_header_sql("X-GitHub-Event"),
        signature_header=_header_sql("X-Hub-Signature-256"), anchor=_anchor_sql(),
    )
    params = {
        "envelope": ENVELOPE, "check_signature": secret is not None, "ipad": ipad, "opad": opad,
        "start": as_utc(received_start),
        "end": as_utc(received_end),
        **bounds.sql_params(),
    }
    if not texts:
        judged = pd.DataFrame(columns=JUDGED_COLUMNS)
    else:
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("lines_in", pa.table({"ref": refs, "text": texts}))
            con.execute(f"CREATE TEMP TABLE judged_rows AS {sql}", params)
            judged = con.sql("SELECT * FROM judged_rows").to_arrow_table().to_pandas()
    if secret is not None:
        judged = _recheck_mismatches(judged, secret, bounds)
    judged = _reject_deep_bodies(judged)
    bronze, rejects = _split(judged, source=source, secret=secret, load_batch_id=load_batch_id)
    if unreadable:
        rejects = pd.concat([unreadable_rejects(unreadable, source), rejects], ignore_index=True)
    return bronze, rejects


def _reject_deep_bodies(judged: pd.DataFrame) -> pd.DataFrame:
    """A `body_raw` is JSON inside a string, so the line's depth check did not see its nesting: check it
    here, before anything downstream parses it (the Silver parsers recurse once per level)."""
    usable = judged["reason"].isna() & judged["text"].notna()
    for index in judged.index[usable.to_numpy(dtype=bool)]:
        depth = json_depth(judged.at[index, "body"], MAX_JSON_DEPTH)
        if depth > MAX_JSON_DEPTH:
            judged.at[index, "reason"] = f"body_raw nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}"
    return judged


def unreadable_rejects(lines: Sequence[Line], source: str) -> pd.DataFrame:
    """Rejects for lines that could not even be read (their received day is unknown)."""
    frame = pd.DataFrame({
        "source": source, "record_ref": [line.ref for line in lines], "partition_day": pd.NaT,
        "reason": [line.problem for line in lines], "record": [line.text for line in lines],
    }, columns=REJECT_COLUMNS)
    frame["partition_day"] = frame["partition_day"].astype("datetime64[us]")
    return frame


def _split(judged: pd.DataFrame, *, source: str, secret: str | None, load_batch_id: str):
    received_at = pd.to_datetime(judged["received_at"], utc=True).astype("datetime64[us, UTC]")
    received_day = received_at.dt.tz_convert(None).dt.floor("D").astype("datetime64[us]")

    bad = judged["reason"].notna()
    rejects = pd.DataFrame({
        "source": source,
        "record_ref": judged.loc[bad, "ref"].astype("str"),
        "partition_day": received_day[bad],
        "reason": judged.loc[bad, "reason"].astype("str"),
        "record": judged.loc[bad, "text"].astype("str"),
    }, columns=REJECT_COLUMNS).reset_index(drop=True)

    good = judged[~bad].reset_index(drop=True)
    event_at = pd.to_datetime(good["event_at"], utc=True).astype("datetime64[us, UTC]")
    day = received_day[~bad].reset_index(drop=True)
    bronze = pd.DataFrame({
        "source": source,
        "provider": PROVIDER,
        "delivery_id": good["delivery_id"].astype("str"),
        "event_type": good["event_type"].astype("str"),
        "received_at": received_at[~bad].reset_index(drop=True),
        "received_day": day,
        "event_at": event_at,
        # No usable anchor: the delivery stays in its received day, where Silver can quarantine it.
        "event_day": event_at.dt.tz_convert(None).dt.floor("D").astype("datetime64[us]").fillna(day),
        "headers": good["headers"].astype("str"),
        "body": good["body"].astype("str"),
        "payload_sha256": good["payload_sha256"].astype("str"),
        "signature_status": "verified" if secret is not None else "unchecked",
        "load_batch_id": load_batch_id,
        "loaded_at": pd.Timestamp.now(tz="UTC").as_unit("us"),
        T.RECORD_REF: good["ref"].astype("str"),
    }, columns=BRONZE_COLUMNS)
    return bronze, rejects


def read_github_jsonl(
    spec: SourceSpec, *, start: datetime, end: datetime, secret: str | None, load_batch_id: str,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reader of type `github_jsonl`: recorded GitHub deliveries in the source's landing folder, received
    in [start, end)."""
    paths = sorted(spec.landing_dir.glob("*.jsonl")) if spec.landing_dir.exists() else []
    return parse_deliveries(
        select_files(paths, start.date(), end.date()), source=spec.name, secret=secret,
        load_batch_id=load_batch_id, received_start=start, received_end=end, bounds=bounds,
    )
