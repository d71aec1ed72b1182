"""The landing_jsonl reader: envelopes (contracts §6) → Bronze rows and rejects, and into the warehouse."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.config import Settings
from devmetrics_assets.providers.github.recorded_jsonl import BRONZE_COLUMNS
from devmetrics_assets.sources.landing import parse_landing
from devmetrics_assets.sources.landing_files import day_files
from devmetrics_assets.sources.landing_files import iter_lines as iter_complete_lines
from devmetrics_assets.sources.readers import READERS, read_source
from devmetrics_assets.sources.registry import sources_from_mapping

DEPLOYMENT = {"action": "created", "deployment": {"id": 7, "sha": "a" * 40, "environment": "production",
                                                 "created_at": "2025-03-01T23:30:00-02:00"},
              "repository": {"full_name": "acme/api"}}


def settings_in(root: Path) -> Settings:
    return Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                    rules_path=root / "rules.yaml", partition_start="2024-12-01")


def envelope(delivery_id: str, received_at: str, body: object = DEPLOYMENT, event_type: str = "deployment",
             **over: object) -> dict:
    raw = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {"received_at": received_at, "delivery_id": delivery_id, "provider": "github",
            "event_type": event_type, "signature_status": "verified",
            "headers": {"x-github-event": event_type, "x-github-delivery": delivery_id}, "body_raw": raw,
            **over}


def land(folder: Path, day: str, lines: list[object], tail: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day}.jsonl"
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text + tail)
    return path


@pytest.fixture
def spec(tmp_path: Path):
    [spec] = sources_from_mapping({"sources": [{"name": "hooks", "type": "landing_jsonl",
                                                "provider": "github"}]}, settings=settings_in(tmp_path))
    return spec


def read(spec, start: str = "2025-03-01", end: str = "2025-03-05"):
    return read_source(spec, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end),
                       secret="ignored", load_batch_id="batch-1")


def test_reader_is_registered():
    assert "landing_jsonl" in READERS


def test_envelopes_become_bronze_rows_with_anchor_days(spec):
    ping = envelope("d2", "2025-03-02T08:00:00.5Z", {"zen": "hi"}, "ping", signature_status="unchecked")
    land(spec.landing_dir, "2025-03-02", [envelope("d1", "2025-03-02T01:02:03.123456Z"), ping])
    rows, rejects = read(spec)
    assert rejects.empty
    assert list(rows.columns) == BRONZE_COLUMNS
    assert rows["delivery_id"].tolist() == ["d1", "d2"]
    assert (rows["source"] == "hooks").all() and (rows["provider"] == "github").all()
    first, second = rows.iloc[0], rows.iloc[1]
    # deployment anchor = deployment.created_at, converted to UTC (2025-03-02 01:30Z)
    assert first["event_at"] == pd.Timestamp("2025-03-02T01:30:00Z")
    assert first["event_day"] == pd.Timestamp("2025-03-02")
    assert first["received_at"] == pd.Timestamp("2025-03-02T01:02:03.123456Z")
    # no anchor for ping: it stays on its received day
    assert pd.isna(second["event_at"]) and second["event_day"] == pd.Timestamp("2025-03-02")
    assert rows["signature_status"].tolist() == ["verified", "unchecked"]  # taken from the envelope
    raw = json.dumps(DEPLOYMENT, separators=(",", ":"))
    assert first["body"] == raw and first["payload_sha256"] == hashlib.sha256(raw.encode()).hexdigest()
    assert json.loads(first["headers"])["x-github-delivery"] == "d1"
    assert rows["load_batch_id"].unique().tolist() == ["batch-1"]
    assert str(rows["received_at"].dtype) == "datetime64[us, UTC]"
    assert str(rows["event_at"].dtype) == "datetime64[us, UTC]"
    assert str(rows["received_day"].dtype) == "datetime64[us]" == str(rows["event_day"].dtype)


def test_window_keeps_only_deliveries_received_in_it_and_skips_other_days_files(spec):
    land(spec.landing_dir, "2025-03-02", [envelope("in", "2025-03-02T10:00:00Z"),
                                          envelope("late", "2025-03-03T00:00:00Z")])
    land(spec.landing_dir, "2025-03-09", ["not json at all"])  # outside the window: never read
    (spec.landing_dir / "_index.sqlite").write_bytes(b"SQLite format 3\0")
    (spec.landing_dir / "notes.jsonl").write_text("garbage\n")
    rows, rejects = read(spec, "2025-03-02", "2025-03-03")
    assert rows["delivery_id"].tolist() == ["in"] and rejects.empty
    assert [p.name for p in day_files(spec.landing_dir, date(2025, 3, 1), date(2025, 3, 10))] == [
        "2025-03-02.jsonl", "2025-03-09.jsonl"]


def test_unusable_lines_are_rejected_with_reason_and_reference(spec):
    lines = [
        "{not json",
        "[1, 2]",
        envelope("a", "yesterday"),
        envelope("", "2025-03-02T00:00:00Z"),
        envelope("b", "2025-03-02T00:00:00Z", event_type=""),
        envelope("c", "2025-03-02T00:00:00Z", signature_status="maybe"),
        envelope("d", "2025-03-02T00:00:00Z", body="{oops"),
        envelope("e", "2025-03-02T00:00:00Z", body="[1]"),
        envelope("f", "2025-03-02T00:00:00Z", provider="gitlab"),
        envelope("g", "2025-03-02T00:00:00Z", headers="x"),
        envelope("ok", "2025-03-02T00:00:00Z"),
    ]
    land(spec.landing_dir, "2025-03-02", lines)
    rows, rejects = read(spec)
    assert rows["delivery_id"].tolist() == ["ok"]
    reasons = dict(zip(rejects["record_ref"], rejects["reason"], strict=True))
    expected = {1: "not valid JSON", 2: "not an object envelope", 3: "received_at is missing",
                4: "delivery_id is missing", 5: "event_type is missing", 6: "signature_status 'maybe'",
                7: "body_raw is not valid JSON", 8: "body_raw is not a JSON object",
                9: "does not match the source's provider", 10: "headers is not an object"}
    assert set(reasons) == {f"file:2025-03-02.jsonl:{n}" for n in expected}
    for number, text in expected.items():
        assert text in reasons[f"file:2025-03-02.jsonl:{number}"]
    assert (rejects["source"] == "hooks").all()
    dated = rejects[rejects["record_ref"] == "file:2025-03-02.jsonl:4"]
    assert dated["partition_day"].iloc[0] == pd.Timestamp("2025-03-02")


def test_a_line_still_being_written_is_left_for_the_next_run(spec):
    partial = json.dumps(envelope("second", "2025-03-02T00:00:01Z"))
    path = land(spec.landing_dir, "2025-03-02", [envelope("first", "2025-03-02T00:00:00Z")],
                tail=partial[:40])
    rows, rejects = read(spec)
    assert rows["delivery_id"].tolist() == ["first"] and rejects.empty
    path.write_text(path.read_text()[: -40] + partial + "\n")
    assert [line.number for line in iter_complete_lines([path])] == [1, 2]
    assert read(spec)[0]["delivery_id"].tolist() == ["first", "second"]


def test_empty_folder_gives_empty_frames_with_the_contract_columns(spec):
    rows, rejects = read(spec)
    assert rows.empty and list(rows.columns) == BRONZE_COLUMNS and rejects.empty
    rows, _ = parse_landing([], source="x", provider="github", load_batch_id="b")
    assert rows.empty


def test_bronze_asset_of_a_landing_source_loads_into_the_warehouse(tmp_path: Path):
    import dagster as dg

    from devmetrics_assets.definitions import build_definitions
    from devmetrics_assets.runner import DAILY_JOB, run_range
    from devmetrics_assets.storage.warehouse import Warehouse

    settings = settings_in(tmp_path)
    specs = sources_from_mapping({"sources": [{"name": "hooks", "type": "landing_jsonl",
                                               "provider": "github"}]}, settings=settings)
    land(specs[0].landing_dir, "2025-03-02", [envelope("d1", "2025-03-02T10:00:00Z"),
                                              envelope("d1", "2025-03-02T11:00:00Z"),  # redelivery
                                              "{broken"])
    defs = build_definitions(settings, specs)
    with dg.instance_for_test() as instance:
        result = run_range(defs, instance, DAILY_JOB, date(2025, 3, 2), date(2025, 3, 2), ["bronze_hooks"])
    assert result.success
    with Warehouse(settings.warehouse_path).connect(read_only=True) as conn:
        stored = conn.execute("SELECT source, delivery_id, event_day FROM bronze_deliveries").fetchall()
        quarantined = conn.execute("SELECT reason FROM quarantine WHERE source = 'hooks'").fetchall()
    assert stored == [("hooks", "d1", date(2025, 3, 2))]
    assert len(quarantined) == 1 and "not valid JSON" in quarantined[0][0]
