"""Recorded deliveries of every provider load through the landing reader, verified as the receiver would."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path

import pandas as pd

from devmetrics_assets.sources.landing import parse_landing
from devmetrics_assets.sources.lines import iter_lines

TOKEN = "gl-token"
PD_SECRET = "pd-secret"
MR = {"object_kind": "merge_request", "project": {"id": 7, "path_with_namespace": "acme/api"},
      "object_attributes": {"iid": 3, "state": "merged", "action": "merge", "target_branch": "main",
                            "merged_at": "2025-03-04 10:00:00 UTC", "updated_at": "2025-03-04 10:00:00 UTC"}}
PD = {"event": {"id": "01EVT", "event_type": "incident.triggered", "occurred_at": "2025-03-04T11:00:00Z",
                "data": {"id": "PINC1", "type": "incident", "created_at": "2025-03-04T11:00:00Z",
                         "service": {"id": "PSVC", "summary": "checkout"}}}}


def gitlab_line(token: str, uuid: str) -> str:
    return json.dumps({"received_at": "2025-03-04T10:00:05Z",
                       "headers": {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": uuid,
                                   "X-Gitlab-Token": token}, "body": MR})


def pagerduty_line(secret: str) -> str:
    raw = json.dumps(PD, separators=(",", ":"))
    signature = "v1=" + hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"received_at": "2025-03-04T11:00:02Z",
                       "headers": {"X-PagerDuty-Signature": signature}, "body_raw": raw})


def parse(tmp_path: Path, provider: str, lines: list[str], secret: str | None):
    path = tmp_path / "import-abc.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return parse_landing(iter_lines([path]), source="src", provider=provider, load_batch_id="b",
                         received_start=datetime(2025, 3, 4), received_end=datetime(2025, 3, 5),
                         secret=secret)


def test_a_recorded_gitlab_file_loads_verified_and_a_wrong_token_is_quarantined(tmp_path: Path) -> None:
    lines = [gitlab_line(TOKEN, "u-1"), gitlab_line("stolen", "u-2")]
    rows, rejects = parse(tmp_path, "gitlab", lines, TOKEN)
    assert rows[["delivery_id", "event_type", "signature_status"]].values.tolist() == [
        ["u-1", "Merge Request Hook", "verified"]]
    assert rows["event_day"].iloc[0] == pd.Timestamp("2025-03-04")
    assert "x-gitlab-token" not in json.loads(rows["headers"].iloc[0])  # the credential is never stored
    assert rejects["reason"].tolist() == ["forged: X-Gitlab-Token does not match the configured secret token"]
    assert rejects["record_ref"].tolist() == ["file:import-abc.jsonl:2"]


def test_a_recorded_pagerduty_delivery_is_verified_by_its_v1_signature(tmp_path: Path) -> None:
    lines = [pagerduty_line(PD_SECRET), pagerduty_line("wrong")]
    rows, rejects = parse(tmp_path, "pagerduty", lines, PD_SECRET)
    assert rows[["delivery_id", "event_type", "signature_status"]].values.tolist() == [
        ["01EVT", "incident.triggered", "verified"]]
    assert rejects["reason"].iloc[0].startswith("forged: no X-PagerDuty-Signature v1 signature verifies")


def test_without_a_secret_recorded_deliveries_are_unchecked_and_landing_envelopes_keep_their_verdict(
        tmp_path: Path) -> None:
    envelope = json.dumps({"received_at": "2025-03-04T12:00:00Z", "delivery_id": "u-9", "provider": "gitlab",
                           "event_type": "Merge Request Hook", "signature_status": "verified", "headers": {},
                           "body_raw": json.dumps(MR)})
    rows, rejects = parse(tmp_path, "gitlab", [gitlab_line(TOKEN, "u-1"), envelope], None)
    assert rejects.empty
    assert dict(zip(rows["delivery_id"], rows["signature_status"], strict=True)) == {
        "u-1": "unchecked", "u-9": "verified"}
