"""The durable outbox against a real local HTTP receiver: queued while down, delivered when back."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from devmetrics_assets.alerting.channels import JsonWebhookChannel
from devmetrics_assets.alerting.outbox import Outbox


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def outbox(tmp_path: Path, clock: Clock | None = None, **kw) -> Outbox:
    return Outbox(tmp_path / "alerting.sqlite3", clock=clock or Clock(), rng=random.Random(1), **kw)


def hooks(receiver, *names: str) -> dict[str, JsonWebhookChannel]:
    return {name: JsonWebhookChannel(name=name, url=receiver.url(f"/{name}"), timeout=1) for name in names}


def test_enqueue_then_deliver_once(tmp_path: Path, http_receiver):
    box = outbox(tmp_path)
    first = box.enqueue("a", {"title": "one"}, "p1")
    report = box.deliver(hooks(http_receiver, "a"))
    assert report.delivered == [(first, "a")] and report.outcomes == {"a": None}
    (req,) = http_receiver.requests
    assert req.json["title"] == "one" and req.json["message_id"] == f"{first}-{box.salt}"
    assert box.deliver(hooks(http_receiver, "a")).attempts == 0  # delivered messages are not sent again
    (msg,) = box.messages()
    assert msg.status == "delivered" and msg.attempts == 1 and msg.problem_key == "p1"


def test_nothing_is_lost_while_the_channel_is_down(tmp_path: Path, http_receiver):
    clock = Clock()
    box = outbox(tmp_path, clock, backoff_base_seconds=10, backoff_max_seconds=60)
    channels = hooks(http_receiver, "a")
    http_receiver.stop()  # port closed
    ids = [box.enqueue("a", {"title": f"m{i}"}) for i in range(3)]
    for _ in range(4):  # several passes while down: one attempt per pass, never dropped
        report = box.deliver(channels)
        assert report.attempts == 1 and report.failed and not report.delivered
        clock.now += 120
    pending = box.messages(status="pending")
    assert (
        [m.id for m in pending] == ids and pending[0].attempts == 4 and "unreachable" in pending[0].last_error
    )
    http_receiver.start()  # same port again
    clock.now += 120
    report = box.deliver(channels)
    assert [i for i, _ in report.delivered] == ids
    assert [r.json["title"] for r in http_receiver.requests] == ["m0", "m1", "m2"]  # in order, each once
    assert box.pending_count() == 0


def test_retry_waits_with_capped_full_jitter_backoff(tmp_path: Path, http_receiver):
    clock = Clock()
    box = outbox(tmp_path, clock, backoff_base_seconds=2, backoff_max_seconds=20)
    delays = [box.backoff(n) for n in range(1, 9) for _ in range(50)]
    caps = [min(20, 2 * 2 ** (n - 1)) for n in range(1, 9) for _ in range(50)]
    assert all(0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert max(delays[-50:]) > 10  # jitter spreads over the whole capped window
    assert box.backoff(1, retry_after=15) >= 15  # the receiver's Retry-After is honoured

    http_receiver.status["/a"] = 503
    box.enqueue("a", {"title": "x"})
    channels = hooks(http_receiver, "a")
    box.deliver(channels)
    (msg,) = box.messages()
    assert clock.now <= msg.next_attempt_at <= clock.now + 2
    clock.now = msg.next_attempt_at - 0.001
    assert box.deliver(channels).attempts == 0  # not due yet
    clock.now = msg.next_attempt_at
    assert box.deliver(channels).attempts == 1
    assert len(http_receiver.requests) == 2


def test_attempts_per_call_are_bounded_and_a_dead_channel_does_not_block_others(
    tmp_path: Path, http_receiver
):
    box = outbox(tmp_path)
    http_receiver.status["/down"] = 500
    for i in range(5):
        box.enqueue("down", {"title": f"d{i}"})
    for i in range(30):
        box.enqueue("up", {"title": f"u{i}"})
    channels = hooks(http_receiver, "down", "up")
    report = box.deliver(channels, max_attempts=10)
    # one try on the dead channel, then it is skipped for the rest of the pass; 9 go to the live one
    assert len(report.failed) == 1 and len(report.delivered) == 9 and report.attempts == 10
    assert box.pending_count("up") == 21 and box.pending_count("down") == 5
    assert set(report.outcomes) == {"down", "up"} and report.outcomes["up"] is None


def test_unknown_channel_keeps_its_messages(tmp_path: Path, http_receiver):
    box = outbox(tmp_path)
    box.enqueue("removed", {"title": "x"})
    report = box.deliver({})
    assert report.outcomes["removed"][1] is True  # flagged as needing a configuration change
    assert box.pending_count("removed") == 1


def test_two_deliverers_never_send_the_same_message_twice(tmp_path: Path, http_receiver):
    first = Outbox(tmp_path / "alerting.sqlite3")
    for i in range(40):
        first.enqueue("a", {"title": f"m{i}"})
    second = Outbox(tmp_path / "alerting.sqlite3")  # another process on the same file (same real clock)
    channels = hooks(http_receiver, "a")
    threads = [
        threading.Thread(target=box.deliver, args=(channels,), kwargs={"max_attempts": 40})
        for box in (first, second, first)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    titles = sorted(r.json["title"] for r in http_receiver.requests)
    assert titles == sorted(f"m{i}" for i in range(40))  # each exactly once
    assert first.pending_count() == 0


def test_prune_forgets_only_old_delivered_messages(tmp_path: Path, http_receiver):
    clock = Clock()
    box = outbox(tmp_path, clock)
    box.enqueue("a", {"title": "sent"})
    box.deliver(hooks(http_receiver, "a"))
    box.enqueue("gone", {"title": "kept"})
    clock.now += 10 * 86400
    assert box.prune(86400) == 1
    assert [m.payload["title"] for m in box.messages()] == ["kept"]
