"""The watcher's heartbeat (realtime/heartbeat.py): touched after each poll that did not fail, at most
every `every_seconds`; a watcher only retrying errors never touches it."""

from __future__ import annotations

import os
import threading

from devmetrics_assets.config import DoraRules
from devmetrics_assets.realtime.heartbeat import Heartbeat, default_heartbeat_path, heartbeat_age
from devmetrics_assets.realtime.state import WatcherState
from devmetrics_assets.realtime.watcher import Watcher
from devmetrics_assets.storage.warehouse import Warehouse


class _Quiet:
    def notify(self, notification) -> bool:
        return True


def test_beat_creates_the_file_and_is_throttled(tmp_path) -> None:
    path = default_heartbeat_path(tmp_path)
    assert path == tmp_path / "realtime" / "heartbeat" and heartbeat_age(path, 0.0) is None
    beat = Heartbeat(path, every_seconds=3600)
    beat.beat()
    assert path.exists()
    os.utime(path, (1000.0, 1000.0))
    beat.beat()  # within the hour: not written again
    assert path.stat().st_mtime == 1000.0
    Heartbeat(path, every_seconds=0).beat()
    assert path.stat().st_mtime > 1000.0


def test_run_forever_beats_after_each_good_poll_and_never_while_failing(tmp_path) -> None:
    warehouse = Warehouse(tmp_path / "wh.duckdb")
    stop, beats = threading.Event(), []

    def beat() -> None:
        beats.append(1)
        if len(beats) == 3:
            stop.set()

    watcher = Watcher(warehouse, _Quiet(), DoraRules(), WatcherState(tmp_path / "w.sqlite3"))
    watcher.run_forever(stop, poll_interval=0.0, heartbeat=beat)
    assert len(beats) == 3

    class Failing(Watcher):
        def run_once(self, max_events: int = 500) -> int:
            stop.set()  # one failed poll, then stop: the loop backs off and ends
            raise ConnectionError("feed down")

    stop.clear()
    failing = Failing(warehouse, _Quiet(), DoraRules(), WatcherState(tmp_path / "w2.sqlite3"))
    failing.run_forever(stop, poll_interval=0.0, heartbeat=beat)
    assert len(beats) == 3
