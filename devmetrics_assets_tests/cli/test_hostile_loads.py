"""The hostile-input matrix: every kind of bad file, mixed with good lines, loaded with `devmetrics load`
in a fresh home. The good lines reach Silver and Gold, the bad ones are quarantined with their reason,
nothing prints a traceback, and a later clean load is never blocked by the poison one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.cli import main
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.providers.github.recorded_jsonl import signature_for
from devmetrics_assets.storage.warehouse import Warehouse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, list[str]]:
    """Day files of a small seeded organisation: good lines, signed with the sample key."""
    org = generate_sample_org(tmp_path_factory.mktemp("org"), repos=2, days=6, start=date(2025, 3, 3), seed=5)
    return {p.stem: p.read_text().splitlines() for p in org.deliveries_dir.glob("*.jsonl")}


def resigned(envelope: dict) -> str:
    payload = json.dumps(envelope["body"], separators=(",", ":"), ensure_ascii=False)
    envelope["headers"]["X-Hub-Signature-256"] = signature_for(SAMPLE_WEBHOOK_SECRET, payload.encode())
    return json.dumps(envelope, ensure_ascii=False)


def with_time(line: str, received_at: str | None = None, created_at: str | None = None) -> str:
    envelope = json.loads(line)
    envelope["delivery_id"] = envelope["headers"]["X-GitHub-Delivery"] = envelope["delivery_id"] + "-x"
    if received_at is not None:
        envelope["received_at"] = received_at
    if created_at is not None:
        envelope["body"]["deployment"]["created_at"] = created_at
    return resigned(envelope)


def a_deployment(lines: list[str]) -> str:
    return next(x for x in lines if '"X-GitHub-Event":"deployment"' in x.replace(" ", ""))


def conflicting(lines: list[str]) -> str:
    envelope = json.loads(a_deployment(lines))
    envelope["body"]["deployment"]["description"] = "the same id, another body"
    return resigned(envelope)


def non_ascii_signature(lines: list[str]) -> str:
    envelope = json.loads(with_time(a_deployment(lines)))
    envelope["headers"]["X-Hub-Signature-256"] = "sha256=\u00e9t\u00e9"
    return json.dumps(envelope, ensure_ascii=False)


# kind -> (the hostile lines to mix in, the reason each must be quarantined with; None: refused whole)
HOSTILE: dict[str, tuple[Callable[[list[str]], list[bytes]], str | None]] = {
    "invalid_utf8": (lambda g: [b'{"received_at": "2025-03-03T10:00:00Z", "junk": "\xff\xfe\xfd"}'],
                     "line is not valid UTF-8"),
    "not_json": (lambda g: [b"{this is not json"], "line is not valid JSON"),
    "json_array": (lambda g: [b"[1, 2, 3]"], "not an object envelope"),
    "deep_json": (lambda g: [b'{"received_at": "2025-03-03T10:00:00Z", "body": ' + b"[" * 10_000
                             + b"]" * 10_000 + b"}"], "levels deep; the limit is 128"),
    "received_1970": (lambda g: [with_time(a_deployment(g), "1970-01-01T00:00:00Z").encode()],
                      "before the history floor"),
    "received_9999": (lambda g: [with_time(a_deployment(g), "9999-12-31T00:00:00Z").encode()],
                      "in the future"),
    "event_1970": (lambda g: [with_time(a_deployment(g), created_at="1970-01-01T00:00:00Z").encode()],
                   "event time 1970-01-01T00:00:00Z is before the history floor"),
    "event_9999": (lambda g: [with_time(a_deployment(g), created_at="9999-01-01T00:00:00Z").encode()],
                   "event time 9999-01-01T00:00:00Z is more than 24 h in the future"),
    "non_ascii_signature": (lambda g: [non_ascii_signature(g).encode()], "signature mismatch"),
    "conflicting_redelivery": (lambda g: [conflicting(g).encode()], "conflicting redelivery"),
    "oversized_line": (lambda g: [b'{"received_at": "2025-03-03T10:00:00Z", "pad": "' + b"x" * (33 << 20)
                                  + b'"}'], "over the 33,554,432-byte limit"),
    "binary_file": (lambda g: [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01"], None),
}


def load(path: Path, capsys) -> tuple[int, str]:
    code = main(["load", str(path)])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output, output
    return code, output


@pytest.fixture
def secret(monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_file_loads_its_good_lines_quarantines_the_bad_and_blocks_nothing(
        kind: str, home: Path, tmp_path: Path, sample, secret, capsys) -> None:
    good = sample["2025-03-03"]
    make, reason = HOSTILE[kind]
    hostile = make(good)
    path = tmp_path / f"{kind}.jsonl"
    mixed = [*(x.encode() for x in good[:10]), *hostile, *(x.encode() for x in good[10:])]
    path.write_bytes(b"\n".join(mixed) + b"\n")
    code, output = load(path, capsys)
    warehouse = Warehouse(home / "warehouse.duckdb")
    if reason is None:  # refused whole, before landing: one line, exit 2, nothing landed
        assert code == 2 and output.count("\n") == 1 and "binary file" in output
        assert not (home / "landing" / "github").exists() or not list((home / "landing" / "github").iterdir())
    else:
        assert code == 0, output
        bronze = warehouse.read_table("bronze_deliveries")
        quarantine = warehouse.read_table("quarantine")
        good_ids = {json.loads(x)["delivery_id"] for x in good}
        stored_or_put_aside = set(bronze["delivery_id"]) | set(quarantine["record"].str.extract(
            r'"delivery_id": ?"([^"]+)"')[0].dropna())
        assert good_ids <= stored_or_put_aside  # no good line lost
        mine = quarantine[quarantine["reason"].str.contains(reason, regex=False)]
        assert len(mine) == len(hostile), quarantine[["record_ref", "reason"]].to_string()
        assert mine["record_ref"].str.startswith("file:import-").all()
        silver = warehouse.read_table("silver_deployments")
        assert len(silver) and (silver["event_day"] == pd.Timestamp("2025-03-03")).any()
        assert main(["load", "--resume"]) == 0 and "nothing pending" in capsys.readouterr().out
    # a later clean load is not blocked by the poison file still in landing
    later = tmp_path / "later.jsonl"
    later.write_text("\n".join(sample["2025-03-05"]) + "\n")
    code, output = load(later, capsys)
    assert code == 0, output
    days = Warehouse(home / "warehouse.duckdb").read_table("silver_deployments")["event_day"]
    assert (days == pd.Timestamp("2025-03-05")).any()
