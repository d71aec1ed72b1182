"""`python -m devmetrics_assets.realtime`: the real-time watcher (see realtime/watcher.py)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from devmetrics_assets.config import Settings, load_rules


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m devmetrics_assets.realtime",
        description="Watch newly stored deliveries (MongoDB change stream, or DuckDB Bronze tail) and "
                    "notify about failed production deployments, incidents and rollbacks right away.")
    p.add_argument("--once", action="store_true",
                   help="handle what is stored now (and wait for the refresh it asked for), then exit")
    p.add_argument("--state", type=Path,
                   help="state file (default $DEVMETRICS_HOME/realtime/watcher.sqlite3)")
    p.add_argument("--poll-interval", type=float, default=0.5, help="DuckDB tail poll interval, seconds")
    p.add_argument("--no-materialise", action="store_true",
                   help="only notify; do not refresh the affected Silver/Gold partitions")
    p.add_argument("--debounce", type=float, default=2.0, help="seconds to batch days before a refresh")
    p.add_argument("--bootstrap-days", type=int, default=90,
                   help="on a first start, days of history that seed the rollback index")
    p.add_argument("--reset-cursor", action="store_true",
                   help="forget the saved position and start from now (after an unrecoverable resume)")
    p.add_argument("--heartbeat", type=Path,
                   help="file touched while the loop runs, for health checks (default "
                        "$DEVMETRICS_HOME/realtime/heartbeat; `devmetrics health watcher` reads it)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from devmetrics_assets.alerting.notifier import build_notifier
    from devmetrics_assets.alerting.routing import config_path
    from devmetrics_assets.realtime.heartbeat import Heartbeat, default_heartbeat_path
    from devmetrics_assets.realtime.materialise import DagsterMaterialiser, NoMaterialiser
    from devmetrics_assets.realtime.state import WatcherState
    from devmetrics_assets.realtime.watcher import Watcher
    from devmetrics_assets.storage.selection import describe_storage, open_storage

    settings = Settings.from_env()
    state = WatcherState(args.state or settings.home / "realtime" / "watcher.sqlite3")
    if args.reset_cursor:
        state.con.execute("DELETE FROM cursor")
        state.commit()
    materialiser = (NoMaterialiser() if args.no_materialise
                    else DagsterMaterialiser.for_settings(settings, args.debounce))
    watcher = Watcher(open_storage(settings), build_notifier(config_path(settings.home), settings.home),
                      load_rules(settings.rules_path), state, materialiser,
                      bootstrap_days=args.bootstrap_days)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"devmetrics realtime: watching {describe_storage(settings)} (state {state.path})", file=sys.stderr)
    try:
        if args.once:
            watcher.drain()
        else:
            beat = Heartbeat(args.heartbeat or default_heartbeat_path(settings.home))
            watcher.run_forever(stop, args.poll_interval, heartbeat=beat.beat)
    finally:
        watcher.close()
        materialiser.close(None if args.once else 120.0)  # --once waits for its refresh to finish
        state.close()
    s = watcher.stats
    print(f"devmetrics realtime: handled {s.handled}, notified {s.notified}, "
          f"de-duplicated {s.deduplicated}, replayed {s.replayed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
