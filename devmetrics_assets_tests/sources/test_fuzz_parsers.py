"""Fuzzing the load path: hostile envelopes and payloads through the JSONL parsers and Bronze → Silver.

Properties, for any input: no parser raises; every non-blank line becomes exactly one Bronze row or one
reject with a reason and its `file:line` reference (nothing is silently dropped); the Silver models accept
whatever Bronze stored and quarantine what they cannot use instead of failing. The `@example`s are the
seed corpus: inputs that broke a reader before (issue "Loads that never strand, lose or poison data").
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.silver_changes import compute_changes
from devmetrics_assets.defs.silver_deployments import compute_deployments
from devmetrics_assets.defs.silver_incidents import compute_incidents
from devmetrics_assets.providers.github.recorded_jsonl import parse_deliveries, signature_for
from devmetrics_assets.sources.landing import parse_landing
from devmetrics_assets.sources.lines import iter_lines
from devmetrics_assets.storage.warehouse import Warehouse

SECRET = "fuzz-secret"
EVENTS = ["push", "pull_request", "deployment", "deployment_status", "issues", "issue_comment", "ping"]
FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

times = st.one_of(
    st.datetimes(min_value=pd.Timestamp("1960-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("9999-12-31").to_pydatetime()).map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset: UTC
    st.sampled_from(["2025-03-04T10:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "", "soon"]),
    st.integers(min_value=-10**20, max_value=10**20), st.floats(allow_nan=True), st.none(),
)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                   times)
json_values = st.recursive(leaves, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=20)
# Payloads that look like GitHub's, with any field of any type.
github_bodies = st.fixed_dictionaries({}, optional={
    "action": st.sampled_from(["created", "closed", "opened", "reopened", 5]),
    "ref": st.sampled_from(["refs/heads/main", "main", None, 1]),
    "after": st.text(alphabet="0123456789abcdef", min_size=0, max_size=40),
    "commits": st.lists(json_values, max_size=3),
    "repository": st.one_of(json_values, st.fixed_dictionaries(
        {"full_name": st.sampled_from(["acme/api", "", "x"]), "default_branch": st.just("main")},
        optional={"pushed_at": times})),
    "deployment": st.one_of(json_values, st.fixed_dictionaries(
        {"id": st.integers(), "created_at": times},
        optional={"sha": st.text(max_size=40),
                  "environment": st.sampled_from(["production", "staging", 3])})),
    "deployment_status": json_values, "pull_request": json_values, "issue": json_values,
    "comment": json_values,
})


def envelope_line(received_at: object, event: object, body: object, sign: bool, delivery: object) -> str:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if sign:
        headers["X-Hub-Signature-256"] = signature_for(SECRET, payload.encode())
    return json.dumps({"received_at": received_at, "headers": headers, "body": body}, ensure_ascii=False)


envelopes = st.builds(envelope_line, times, st.one_of(st.sampled_from(EVENTS), st.text(max_size=5)),
                      st.one_of(github_bodies, json_values), st.booleans(),
                      st.one_of(st.uuids().map(str), st.integers(), st.none(), st.just("")))
raw_lines = st.one_of(envelopes, st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                      json_values.map(json.dumps))


def write_lines(folder: Path, lines: list[str | bytes]) -> Path:
    path = folder / "fuzz.jsonl"
    data = [x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass") for x in lines]
    path.write_bytes(b"\n".join(data))
    return path


def non_blank(path: Path) -> int:
    return sum(1 for raw in path.read_bytes().split(b"\n") if raw.strip())


def conserved(rows: pd.DataFrame, rejects: pd.DataFrame, path: Path) -> None:
    assert len(rows) + len(rejects) == non_blank(path)
    assert rejects["reason"].astype(str).str.len().gt(0).all()
    assert rejects["record_ref"].astype(str).str.startswith("file:fuzz.jsonl:").all()


SEEDS = [
    [b'{"received_at": "2025-03-04T10:00:00Z", "headers": {}, "body": '
     + b"[" * 10_000 + b"]" * 10_000 + b"}"],
    [b'{"received_at": "2025-03-04T10:00:00Z", "x": "\xff\xfe"}'],
    [envelope_line("1970-01-01T00:00:00Z", "push", {}, True, "a"), envelope_line("9999-12-31T00:00:00Z",
                                                                                  "push", {}, True, "b")],
    [json.dumps({"received_at": "2025-03-04T10:00:00Z",
                 "headers": {"X-GitHub-Event": "push", "X-GitHub-Delivery": "n",
                             "X-Hub-Signature-256": "sha256=\u00e9\u00e9"}, "body": {}})],
    [envelope_line("2025-03-04T10:00:00", "deployment", {"deployment": {"id": 1, "created_at": 10**30}},
                   True, "e")],
    ['{"received_at": "2025-03-04T10:00:00Z", "headers": {"X-GitHub-Event": "push"}, "body": '
     + "9" * 5000 + "}"],
]


@FUZZ
@given(lines=st.lists(raw_lines, min_size=1, max_size=8), secret=st.sampled_from([SECRET, None]))
@example(lines=SEEDS[0], secret=SECRET)
@example(lines=SEEDS[1], secret=None)
@example(lines=SEEDS[2], secret=SECRET)
@example(lines=SEEDS[3], secret=SECRET)
@example(lines=SEEDS[4], secret=SECRET)
@example(lines=SEEDS[5], secret=None)
def test_the_github_parser_turns_every_line_into_a_row_or_a_reject(lines, secret) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp), lines)
        rows, rejects = parse_deliveries([path], source="github", secret=secret, load_batch_id="b")
        conserved(rows, rejects, path)


def landing_line(provider: str, received_at: object, body: object, status: object) -> str:
    return json.dumps({"received_at": received_at, "delivery_id": "d", "provider": provider,
                       "event_type": "x", "signature_status": status, "headers": {},
                       "body_raw": json.dumps(body)})


landing_lines = st.one_of(
    st.builds(landing_line, st.sampled_from(["gitlab", "pagerduty", "generic", "github"]), times, json_values,
              st.sampled_from(["verified", "unchecked", "forged", None])),
    st.builds(lambda r, h, b: json.dumps({"received_at": r, "headers": h, "body": b}), times,
              st.dictionaries(st.sampled_from(["X-Gitlab-Event", "X-Gitlab-Token", "X-PagerDuty-Signature",
                                               "Authorization", "X-Signature-256"]), st.text(max_size=12)),
              json_values),
    raw_lines,
)


@FUZZ
@given(lines=st.lists(landing_lines, min_size=1, max_size=8),
       provider=st.sampled_from(["gitlab", "pagerduty", "generic", "github"]),
       secret=st.sampled_from(["tok", None]))
@example(lines=SEEDS[0], provider="gitlab", secret=None)
@example(lines=SEEDS[1], provider="pagerduty", secret="tok")
@example(lines=[landing_line("gitlab", "2025-03-04T10:00:00Z", "[" * 300 + "]" * 300, "verified")],
         provider="gitlab", secret=None)
def test_the_landing_parser_turns_every_line_into_a_row_or_a_reject(lines, provider, secret) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp), lines)
        rows, rejects = parse_landing(iter_lines([path]), source="s", provider=provider, load_batch_id="b",
                                      secret=secret)
        conserved(rows, rejects, path)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(envelopes, min_size=1, max_size=10))
@example(lines=SEEDS[4])
def test_silver_accepts_whatever_bronze_stored(lines) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp), lines)
        rows, _ = parse_deliveries([path], source="github", secret=None, load_batch_id="b")
        rows = rows.drop_duplicates("delivery_id")
        warehouse = Warehouse(Path(tmp) / "w.duckdb")
        warehouse.append_bronze(rows)
        if rows.empty:
            return
        start = pd.Timestamp(rows["event_day"].min())
        end = pd.Timestamp(rows["event_day"].max()) + pd.Timedelta(days=1)
        for compute in (compute_changes, compute_deployments, compute_incidents):
            entities, rejects = compute(warehouse, DoraRules(), start, end)
            assert isinstance(entities, pd.DataFrame)
            assert rejects["reason"].astype(str).str.len().gt(0).all()
