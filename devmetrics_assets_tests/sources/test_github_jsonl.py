"""Recorded GitHub deliveries → Bronze rows and rejects (signature, envelope errors, windows)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from devmetrics_assets.providers.github.recorded_jsonl import parse_deliveries, select_files, signature_for
from devmetrics_assets.sources.lines import iter_lines

SECRET = "s3cret"


def envelope(delivery_id: str, received_at: str, body: dict, event: str = "deployment",
             secret: str | None = SECRET, raw: bool = False) -> str:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery_id}
    if secret is not None:
        headers["X-Hub-Signature-256"] = signature_for(secret, payload.encode())
    out = {"received_at": received_at, "delivery_id": delivery_id, "headers": headers}
    out["body_raw" if raw else "body"] = payload if raw else body
    return json.dumps(out, ensure_ascii=False)


DEPLOYMENT = {"action": "created", "deployment": {"id": 1, "created_at": "2025-03-01T23:30:00-02:00"},
              "repository": {"full_name": "acme/api", "name": "api"}, "sender": {"login": "é"}}


def parse(tmp_path: Path, lines: list[str], secret: str | None = SECRET, **window):
    path = tmp_path / "deliveries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return parse_deliveries([path], source="github", secret=secret, load_batch_id="b1", **window)


def test_signed_delivery_becomes_a_bronze_row_anchored_on_its_event_day(tmp_path: Path) -> None:
    rows, rejects = parse(tmp_path, [envelope("d1", "2025-03-04T10:00:00Z", DEPLOYMENT)])
    assert rejects.empty and len(rows) == 1
    row = rows.iloc[0]
    assert row["signature_status"] == "verified"
    # 23:30 at UTC-2 is 01:30 UTC on the next day: the anchor day is a UTC day.
    assert row["event_day"] == pd.Timestamp("2025-03-02")
    assert row["received_day"] == pd.Timestamp("2025-03-04")
    assert json.loads(row["body"]) == DEPLOYMENT and len(row["payload_sha256"]) == 64


def test_forged_and_unsigned_deliveries_are_rejected_with_reasons(tmp_path: Path) -> None:
    lines = [envelope("forged", "2025-03-04T10:00:00Z", DEPLOYMENT, secret="wrong"),
             envelope("unsigned", "2025-03-04T10:00:00Z", DEPLOYMENT, secret=None)]
    rows, rejects = parse(tmp_path, lines)
    assert rows.empty
    reasons = dict(zip(rejects["record_ref"].str.rsplit(":", n=1).str[-1], rejects["reason"], strict=True))
    assert "signature mismatch" in reasons["1"] and "unsigned" in reasons["2"]
    # Without a configured secret both load, marked unchecked.
    rows, rejects = parse(tmp_path, lines, secret=None)
    assert rejects.empty and set(rows["signature_status"]) == {"unchecked"}


def test_body_raw_bytes_are_what_is_verified(tmp_path: Path) -> None:
    rows, rejects = parse(tmp_path, [envelope("raw", "2025-03-04T10:00:00Z", DEPLOYMENT, raw=True)])
    assert rejects.empty and rows.iloc[0]["delivery_id"] == "raw"


def test_unusable_lines_are_rejected_never_dropped(tmp_path: Path) -> None:
    lines = ["{broken", "[1, 2]", json.dumps({"delivery_id": "x", "headers": {}, "body": {}}),
             json.dumps({"received_at": "2025-03-04T10:00:00Z", "headers": {"X-GitHub-Event": "push"},
                         "body": {}}),
             json.dumps({"received_at": "2025-03-04T10:00:00Z", "delivery_id": "y",
                         "headers": {"X-GitHub-Event": "push"}, "body": "text"})]
    rows, rejects = parse(tmp_path, lines, secret=None)
    assert rows.empty
    assert rejects["record_ref"].tolist() == [f"file:deliveries.jsonl:{i}" for i in range(1, 6)]
    assert rejects["reason"].str.len().gt(10).all()
    assert rejects["record"].iloc[0] == "{broken"


def test_window_keeps_only_deliveries_received_in_it(tmp_path: Path) -> None:
    lines = [envelope(d, at, DEPLOYMENT) for d, at in
             (("a", "2025-03-03T23:59:59Z"), ("b", "2025-03-04T00:00:00Z"), ("c", "2025-03-05T00:00:00Z"))]
    rows, _ = parse(tmp_path, lines, received_start=datetime(2025, 3, 4), received_end=datetime(2025, 3, 5))
    assert rows["delivery_id"].tolist() == ["b"]


def test_day_named_files_outside_the_window_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "2025-03-01.jsonl").write_text("x\n")
    (tmp_path / "2025-03-02.jsonl").write_text("y\n")
    (tmp_path / "import-abc.jsonl").write_text("z\n")
    chosen = select_files(tmp_path.glob("*.jsonl"), date(2025, 3, 2), date(2025, 3, 3))
    assert [p.name for p in chosen] == ["2025-03-02.jsonl", "import-abc.jsonl"]
    assert [line.text for line in iter_lines(chosen)] == ["y", "z"]


def test_hostile_lines_are_quarantined_one_by_one_and_the_good_ones_load(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, 10,000-level JSON, extreme and naive times, a non-ASCII signature."""
    from devmetrics_assets.config import Settings
    from devmetrics_assets.sources.time_bounds import TimeBounds

    def at(delivery_id: str, received: str, created: object = "2025-03-01T10:00:00Z", **kw) -> bytes:
        body = dict(DEPLOYMENT, deployment={"id": 1, "created_at": created})
        return envelope(delivery_id, received, body, **kw).encode()

    bad_signature = json.loads(at("sig", "2025-03-04T10:00:00Z"))
    bad_signature["headers"]["X-Hub-Signature-256"] = "sha256=\u00e9\u00e9"
    lines = [
        at("good", "2025-03-04T10:00:00Z"),
        b'{"received_at": "2025-03-04T10:00:00Z", "junk": "\xff\xfe"}',
        b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        at("old", "1970-01-01T00:00:00Z"),
        at("future", "9999-12-31T00:00:00Z"),
        at("naive", "2025-03-04T11:00:00"),  # no offset: UTC
        at("old-event", "2025-03-04T11:00:00Z", created="1970-01-01T00:00:00Z"),
        at("future-event", "2025-03-04T11:00:00Z", created="9999-01-01T00:00:00Z"),
        json.dumps(bad_signature).encode(),
        json.dumps({"received_at": "2025-03-04T10:00:00Z", "delivery_id": "deep-raw",
                    "headers": {"X-GitHub-Event": "push"}, "body_raw": "[" * 300 + "]" * 300}).encode(),

    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings = Settings(home=tmp_path, warehouse_path=tmp_path / "w", landing_dir=tmp_path,
                        rules_path=tmp_path / "r", partition_start="2024-12-01")
    bounds = TimeBounds.for_settings(settings, now=pd.Timestamp("2025-03-05T00:00:00Z").to_pydatetime())
    rows, rejects = parse_deliveries([path], source="github", secret=SECRET, load_batch_id="b", bounds=bounds)
    assert sorted(rows["delivery_id"]) == ["good", "naive"]
    assert rows.set_index("delivery_id").loc["naive", "received_at"] == pd.Timestamp("2025-03-04T11:00Z")
    reasons = dict(zip(rejects["record_ref"].str.rsplit(":", n=1).str[-1].astype(int), rejects["reason"],
                       strict=True))
    assert reasons[2].startswith("line is not valid UTF-8")
    assert reasons[3] == "line nests 10001 levels deep; the limit is 128"
    assert reasons[4].startswith("received_at 1970-01-01T00:00:00Z is before the history floor 2008-01-01")
    assert reasons[5].startswith("received_at 9999-12-31T00:00:00Z is more than 24 h in the future")
    assert reasons[7].startswith("event time 1970-01-01T00:00:00Z is before the history floor")
    assert reasons[8].startswith("event time 9999-01-01T00:00:00Z is more than 24 h in the future")
    assert reasons[9].startswith("signature mismatch")
    assert reasons[10] == "body is missing or not a JSON object"
    # lines whose received time is unusable have no partition day; the others keep theirs
    days = dict(zip(rejects["record_ref"].str.rsplit(":", n=1).str[-1].astype(int), rejects["partition_day"],
                    strict=True))
    assert pd.isna(days[4]) and pd.isna(days[5]) and days[7] == pd.Timestamp("2025-03-04")


def test_deep_body_raw_is_quarantined_without_a_secret(tmp_path: Path) -> None:
    deep = '{"a":' + "[" * 300 + "]" * 300 + "}"
    line = json.dumps({"received_at": "2025-03-04T10:00:00Z", "delivery_id": "deep-raw",
                       "headers": {"X-GitHub-Event": "push"}, "body_raw": deep})
    rows, rejects = parse(tmp_path, [line], secret=None)
    assert rows.empty and rejects["reason"].tolist() == ["body_raw nests 301 levels deep; the limit is 128"]
