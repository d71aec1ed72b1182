"""OutboxNotifier end to end against real local HTTP and SMTP receivers."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import yaml

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.alerting.notifier import CHANNEL_FAILING, OutboxNotifier, build_notifier
from devmetrics_assets.alerting.routing import load_config


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def problem(
    key: str = "check:silver_changes:schema",
    severity: str = "error",
    group: str = "silver",
    owners: tuple[str, ...] = (),
    recovery: bool = False,
) -> Notification:
    return Notification(
        problem_key=key,
        kind="recovered" if recovery else "check_failed",
        severity="info" if recovery else severity,
        title=f"{'ok' if recovery else 'broken'} {key}",
        body="b",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        asset_key="silver_changes",
        group=group,
        owners=owners,
        recovery=recovery,
    )


def notifier_for(home: Path, config: dict, clock: Clock | None = None) -> OutboxNotifier:
    path = home / "alerting.yaml"
    path.write_text(yaml.safe_dump(config))
    return OutboxNotifier(load_config(path, home), home, clock=clock or Clock())


def console_lines(home: Path) -> list[dict]:
    path = home / "notifications.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def hook_config(receiver, **extra) -> dict:
    return {
        "channels": {"hook": {"type": "webhook", "url": receiver.url("/hook")}},
        "default_channels": ["hook"],
        **extra,
    }


def test_one_notification_per_problem_and_one_recovery(tmp_path: Path, http_receiver):
    notifier = notifier_for(tmp_path, hook_config(http_receiver))
    assert notifier.notify(problem()) is True
    assert [notifier.notify(problem()) for _ in range(5)] == [False] * 5
    assert notifier.notify(problem(recovery=True)) is True
    assert [notifier.notify(problem(recovery=True)) for _ in range(3)] == [False] * 3
    sent = [r.json for r in http_receiver.requests]
    assert [(m["problem_key"], m["recovery"]) for m in sent] == [
        ("check:silver_changes:schema", False),
        ("check:silver_changes:schema", True),
    ]
    assert sent[1]["details"]["problem_title"] == "broken check:silver_changes:schema"
    # failing again after it cleared is a new problem
    assert notifier.notify(problem()) is True
    assert len(http_receiver.requests) == 3
    assert [p["problem_key"] for p in notifier.problems()] == ["check:silver_changes:schema"]


def test_a_worse_severity_is_sent_again_as_an_escalation(tmp_path: Path, http_receiver):
    notifier = notifier_for(tmp_path, hook_config(http_receiver))
    assert notifier.notify(problem(severity="warning"))
    assert notifier.notify(problem(severity="error"))
    assert not notifier.notify(problem(severity="warning"))
    assert not notifier.notify(problem(severity="error"))
    escalation = http_receiver.requests[1].json
    assert escalation["severity"] == "error" and escalation["details"]["escalated_from"] == "warning"


def test_routing_sends_each_notification_only_to_its_channels(tmp_path: Path, http_receiver, smtp_receiver):
    notifier = notifier_for(
        tmp_path,
        {
            "channels": {
                "slack": {"type": "slack", "url": http_receiver.url("/slack")},
                "hook": {"type": "webhook", "url": http_receiver.url("/hook")},
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": smtp_receiver.port,
                    "sender": "devmetrics@example.com",
                    "to": ["payments@example.com"],
                },
            },
            "routes": [
                {"match": {"group": "gold", "min_severity": "error"}, "channels": ["slack"]},
                {"match": {"owner": "team:payments"}, "channels": "mail"},
                {"match": {"kind": "freshness_failed"}, "channels": ["hook", "slack"]},
            ],
        },
    )
    notifier.notify(problem("gold-error", group="gold"))
    notifier.notify(problem("gold-warning", severity="warning", group="gold"))  # no route: default console
    notifier.notify(problem("payments", severity="warning", owners=("team:payments", "team:x")))
    notifier.notify(
        Notification(
            problem_key="stale",
            kind="freshness_failed",
            severity="warning",
            title="stale",
            body="b",
            occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
            group="bronze",
        )
    )
    assert [r.json["text"] for r in http_receiver.on("/slack")] == [
        ":red_circle: [ERROR] broken gold-error",
        ":warning: [WARNING] stale",
    ]
    assert [r.json["problem_key"] for r in http_receiver.on("/hook")] == ["stale"]
    assert [m["Subject"] for m in smtp_receiver.by_subject("")] == ["[devmetrics] [WARNING] broken payments"]
    assert [m["problem_key"] for m in console_lines(tmp_path)] == ["gold-warning"]
    # the recovery goes where the problem went, even after routing changed
    notifier.config = load_config(None)
    notifier.notify(problem("payments", recovery=True))
    assert [m["Subject"] for m in smtp_receiver.by_subject("RESOLVED")] == [
        "[devmetrics] [RESOLVED] ok payments"
    ]


def test_notifications_queued_while_down_are_delivered_when_back(tmp_path: Path, http_receiver):
    clock = Clock()
    notifier = notifier_for(tmp_path, hook_config(http_receiver, delivery={"backoff_base_seconds": 1}), clock)
    http_receiver.stop()
    assert [notifier.notify(problem(f"p{i}")) for i in range(3)] == [True, True, True]
    assert notifier.outbox.pending_count("hook") == 3 and http_receiver.requests == []
    # one immediate attempt found the channel down; the next notifications did not wait on it again
    assert [m.attempts for m in notifier.outbox.messages()] == [1, 0, 0]
    assert notifier.failing_channels() == {"hook"}
    http_receiver.start()
    clock.now += 3600
    report = notifier.deliver()
    assert [channel for _, channel in report.delivered].count("hook") == 3
    assert [r.json["problem_key"] for r in http_receiver.requests] == ["p0", "p1", "p2"]
    assert console_lines(tmp_path) == []  # one failed attempt is not yet "keeps failing"
    assert notifier.failing_channels() == set()
    clock.now += 3600
    assert notifier.deliver().attempts == 0  # nothing sent twice


def test_the_notifier_reports_its_own_repeated_failure_once_then_the_recovery(tmp_path: Path, http_receiver):
    clock = Clock()
    notifier = notifier_for(
        tmp_path,
        hook_config(http_receiver, delivery={"backoff_base_seconds": 1, "failures_before_alert": 3}),
        clock,
    )
    http_receiver.status["/hook"] = 503
    notifier.notify(problem("p1"))  # attempt 1 (deliver on notify)
    for _ in range(6):  # attempts 2..7
        clock.now += 600
        notifier.deliver()
    meta = [m for m in console_lines(tmp_path) if m["kind"] == CHANNEL_FAILING]
    assert len(meta) == 1 and meta[0]["severity"] == "error" and not meta[0]["recovery"]
    assert (
        "channel 'hook' keep failing" in meta[0]["title"]
        and "1 notification(s) are queued" in meta[0]["body"]
    )
    assert "HTTP 503" in meta[0]["body"]
    assert len(http_receiver.requests) == 7 and notifier.outbox.pending_count("hook") == 1
    http_receiver.status["/hook"] = 200
    clock.now += 600
    notifier.deliver()
    meta = [m for m in console_lines(tmp_path) if m["kind"] == CHANNEL_FAILING]
    assert [m["recovery"] for m in meta] == [False, True]
    assert http_receiver.requests[-1].json["problem_key"] == "p1" and notifier.outbox.pending_count() == 0


def test_two_producers_reporting_the_same_problem_queue_it_once(tmp_path: Path, http_receiver):
    config = hook_config(http_receiver)
    notifiers = [notifier_for(tmp_path, config) for _ in range(4)]  # e.g. daemon threads and the watcher
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda x=x: results.append(x.notify(problem()))) for x in notifiers * 3
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 11 + [True]
    assert len(http_receiver.wait_for(1)) == 1


def test_build_notifier_defaults_to_the_console_file(tmp_path: Path, capsys):
    notifier = build_notifier(None, tmp_path)
    assert notifier.path == tmp_path / "alerting.sqlite3"
    assert notifier.notify(problem())
    assert [m["problem_key"] for m in console_lines(tmp_path)] == ["check:silver_changes:schema"]
    assert "[ERROR] broken check:silver_changes:schema" in capsys.readouterr().err
    assert build_notifier(tmp_path / "missing.yaml", tmp_path).is_open("check:silver_changes:schema")
