"""Channels against real local receivers: Slack-style and JSON webhooks over HTTP, email over SMTP."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.alerting.channels import (
    DeliveryError,
    EmailChannel,
    FileChannel,
    JsonWebhookChannel,
    SlackWebhookChannel,
    build_channel,
    notification_to_message,
)
from devmetrics_assets.config import ConfigError


def message(recovery: bool = False, **kw) -> dict:
    n = Notification(
        problem_key="check:silver_deployments:schema",
        kind="recovered" if recovery else "check_failed",
        severity="info" if recovery else "error",
        title="Check failed: silver_deployments / schema",
        body="3 rows | bad\nsecond line",
        occurred_at=datetime(2025, 3, 4, 10, 0, tzinfo=UTC),
        asset_key="silver_deployments",
        group="silver",
        owners=("team:data-platform",),
        recovery=recovery,
        details={"links": {"run": "http://127.0.0.1:3000/runs/abc"}, "when": datetime(2025, 1, 1)},
        **kw,
    )
    return {**notification_to_message(n), "message_id": "7-salt"}


def test_a_message_is_json_safe_with_iso_times():
    m = message()
    assert json.loads(json.dumps(m)) == m  # JSON-safe, datetimes as text
    assert m["problem_key"] == "check:silver_deployments:schema" and m["owners"] == ["team:data-platform"]
    assert datetime.fromisoformat(m["occurred_at"]) == datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def test_slack_webhook_posts_text_and_blocks(http_receiver):
    channel = SlackWebhookChannel(name="slack", url=http_receiver.url("/slack"))
    channel.send(message())
    channel.send(message(recovery=True))
    failed, resolved = [r.json for r in http_receiver.on("/slack")]
    assert failed["text"] == ":red_circle: [ERROR] Check failed: silver_deployments / schema"
    assert failed["blocks"][1]["text"]["text"].startswith("3 rows | bad")
    assert "<http://127.0.0.1:3000/runs/abc|run>" in failed["blocks"][-1]["elements"][0]["text"]
    assert resolved["text"].startswith(":white_check_mark: [RESOLVED]")


def test_json_webhook_posts_the_message_signed(http_receiver, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    channel = JsonWebhookChannel(
        name="hook", url=http_receiver.url("/json"), headers={"X-Team": "data"}, secret_env="HOOK_SECRET"
    )
    channel.send(message())
    (req,) = http_receiver.on("/json")
    assert req.json == message()
    assert req.headers["X-Team"] == "data" and req.headers["X-Devmetrics-Message-Id"] == "7-salt"
    expected = "sha256=" + hmac.new(b"s3cret", req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Devmetrics-Signature-256"] == expected


def test_webhook_errors_say_whether_retrying_can_help(http_receiver):
    http_receiver.status.update({"/down": 503, "/gone": 404, "/slow": 429})
    http_receiver.headers["/slow"] = {"Retry-After": "7"}
    with pytest.raises(DeliveryError) as down:
        JsonWebhookChannel(name="a", url=http_receiver.url("/down")).send(message())
    assert not down.value.permanent and "503" in str(down.value)
    with pytest.raises(DeliveryError) as gone:
        JsonWebhookChannel(name="b", url=http_receiver.url("/gone")).send(message())
    assert gone.value.permanent
    with pytest.raises(DeliveryError) as slow:
        SlackWebhookChannel(name="c", url=http_receiver.url("/slow")).send(message())
    assert slow.value.retry_after == 7.0 and not slow.value.permanent


def test_closed_port_and_missing_secret_raise_delivery_errors(http_receiver, monkeypatch):
    url = http_receiver.url("/x")
    http_receiver.stop()
    with pytest.raises(DeliveryError, match="unreachable"):
        SlackWebhookChannel(name="s", url=url, timeout=1).send(message())
    monkeypatch.delenv("NO_SUCH_URL", raising=False)
    with pytest.raises(DeliveryError, match="NO_SUCH_URL") as exc:
        SlackWebhookChannel(name="s", url_env="NO_SUCH_URL").send(message())
    assert exc.value.permanent


def test_email_over_smtp(smtp_receiver):
    channel = EmailChannel(
        name="mail",
        host="127.0.0.1",
        port=smtp_receiver.port,
        sender="devmetrics@example.com",
        to=("oncall@example.com", "lead@example.com"),
    )
    channel.send(message())
    ((sender, rcpts, mail),) = smtp_receiver.messages
    assert sender == "devmetrics@example.com" and rcpts == ["oncall@example.com", "lead@example.com"]
    assert mail["Subject"] == "[devmetrics] [ERROR] Check failed: silver_deployments / schema"
    assert mail["Message-ID"] == "<devmetrics-7-salt@example.com>"
    text = mail.get_payload(decode=True).decode()
    assert "3 rows | bad" in text and "run: http://127.0.0.1:3000/runs/abc" in text


def test_email_server_down_is_a_delivery_error(smtp_receiver):
    from devmetrics_assets_tests.alerting.conftest import free_port

    channel = EmailChannel(
        name="mail",
        host="127.0.0.1",
        port=free_port(),
        sender="a@example.com",
        to=("b@example.com",),
        timeout=2,
    )
    with pytest.raises(DeliveryError, match="unreachable"):
        channel.send(message())


def test_file_channel_appends_json_lines_and_echoes(tmp_path: Path):
    stream = io.StringIO()
    channel = FileChannel(name="console", path=tmp_path / "sub" / "n.jsonl", echo=True, stream=stream)
    channel.send(message())
    channel.send(message(recovery=True))
    lines = [json.loads(x) for x in (tmp_path / "sub" / "n.jsonl").read_text().splitlines()]
    assert [x["recovery"] for x in lines] == [False, True]
    assert "[ERROR] Check failed" in stream.getvalue() and "[RESOLVED]" in stream.getvalue()


def test_build_channel_validates_fields_naming_them(tmp_path: Path):
    where = "alerting.yaml: channels.mail"
    with pytest.raises(ConfigError, match=r"alerting.yaml: channels.mail.to: required"):
        build_channel("mail", {"type": "email", "host": "h", "sender": "a@x.org"}, where=where, home=tmp_path)
    with pytest.raises(ConfigError, match=r"channels.mail.port: expected int"):
        build_channel(
            "mail",
            {"type": "email", "host": "h", "sender": "a@x.org", "to": "b@x.org", "port": "25"},
            where=where,
            home=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"channels.s: give exactly one of url"):
        build_channel("s", {"type": "slack"}, where="alerting.yaml: channels.s", home=tmp_path)
    with pytest.raises(ConfigError, match=r"channels.s.type: expected one of"):
        build_channel("s", {"type": "pager"}, where="alerting.yaml: channels.s", home=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['colour'\]"):
        build_channel(
            "c", {"type": "console", "colour": "red"}, where="alerting.yaml: channels.c", home=tmp_path
        )
    console = build_channel("c", {"type": "console"}, where="x", home=tmp_path)
    assert (
        isinstance(console, FileChannel) and console.path == tmp_path / "notifications.jsonl" and console.echo
    )
