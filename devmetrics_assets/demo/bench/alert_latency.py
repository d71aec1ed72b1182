"""Alert latency: a delivery stored in Bronze -> its notification received by a local HTTP endpoint.

    from devmetrics_assets.demo.bench.alert_latency import measure_alert_latency
    measure_alert_latency(200)                        # MongoDB (MONGODB_URI, else SecantusDB in process)
    measure_alert_latency(200, backend="duckdb")      # DuckDB Bronze tail

The whole real path runs: the storage's own append (`append_bronze`), the watcher as deployed
(`python -m devmetrics_assets.realtime` in its own process: change stream or load_seq tail,
classification, state commit), the real notifier
(`alerting.notifier.build_notifier`: routing, problem de-duplication, durable outbox) with a
`webhook` channel posting to a local ThreadingHTTPServer. One failed production deployment at a time;
latency = receiver's arrival time - the moment `append_bronze` returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.storage.backend import Storage


# ---- deliveries as Bronze rows (also used by the tests) --------------------------------------------
def bronze_row(event_type: str, body: dict[str, Any], delivery_id: str, *, source: str = "github",
               received_at: datetime | None = None, event_at: datetime | str | None = None) -> dict[str, Any]:
    text = json.dumps(body, separators=(",", ":"))
    return {
        "source": source, "provider": "github", "delivery_id": delivery_id, "event_type": event_type,
        "received_at": pd.Timestamp(received_at or datetime.now(UTC)),
        "event_at": pd.Timestamp(event_at) if event_at is not None else pd.NaT,
        "headers": json.dumps({"X-GitHub-Event": event_type, "X-GitHub-Delivery": delivery_id}),
        "body": text, "payload_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "signature_status": "unchecked", "load_batch_id": "realtime-test",
    }


def bronze_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for c in ("received_at", "event_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True).astype("datetime64[us, UTC]")
    return frame


def repository(repo: str) -> dict[str, Any]:
    return {"full_name": repo, "name": repo.split("/")[-1], "default_branch": "main",
            "owner": {"login": repo.split("/")[0]}}


def deployment_status_body(repo: str, dep_id: int, sha: str, state: str, env: str = "production",
                           created_at: str = "2025-01-10T12:00:00Z") -> dict[str, Any]:
    deployment = {"id": dep_id, "sha": sha, "ref": "main", "environment": env, "created_at": created_at,
                  "updated_at": created_at, "task": "deploy", "description": ""}
    return {"action": "created", "repository": repository(repo), "sender": {"login": "ci", "id": 1},
            "deployment": deployment,
            "deployment_status": {"id": dep_id * 10 + len(state), "state": state, "environment": env,
                                  "created_at": created_at, "updated_at": created_at}}


def issue_body(repo: str, number: int, action: str, labels: list[str], state: str = "open",
               created_at: str = "2025-01-10T12:00:00Z", label: str | None = None) -> dict[str, Any]:
    body = {"action": action, "repository": repository(repo), "sender": {"login": "oncall", "id": 2},
            "issue": {"number": number, "title": f"Outage {number}", "body": "", "state": state,
                      "labels": [{"name": x} for x in labels], "created_at": created_at,
                      "updated_at": created_at, "closed_at": None}}
    if label is not None:
        body["label"] = {"name": label}
    return body


def push_body(repo: str, shas: list[str], pushed_at: int) -> dict[str, Any]:
    commits = [{"id": s, "message": f"commit {s[:7]}", "timestamp": "2025-01-10T11:00:00+00:00",
                "author": {"name": "dev", "email": "dev@example.com"}, "distinct": True} for s in shas]
    return {"ref": "refs/heads/main", "before": "0" * 40, "after": shas[-1], "created": False,
            "deleted": False, "forced": False, "commits": commits, "head_commit": commits[-1],
            "repository": {**repository(repo), "pushed_at": pushed_at}, "sender": {"login": "dev", "id": 3}}


# ---- the local receiver ----------------------------------------------------------------------------
class Receiver:
    """A local HTTP endpoint recording when each problem_key's notification arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.perf_counter()
                key = json.loads(body).get("problem_key")
                with receiver.cond:
                    receiver.arrivals.setdefault(key, now)
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def wait_for(self, key: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: key in self.arrivals, timeout)
            return self.arrivals.get(key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _mongo_storage(uri: str | None) -> Iterator[Storage]:
    from devmetrics_assets.storage.mongo import MongoWarehouse

    database = f"devmetrics_latency_{os.getpid()}_{int(time.time())}"
    if uri:
        wh = MongoWarehouse(uri, database)
        try:
            yield wh
        finally:
            wh.client.drop_database(database)
        return
    try:
        from secantus import SecantusDBServer
    except ImportError as exc:
        raise RuntimeError("set MONGODB_URI (a replica set) or install the dev extra (secantusdb)") from exc
    server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:", replica_set_name="rs0")
    server.start()
    try:
        host, port = server.address
        yield MongoWarehouse(f"mongodb://{host}:{port}/?replicaSet=rs0", database)
    finally:
        server.stop()


def _start_watcher(home: Path, env: dict[str, str], state: Path, timeout: float = 60.0) -> subprocess.Popen:
    """The documented command in its own process; returns once its cursor is saved (it is watching)."""
    cmd = [sys.executable, "-m", "devmetrics_assets.realtime", "--no-materialise", "--poll-interval", "0.02",
           "--bootstrap-days", "0", "--state", str(state)]
    proc = subprocess.Popen(cmd, env={**os.environ, **env, "DEVMETRICS_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the watcher exited with code {proc.returncode}")
        if state.exists():
            with contextlib.closing(sqlite3.connect(state)) as con:
                try:
                    if con.execute("SELECT count(*) FROM cursor").fetchone()[0]:
                        return proc
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the watcher did not start in time")


def measure_alert_latency(n: int = 200, backend: str = "mongodb", uri: str | None = None,
                          timeout_per_event: float = 10.0) -> dict[str, Any]:
    """Median / p95 latency (ms) from a stored failing production deployment to its webhook POST.

    The watcher runs as `python -m devmetrics_assets.realtime` in its own process (as deployed); this
    process stores the deliveries and runs the HTTP receiver.
    """
    from devmetrics_assets.storage.warehouse import Warehouse

    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="devmetrics-latency-")))
        receiver = Receiver()
        stack.callback(receiver.close)
        (home / "alerting.yaml").write_text(
            f"channels:\n  hook: {{type: webhook, url: '{receiver.url}'}}\ndefault_channels: [hook]\n")
        env = {"MONGODB_URI": ""}
        if backend == "mongodb":
            storage = stack.enter_context(_mongo_storage(uri or os.environ.get("MONGODB_URI")))
            env = {"MONGODB_URI": storage.uri, "MONGODB_DATABASE": storage.database}
        elif backend == "duckdb":
            storage = Warehouse(home / "warehouse.duckdb")
        else:
            raise ValueError(f"backend must be mongodb or duckdb, got {backend!r}")
        storage.ensure_schema()
        watcher = _start_watcher(home, env, home / "watcher.sqlite3")
        stack.callback(watcher.wait, 30)
        stack.callback(watcher.terminate)
        latencies, lost = [], 0
        run = f"{os.getpid()}{int(time.time())}"
        for i in range(n):
            dep_id = int(run) * 1000 + i
            body = deployment_status_body("acme/latency", dep_id, f"{i:040x}", "failure")
            frame = bronze_frame([bronze_row("deployment_status", body, f"lat-{run}-{i}")])
            storage.append_bronze(frame)
            stored = time.perf_counter()
            key = f"realtime:deployment_failed:acme/latency:{dep_id}"
            arrived = receiver.wait_for(key, timeout_per_event)
            if arrived is None:
                lost += 1
            else:
                latencies.append((arrived - stored) * 1000.0)
        ms = np.asarray(latencies) if latencies else np.asarray([np.nan])
        return {
            "backend": backend, "events": n, "received": len(latencies), "lost": lost,
            "median_ms": round(float(np.median(ms)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(float(np.max(ms)), 1),
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "path": "append_bronze -> watcher process (python -m devmetrics_assets.realtime) -> "
                    "OutboxNotifier -> webhook channel -> local HTTP receiver",
        }


if __name__ == "__main__":
    print(json.dumps(measure_alert_latency(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                                           sys.argv[2] if len(sys.argv) > 2 else "mongodb"), indent=2))
