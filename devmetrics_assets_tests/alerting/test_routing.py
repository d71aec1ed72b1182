"""alerting.yaml: the documented example parses, routes match as documented, errors name file and field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.alerting.channels import (
    EmailChannel,
    FileChannel,
    JsonWebhookChannel,
    SlackWebhookChannel,
)
from devmetrics_assets.alerting.routing import (
    DeliverySettings,
    config_from_mapping,
    config_path,
    load_config,
)
from devmetrics_assets.config import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"


def documented_example() -> dict:
    text = DOCS.read_text()
    block = re.search(r"```yaml\n(# \.devmetrics/alerting\.yaml\n.*?)```", text, re.S)
    assert block, "docs/alerting.md lost its complete alerting.yaml example"
    return yaml.safe_load(block.group(1))


def n(
    severity: str = "error",
    group: str | None = "silver",
    owners: tuple[str, ...] = (),
    kind: str = "check_failed",
    asset: str | None = "silver_changes",
) -> Notification:
    return Notification(
        problem_key="p",
        kind=kind,
        severity=severity,
        title="t",
        body="b",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        asset_key=asset,
        group=group,
        owners=owners,
    )


def test_no_file_means_everything_to_console(tmp_path: Path):
    config = load_config(tmp_path / "alerting.yaml", tmp_path)
    assert config.route(n()) == ("console",) and config.fallback_channel == "console"
    assert config.delivery == DeliverySettings()
    channels = config.build_channels(tmp_path)
    assert (
        isinstance(channels["console"], FileChannel)
        and channels["console"].path == tmp_path / "notifications.jsonl"
    )


def test_documented_example_parses_and_routes_as_documented(tmp_path: Path):
    config = config_from_mapping(documented_example(), "docs/alerting.md", tmp_path)
    channels = config.build_channels(tmp_path)
    assert isinstance(channels["data-slack"], SlackWebhookChannel)
    assert isinstance(channels["incident-hook"], JsonWebhookChannel)
    assert isinstance(channels["payments-mail"], EmailChannel) and channels["payments-mail"].starttls
    assert channels["audit-file"].path == tmp_path / "audit" / "notifications.jsonl"
    assert config.delivery.failures_before_alert == 3 and config.delivery.timeout_seconds == 5.0
    # gold warning: only the first route
    assert config.route(n("warning", group="gold", asset="gold_dora_daily")) == ("data-slack",)
    # silver error: second route
    assert config.route(n("error")) == ("data-slack", "incident-hook")
    # silver warning of a payments asset: only the owner route
    assert config.route(n("warning", owners=("team:payments",))) == ("payments-mail",)
    # stale bronze: the freshness route, and `stop` keeps the later kind route out
    assert config.route(n("warning", group="bronze", kind="freshness_failed", asset="bronze_github")) == (
        "incident-hook",
    )
    # bronze error of kind freshness: route 2 adds two channels, then route 4 stops
    assert config.route(n("error", group="bronze", kind="freshness_failed", asset="bronze_github")) == (
        "data-slack",
        "incident-hook",
    )
    # nothing matches: defaults
    assert config.route(n("info", group="quarantine")) == ("console", "audit-file")
    assert config.route(n("error", group=None, kind="deployment_failed", asset=None)) == ("data-slack",)


def test_routes_use_globs_min_severity_and_union_without_duplicates(tmp_path: Path):
    config = config_from_mapping(
        {
            "channels": {"a": {"type": "file", "path": "a.jsonl"}, "b": {"type": "file", "path": "b.jsonl"}},
            "routes": [
                {"match": {"asset": "silver_*", "min_severity": "error"}, "channels": ["a"]},
                {"match": {"severity": "critical"}, "channels": ["a", "b"]},
            ],
        },
        "x.yaml",
        tmp_path,
    )
    assert config.route(n("critical")) == ("a", "b")
    assert config.route(n("error", asset="gold_dora_daily")) == ("console",)
    assert config.route(n("warning")) == ("console",)
    assert config.route(n("error", asset=None)) == ("console",)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "routes:\n  - match: {group: gold}\n    channels: [pager]\n",
            r"routes\[0\]\.channels: unknown channel",
        ),
        ("routes:\n  - match: {severity: loud}\n    channels: console\n", r"routes\[0\]\.match\.severity"),
        ("routes:\n  - match: {team: x}\n    channels: console\n", r"routes\[0\]\.match: unknown field"),
        ("routes:\n  - match: {group: gold}\n", r"routes\[0\]\.channels: required"),
        ("channels:\n  s: {type: slack, url: 'ftp://x'}\n", r"channels\.s\.url: expected an http"),
        ("channels:\n  m: {type: email, host: h, sender: me, to: x@y.z}\n", r"channels\.m\.sender"),
        ("channels: [a, b]\n", r"channels: expected a mapping"),
        ("default_channels: [nowhere]\n", r"default_channels: unknown channel"),
        ("fallback_channel: nowhere\n", r"fallback_channel: unknown channel"),
        ("delivery: {backoff_base_seconds: -1}\n", r"delivery\.backoff_base_seconds: expected a positive"),
        ("delivery: {retries: 3}\n", r"delivery: unknown field"),
        ("delivery: {deliver_on_notify: 'yes'}\n", r"delivery\.deliver_on_notify"),
        ("slack: {}\n", r"unknown field\(s\) \['slack'\]"),
        ("channels: {a: [\n", r"not valid YAML"),
    ],
)
def test_malformed_file_names_file_and_field(tmp_path: Path, text: str, field: str):
    path = tmp_path / "alerting.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r".*" + field):
        load_config(path, tmp_path)


def test_config_path_prefers_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("DEVMETRICS_ALERTING", raising=False)
    assert config_path(tmp_path) == tmp_path / "alerting.yaml"
    monkeypatch.setenv("DEVMETRICS_ALERTING", str(tmp_path / "other.yaml"))
    assert config_path(tmp_path) == tmp_path / "other.yaml"
