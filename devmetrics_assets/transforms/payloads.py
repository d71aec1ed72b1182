"""Reading provider payloads safely: field access, timestamps, frames and text conventions (every provider).

Rules kept here (contracts §2/§3; GitHub's event anchors are in providers/github/anchors.py):
- A body is parsed once. High-volume event types (push, pull_request, deployment*) go through
  `json_fields` / `json_array_items`: one DuckDB JSON pass extracting the needed paths as columns
  (json.loads alone costs 4-6 s for 150k deliveries on this hardware). Low-volume ones (issues,
  comments) use `parse_bodies` (json.loads) and plain Python. Everything after is vectorised.
- Timestamps arrive as ISO-8601 strings with offsets (`created_at`, commit `timestamp`) or as epoch
  integers (`repository.pushed_at`); both become UTC. A value that is present but unparseable is
  reported as *bad* (callers quarantine), a missing value is simply missing.
- `root cause: <sha>` (7–40 hex, case-insensitive, optional spaces) — the last mention wins.
- `fixes|closes|resolves #N` (and GitHub's other closing keywords: fix/fixed, close/closed,
  resolve/resolved) reference issue N of the same repository; `org/repo#N` is another repo and ignored.
- Short shas resolve to a full main-line sha only when exactly one commit of the repo starts with them.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np
import pandas as pd

UTC_DTYPE = "datetime64[us, UTC]"
DAY_DTYPE = "datetime64[us]"
ZERO_SHA = "0" * 40

ROOT_CAUSE_RE = re.compile(r"root[\s_-]*cause\s*:\s*([0-9a-f]{7,40})(?![0-9a-z])", re.IGNORECASE)
FIXES_RE = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s*#(\d+)\b",
    re.IGNORECASE,
)
SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")


# --------------------------------------------------------------------------- bodies and fields
def parse_bodies(bodies: Iterable[Any]) -> tuple[list[dict | None], list[str | None]]:
    """json.loads every body once; returns (objects, error reasons) aligned with the input.

    A body that is not valid JSON, or valid JSON that is not an object, gets a reason and None.
    """
    parsed: list[dict | None] = []
    errors: list[str | None] = []
    for text in bodies:
        if not isinstance(text, str | bytes | bytearray):
            parsed.append(None)
            errors.append("body is missing")
            continue
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            parsed.append(None)
            errors.append(f"body is not valid JSON: {exc.__class__.__name__}: {str(exc)[:80]}")
            continue
        if isinstance(obj, dict):
            parsed.append(obj)
            errors.append(None)
        else:
            parsed.append(None)
            errors.append(f"body is JSON {type(obj).__name__}, expected an object")
    return parsed, errors


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """obj[path[0]][path[1]]... or `default` as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
        if obj is None:
            return default
    return obj


def text_or_none(value: Any) -> str | None:
    """Non-empty strings stay, numbers become text (ids), everything else is None."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and not (isinstance(value, float) and np.isnan(value)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


def int_or_none(value: Any) -> int | None:
    """An integer id/number, accepting digit strings; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --------------------------------------------------------------------------- bulk extraction (DuckDB)
