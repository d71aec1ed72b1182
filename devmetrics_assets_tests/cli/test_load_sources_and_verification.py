"""`devmetrics load` for every provider's recorded files, verification that never silently downgrades,
and histories older than the partition start."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.sensors import notification_sensors
from devmetrics_assets.cli import main
from devmetrics_assets.config import PARTITIONS_FILE, Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.demo.sample_org.mixed import generate_mixed_org
from devmetrics_assets.providers.github.recorded_jsonl import signature_for
from devmetrics_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow
GL_TOKEN, PD_SECRET = "gl-token-value", "pd-secret-value"


def recorded_from_landing(folder: Path, provider: str) -> tuple[list[str], set[str]]:
    """The mixed organisation's landing envelopes as a capture tool records them: the provider's own
    headers (with its token or signature) and the raw body; no verdict, event type or provider.
    Also the distinct delivery ids (the organisation plants a redelivery: one id twice)."""
    lines, ids = [], set()
    for path in sorted(folder.glob("*.jsonl")):
        for text in path.read_text().splitlines():
            envelope = json.loads(text)
            headers = dict(envelope["headers"])
            if provider == "gitlab":
                headers["X-Gitlab-Token"] = GL_TOKEN
            else:
                raw = envelope["body_raw"].encode()
                digest = hmac.new(PD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
                headers["X-PagerDuty-Signature"] = f"v1={digest}"
            lines.append(json.dumps({"received_at": envelope["received_at"], "headers": headers,
                                     "delivery_id": envelope["delivery_id"],
                                     "body_raw": envelope["body_raw"]}))
            ids.add(envelope["delivery_id"])
    return lines, ids


def test_recorded_gitlab_and_pagerduty_files_load_every_delivery(home: Path, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    mixed = generate_mixed_org(tmp_path / "mixed", days=8, start=date(2025, 1, 6), seed=3)
    home.mkdir(parents=True)
    (home / "sources.yaml").write_text(yaml.safe_dump({"sources": [
        {"name": "gl", "type": "landing_jsonl", "provider": "gitlab", "secret_env": "GL_TOKEN"},
        {"name": "pd", "type": "landing_jsonl", "provider": "pagerduty", "secret_env": "PD_SECRET"},
    ]}))
    (home / "rules.yaml").write_text(mixed.rules_path.read_text())
    monkeypatch.setenv("GL_TOKEN", GL_TOKEN)
    monkeypatch.setenv("PD_SECRET", PD_SECRET)
    for source, provider in (("gl", "gitlab"), ("pd", "pagerduty")):
        lines, ids = recorded_from_landing(mixed.landing_dir / provider, provider)
        path = tmp_path / f"{provider}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        assert main(["load", "--source", source, str(path)]) == 0, capsys.readouterr()
        bronze = Warehouse(home / "warehouse.duckdb").read_table("bronze_deliveries")
        mine = bronze[bronze["source"] == source]
        assert set(mine["delivery_id"]) == ids and len(ids) > 0  # every recorded delivery, not a silent 0
        assert set(mine["signature_status"]) == {"verified"}
    warehouse = Warehouse(home / "warehouse.duckdb")
    assert (warehouse.read_table("silver_changes")["repo"].isin(mixed.repos)).any()
    assert len(warehouse.read_table("silver_incidents")) > 0


def forged(line: str) -> str:
    envelope = json.loads(line)
    envelope["delivery_id"] = envelope["headers"]["X-GitHub-Delivery"] = "forged-1"
    envelope["body"]["deployment"]["description"] = "tampered after signing"
    return json.dumps(envelope)  # the signature of the original body: does not verify


def test_no_verify_is_refused_silently_never_and_forged_deliveries_stay_quarantined(
        home: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    org = generate_sample_org(tmp_path / "org", repos=2, days=6, start=date(2025, 3, 3), seed=5)
    files = {p.stem: p.read_text().splitlines() for p in org.deliveries_dir.glob("*.jsonl")}
    first = tmp_path / "first.jsonl"
    deployment = next(x for x in files["2025-03-04"] if '"X-GitHub-Event":"deployment"' in x.replace(" ", ""))
    first.write_text("\n".join([*files["2025-03-04"], forged(deployment)]) + "\n")
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    assert main(["load", str(first)]) == 0
    quarantine = Warehouse(home / "warehouse.duckdb").read_table("quarantine")
    assert quarantine["reason"].str.startswith("signature mismatch").any()

    monkeypatch.delenv("GITHUB_WEBHOOK_SECRET")
    second = tmp_path / "second.jsonl"
    second.write_text("\n".join(files["2025-03-04"][:3]
                                + [json.dumps({**json.loads(x), "received_at": "2025-03-04T23:00:00Z"})
                                   for x in files["2025-03-05"]]) + "\n")
    capsys.readouterr()
    assert main(["load", str(second)]) == 2  # refused: the source is verified and the secret is gone
    assert "GITHUB_WEBHOOK_SECRET" in capsys.readouterr().err

    assert main(["load", "--no-verify", str(second)]) == 0
    assert "WITHOUT signature verification" in capsys.readouterr().out
    warehouse = Warehouse(home / "warehouse.duckdb")
    bronze = warehouse.read_table("bronze_deliveries")
    assert "forged-1" not in set(bronze["delivery_id"])  # the re-read first file's forgery stays out
    assert warehouse.read_table("quarantine")["reason"].str.startswith("signature mismatch").any()
    assert set(bronze.loc[bronze["received_at"] >= pd.Timestamp("2025-03-04T23:00Z"), "signature_status"]) \
        == {"unchecked"}
    checks = notification_sensors(lambda: build_notifier(None, home))[0]
    with dg.DagsterInstance.get() as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("bronze_github"), "signature_verification")])
        record = next(iter(latest.values()))
        assert record.evaluation is not None and not record.evaluation.passed
        # Only what this load stored went in unverified: the 3 re-read lines were stored (verified) before.
        assert record.evaluation.metadata["deliveries_loaded"].value == len(files["2025-03-05"])
        checks.evaluate_tick(dg.build_sensor_context(instance=instance,
                                                     definitions=build_definitions(Settings.from_env())))
    told = [json.loads(x)["title"] for x in (home / "notifications.jsonl").read_text().splitlines()]
    assert "Check failed: bronze_github / signature_verification" in told


def test_a_history_older_than_the_partition_start_extends_the_partitions(
        home: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    org = generate_sample_org(tmp_path / "org", repos=2, days=20, start=date(2024, 6, 10), seed=5)
    path = tmp_path / "2024.jsonl"
    path.write_text("".join(p.read_text() for p in sorted(org.deliveries_dir.glob("*.jsonl"))))
    assert main(["load", str(path)]) == 0, capsys.readouterr()
    assert json.loads((home / PARTITIONS_FILE).read_text()) == {"start": "2024-06-01"}
    assert Settings.from_env().partition_start == "2024-06-01"  # persisted: the UI's definitions see it
    gold = Warehouse(home / "warehouse.duckdb").read_table("gold_dora_monthly")
    org_rows = gold[gold["scope_type"] == "org"].set_index("period_start")
    assert org_rows.loc[pd.Timestamp("2024-06-01"), "deployments"] > 0
    defs = build_definitions(Settings.from_env())
    partitions = defs.resolve_assets_def("silver_deployments").partitions_def
    assert partitions.get_first_partition_key() == "2024-06-01"


def test_the_signature_compare_is_bytes_for_any_header(tmp_path: Path) -> None:
    from devmetrics_assets.providers.github.recorded_jsonl import verify_signature

    payload = b'{"a":1}'
    assert verify_signature("s", payload, signature_for("s", payload))
    assert not verify_signature("s", payload, "sha256=\u00e9\u00e9")  # was TypeError: str compare_digest
    assert not verify_signature("s", payload, "sha256=\udcff")  # a lone surrogate from a bad decode
