"""The real-time watcher: newly stored deliveries -> notifications now, and a refresh of their days.

    python -m devmetrics_assets.realtime            # run until stopped (SIGINT / SIGTERM)
    python -m devmetrics_assets.realtime --once     # handle what is stored now, then exit

It follows Bronze (a MongoDB change stream, or a DuckDB tail by load_seq — realtime/feeds.py),
classifies each delivery (realtime/classify.py), hands notifications to the same notifier as the
trust layer (alerting/notifier.py: routing, de-duplication, durable outbox), commits its cursor and
bookkeeping in one SQLite transaction per delivery (realtime/state.py), and asks the materialiser to
refresh the Silver/Gold partitions of the event days that alerted (realtime/materialise.py).

Delivery guarantee: at-least-once hand-over to the notifier, made exactly-once by the ledger of
handled deliveries and by the notifier's durable problem keys; a restart resumes after the last
committed delivery, so nothing is lost and nothing is notified twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devmetrics_assets.alerting.api import Notification, Notifier
from devmetrics_assets.config import DoraRules
from devmetrics_assets.realtime.classify import Classifier, Delivery
from devmetrics_assets.realtime.feeds import ResumeImpossibleError
from devmetrics_assets.realtime.materialise import Materialiser, NoMaterialiser
from devmetrics_assets.realtime.state import WatcherState
from devmetrics_assets.storage.backend import DeliveryFeed, Storage
from devmetrics_assets.storage.mongo_guards import MongoDeploymentError

log = logging.getLogger(__name__)
DEFAULT_BOOTSTRAP_DAYS = 90
DELIVER_EVERY_SECONDS = 10.0


@dataclass
class WatchStats:
    handled: int = 0
    replayed: int = 0  # deliveries seen again after a restart and skipped
    notified: int = 0
    deduplicated: int = 0  # notifications the notifier had already
    requested_days: set = field(default_factory=set)


class Watcher:
    def __init__(
        self,
        storage: Storage,
        notifier: Notifier,
        rules: DoraRules,
        state: WatcherState,
        materialiser: Materialiser | None = None,
        *,
        from_beginning: bool = False,
        bootstrap_days: int = DEFAULT_BOOTSTRAP_DAYS,
        max_await_ms: int = 200,
    ) -> None:
        self.storage = storage
        self.notifier = notifier
        self.state = state
        self.materialiser = materialiser or NoMaterialiser()
        self.feed: DeliveryFeed = storage.delivery_feed(state, max_await_ms)
        self.classifier = Classifier(rules, state)
        self.from_beginning = from_beginning
        self.bootstrap_days = bootstrap_days
        self.stats = WatchStats()
        self._opened = False
        self._last_deliver = time.monotonic()

    def open(self) -> None:
        """Open the feed at the saved cursor; on a first start, seed the rollback index from history."""
        fresh = self.feed.open(self.from_beginning)
        self._opened = True
        if fresh and not self.from_beginning:
            seeded = self.feed.bootstrap(self.bootstrap_days)
            for delivery in seeded:
                self.classifier.classify(delivery, quiet=True)
            self.state.commit()
            log.info("first start: cursor set to now, rollback index seeded from %d deliveries", len(seeded))

    def close(self) -> None:
        self.feed.close()
        self._opened = False

    def handle(self, delivery: Delivery, cursor: Any) -> list[Notification]:
        """Classify, notify, then commit cursor + ledger + index together (see module docstring)."""
        if self.state.handled(delivery.source, delivery.delivery_id):
            self.feed.save(cursor)
            self.state.commit()
            self.stats.replayed += 1
            return []
        try:
            notes = self.classifier.classify(delivery)
            for note in notes:
                if self.notifier.notify(note):
                    self.stats.notified += 1
                else:
                    self.stats.deduplicated += 1
            self.state.mark_handled(delivery.source, delivery.delivery_id)
            self.feed.save(cursor)
            self.state.commit()
        except BaseException:
            self.state.rollback()
            raise
        self.stats.handled += 1
        if notes:
            self.stats.requested_days.add(delivery.event_day)
            self.materialiser.request([delivery.event_day])
        return notes

    def run_once(self, max_events: int = 500) -> int:
        """Handle what is available now (waits at most the feed's await time); returns how many."""
        if not self._opened:
            self.open()
        batch = self.feed.poll(max_events)
        for delivery, cursor in batch:
            self.handle(delivery, cursor)
        idle = self.feed.idle_cursor()
        if idle is not None:
            self.feed.save(idle)
            self.state.commit()
        self._deliver_due()
        return len(batch)

    def drain(self, max_rounds: int = 100) -> int:
        """run_once until nothing new arrives (tests, `--once`)."""
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def run_forever(self, stop: threading.Event | None = None, poll_interval: float = 0.5,
                    heartbeat: Callable[[], None] | None = None) -> None:
        """Follow the feed until `stop` is set; transient errors reopen the feed at the saved cursor.

        `heartbeat` is called after each poll that did not fail (realtime/heartbeat.py: the health check)."""
        stop = stop or threading.Event()
        failures = 0
        while not stop.is_set():
            try:
                n = self.run_once()
                failures = 0
                if heartbeat is not None:
                    heartbeat()
            except (ResumeImpossibleError, MongoDeploymentError):
                raise
            except Exception:  # noqa: BLE001 - log, back off, resume from the committed cursor
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.exception("watcher error; reopening the feed in %.1f s", delay)
                self.close()
                stop.wait(delay)
                continue
            if n == 0 and not self.feed.waits_for_changes:
                stop.wait(poll_interval)  # a change stream already waited server-side
        self.close()

    def _deliver_due(self) -> None:
        """Retry queued notifications (the outbox) even when no Dagster daemon runs."""
        deliver = getattr(self.notifier, "deliver", None)
        if deliver is not None and time.monotonic() - self._last_deliver >= DELIVER_EVERY_SECONDS:
            self._last_deliver = time.monotonic()
            try:
                deliver()
            except Exception:  # noqa: BLE001 - delivery problems are the outbox's to report
                log.exception("outbox delivery failed")