def _sql_paths(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def json_fields(
    bodies: pd.Series, paths: dict[str, str], type_paths: dict[str, str] | None = None
) -> pd.DataFrame:
    """The JSON values at `paths` of every body, extracted in one DuckDB pass (yyjson, C speed).

    json.loads costs ~30 µs per 1 KB body here, so 150k deliveries take 4-6 s to decode alone;
    DuckDB reads the same fields in well under a second. Returns a frame aligned by position with
    `_error` (body missing / not JSON / not an object, else None), one text column per path (scalars as
    text, objects and arrays as JSON text, null or absent missing) and one json_type column per type path.
    """
    type_paths = type_paths or {}
    names, tnames = list(paths), list(type_paths)
    if len(bodies) == 0:
        return pd.DataFrame(
            {"_error": pd.Series([], dtype=object)}
            | {c: pd.Series([], dtype="str") for c in [*names, *tnames]}
        )
    src = pd.DataFrame({"row": np.arange(len(bodies)), "body": bodies.reset_index(drop=True)})
    values = ", ".join(f"v[{i + 1}] AS c{i}" for i in range(len(names))) or "NULL AS _none"
    types = "".join(f", t[{i + 1}] AS t{i}" for i in range(len(tnames)))
    value_expr = f"TRY(json_extract_string(body, {_sql_paths(paths.values())}))" if names else "NULL"
    type_expr = f"TRY(json_type(body, {_sql_paths(type_paths.values())}))" if tnames else "NULL"
    sql = f"""
        WITH x AS (
            SELECT row, body IS NULL AS missing, json_valid(body) AS valid, TRY(json_type(body)) AS root,
                   {value_expr} AS v, {type_expr} AS t
            FROM src)
        SELECT row, missing, valid, root, {values}{types} FROM x ORDER BY row"""
    with duckdb.connect() as con:
        con.register("src", src)
        raw = con.sql(sql).to_arrow_table().to_pandas()
    missing = raw["missing"].fillna(True).to_numpy(dtype=bool)
    invalid = ~missing & ~raw["valid"].fillna(False).to_numpy(dtype=bool)
    not_object = ~missing & ~invalid & (raw["root"] != "OBJECT").to_numpy(dtype=bool)
    error = pd.Series(None, index=raw.index, dtype=object)
    error[missing] = "body is missing"
    error[invalid] = "body is not valid JSON"
    error[not_object] = (
        "body is JSON " + raw.loc[not_object, "root"].astype(str).str.lower() + ", expected an object"
    )
    out = raw.rename(
        columns={f"c{i}": n for i, n in enumerate(names)} | {f"t{i}": n for i, n in enumerate(tnames)}
    )
    out = out[[*names, *tnames]].copy()
    out.insert(0, "_error", error)
    return out


def json_array_items(
    bodies: pd.Series, rows: np.ndarray, path: str, item_paths: dict[str, str]
) -> pd.DataFrame:
    """Items of the JSON array at `path` for the bodies at positions `rows`: row, pos, item_type and one
    text column per item path (as in json_fields), ordered by (row, pos)."""
    names = list(item_paths)
    rows = np.asarray(rows, dtype="int64")
    if len(rows) == 0:
        return pd.DataFrame(
            {"row": pd.Series([], dtype="int64"), "pos": pd.Series([], dtype="int64")}
            | {c: pd.Series([], dtype="str") for c in ["item_type", *names]}
        )
    src = pd.DataFrame({"row": rows, "body": bodies.iloc[rows].reset_index(drop=True)})
    cols = "".join(f", v[{i + 1}] AS c{i}" for i in range(len(names)))
    sql = f"""
        WITH a AS (SELECT row, TRY(json_extract(body, '{path.replace("'", "''")}[*]')) AS items FROM src),
        u AS (SELECT row, unnest(items) AS item, unnest(range(len(items))) AS pos
              FROM a WHERE items IS NOT NULL)
        SELECT row, pos, json_type(item) AS item_type{cols}
        FROM (SELECT *, json_extract_string(item, {_sql_paths(item_paths.values())}) AS v FROM u)
        ORDER BY row, pos"""
    with duckdb.connect() as con:
        con.register("src", src)
        raw = con.sql(sql).to_arrow_table().to_pandas()
    out = raw.rename(columns={f"c{i}": n for i, n in enumerate(names)})
    return out.astype({"row": "int64", "pos": "int64"})


def blank_to_none(values: pd.Series) -> pd.Series:
    """Text with only whitespace counts as missing (like an absent field)."""
    return values.where(values.notna() & (values.astype("str").str.strip() != ""))


def to_int(values: pd.Series) -> pd.Series:
    """Integer ids/numbers from extracted text as Int64; non-integers (and booleans) become <NA>."""
    num = pd.to_numeric(values.astype(object), errors="coerce")
    return num.where(num.notna() & (num % 1 == 0)).astype("Int64")


def first_reason(checks: Sequence[tuple[Any, Any]], n: int) -> pd.Series:
    """Per row, the first (mask, reason) whose mask is true; reason may be text or a Series. None if none."""
    out = pd.Series([None] * n, dtype=object)
    for mask, reason in checks:
        mask = np.asarray(mask, dtype=bool) & out.isna().to_numpy()
        if mask.any():
            out[mask] = reason[mask] if isinstance(reason, pd.Series) else reason
    return out


# --------------------------------------------------------------------------- timestamps
_NAT = np.iinfo("int64").min


def _epoch_us(secs: np.ndarray) -> np.ndarray:
    """Epoch seconds (milliseconds tolerated: GitHub sends seconds, other producers may not) → µs."""
    secs = np.where(np.abs(secs) >= 1e11, secs / 1000.0, secs)
    ok = np.isfinite(secs) & (np.abs(secs) < 1e10)
    return np.where(ok, np.round(np.where(ok, secs, 0.0) * 1e6), np.nan)


def _is_nan_text(dtype: Any) -> bool:
    """A pandas string dtype whose missing value is NaN: as objects, every value is a str or NaN."""
    return isinstance(dtype, pd.StringDtype) and dtype.na_value is np.nan


def _kinds(s: pd.Series) -> np.ndarray:
    """Per value: 0 missing (None/NaN), 1 text, 2 number (not bool), 3 anything else."""
    return np.fromiter(
        (
            0
            if v is None or (isinstance(v, float) and v != v)
            else 1
            if isinstance(v, str)
            else 2
            if isinstance(v, int | float) and not isinstance(v, bool)
            else 3
            for v in s
        ),
        dtype=np.int8,
        count=len(s),
    )


def to_utc(values: Sequence[Any] | pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse ISO-8601 strings and epoch numbers (or numeric text) to a `datetime64[us, UTC]` Series.

    Returns (timestamps, bad) where `bad` marks values that were present but not parseable.
    Both kinds are parsed in vectorised calls (mixed offsets are fine with utc=True).
    """
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values.astype(object)
    s = s.reset_index(drop=True)
    n = len(s)
    if isinstance(values, pd.Series) and _is_nan_text(values.dtype):
        # Text with NaN for missing (what extracted JSON fields are): missing or str, no per-value loop.
        kind = np.where(values.isna().to_numpy(), 0, 1).astype(np.int8)
    else:
        kind = _kinds(s)
    us = np.full(n, np.nan)
    text = s[kind == 1].str.strip()
    numeric_text = pd.to_numeric(text, errors="coerce")
    numbers = pd.concat([numeric_text.dropna(), pd.to_numeric(s[kind == 2], errors="coerce")])
    if len(numbers):
        us[numbers.index.to_numpy()] = _epoch_us(numbers.to_numpy(dtype="float64"))
    iso = text[numeric_text.isna() & (text != "")]
    if len(iso):
        parsed = pd.to_datetime(iso, utc=True, format="ISO8601", errors="coerce")
        naive = parsed.dt.tz_convert(None).to_numpy().astype("datetime64[us]").view("int64")
        us[iso.index.to_numpy()] = np.where(naive == _NAT, np.nan, naive.astype("float64"))
    ints = np.where(np.isnan(us), _NAT, np.nan_to_num(us)).astype("int64")
    out = pd.Series(ints.view("datetime64[us]")).dt.tz_localize("UTC")
    bad = (kind != 0) & np.isnan(us)
    return out, bad


def parse_ts(value: Any) -> pd.Timestamp | None:
    """One value (ISO string or epoch) as a UTC Timestamp, None if missing or unparseable."""
    ts, _ = to_utc([value])
    v = ts.iloc[0]
    return None if pd.isna(v) else v


def utc_day(ts: pd.Series) -> pd.Series:
    """UTC calendar day of aware timestamps as naive midnight `datetime64[us]`."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").astype(DAY_DTYPE)


def as_day(values: pd.Series) -> pd.Series:
    """Bronze day column (DATE / datetime / text) as naive midnight `datetime64[us]`."""
    s = pd.to_datetime(values, errors="coerce")
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.dt.floor("D").astype(DAY_DTYPE)


# --------------------------------------------------------------------------- text conventions
def root_cause_mentions(text: Any) -> list[str]:
    """All `root cause: <sha>` values in order of appearance (raw text as written)."""
    if not isinstance(text, str) or not text:
        return []
    return ROOT_CAUSE_RE.findall(text)


def fixed_issue_numbers(*texts: Any) -> list[int]:
    """Issue numbers referenced with a closing keyword (`fixes #N`...) in any text, sorted, unique."""
    found: set[int] = set()
    for text in texts:
        if isinstance(text, str) and text:
            found.update(int(n) for n in FIXES_RE.findall(text))
    return sorted(found)


def comma_list(items: Iterable[Any]) -> str:
    """Comma-joined text, "" when empty (contract: lists are never null)."""
    return ",".join(str(x) for x in items)


class ShaIndex:
    """Sorted main-line shas per repo for exact and unique-prefix look-ups."""

    def __init__(self, repos: Iterable[str], shas: Iterable[str]):
        by_repo: dict[str, list[str]] = {}
        for repo, sha in zip(repos, shas, strict=True):
            by_repo.setdefault(repo, []).append(sha.lower())
        self._sorted = {repo: sorted(set(v)) for repo, v in by_repo.items()}

    def resolve(self, repo: str, raw: Any) -> str | None:
        """The unique full sha of `repo` starting with `raw`, None if none or ambiguous."""
        if not isinstance(raw, str):
            return None
        prefix = raw.strip().lower()
        if not SHA_RE.match(prefix):
            return None
        shas = self._sorted.get(repo)
        if not shas:
            return None
        i = bisect.bisect_left(shas, prefix)
        hits = []
        while i < len(shas) and shas[i].startswith(prefix) and len(hits) < 2:
            hits.append(shas[i])
            i += 1
        return hits[0] if len(hits) == 1 else None


def resolve_short_shas(repos: Sequence[str], raws: Sequence[Any], mainline: pd.DataFrame) -> list[Any]:
    """Full main-line sha when exactly one commit of the same repo starts with the raw text, else raw."""
    index = ShaIndex(mainline["repo"], mainline["sha"])
    out: list[Any] = []
    for repo, raw in zip(repos, raws, strict=True):
        full = index.resolve(repo, raw)
        out.append(full if full is not None else raw)
    return out


def conform(frame: pd.DataFrame, dtypes: dict[str, str]) -> pd.DataFrame:
    """Exactly the contract columns, in order, with the contract dtypes (also for empty frames)."""
    out = {}
    for col, dtype in dtypes.items():
        values = frame[col] if col in frame else pd.Series([None] * len(frame), index=frame.index)
        if dtype == "str":
            values = values.astype("str").where(values.notna())
        elif dtype == UTC_DTYPE:
            values = pd.to_datetime(values, utc=True)
        out[col] = values.astype(dtype)
    return pd.DataFrame(out).reset_index(drop=True)


def frame_of(columns: dict[str, list], dtypes: dict[str, str] | None = None) -> pd.DataFrame:
    """A frame from parsed value lists; when empty it still gets usable dtypes (text columns as str)."""
    frame = pd.DataFrame(columns)
    if frame.empty:
        known = dtypes or {}
        frame = frame.astype({c: known.get(c, "str") for c in frame.columns})
    return frame
