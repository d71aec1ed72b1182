"""Throughput of the real receiver over loopback: signed GitHub deliveries in, fsynced lines out.

`measure_throughput(n, concurrency)` starts `python -m devmetrics_assets.receiver` in its own process
(the documented command) on a free port, sends `n` distinct signed deliveries over `concurrency`
keep-alive HTTP/1.1 connections from a small asyncio client, then stops the server and counts what
landed: every acknowledged delivery must be in the landing files exactly once (none lost).
The client is hand-rolled on asyncio streams so the measurement is the server's, not an HTTP
library's. Also home of the server helpers the tests share.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from devmetrics_assets.receiver.server import DEFAULT_HEADER_TIMEOUT, server_config
from devmetrics_assets.sources.landing_files import day_files, iter_lines

BENCH_SECRET = "bench-webhook-secret"
BENCH_SOURCE = "bench"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base_url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"receiver exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"receiver at {base_url} not healthy after {timeout}s")


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int | None = None, header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                    base: type[asyncio.Protocol] | None = None) -> Iterator[str]:
    """Run `app` on a real uvicorn server on 127.0.0.1 in a background thread; yields its base URL.

    Served the way the CLI serves it (server.server_config: head deadline, no WebSockets; `base` picks
    uvicorn's protocol class, h11 or httptools). uvicorn's logging setup is skipped (`log_config=None`):
    its records reach the root logger, so tests see them with caplog, and the test process's logging
    is not reconfigured.
    """
    port = port or free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, header_timeout=header_timeout,
                                          base=base, log_level="warning", access_log=False, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def serve_in_process(sources_file: Path, env: dict[str, str], port: int | None = None,
                     log_path: Path | None = None, args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run the documented command (plus `args`) in a child process; yields its base URL, stops it by its
    own pid."""
    port = port or free_port()
    command = [sys.executable, "-m", "devmetrics_assets.receiver", "--sources", str(sources_file),
               "--port", str(port), "--log-level", "warning", *args]
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=output, stderr=output)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base_url, process=process)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def github_delivery(i: int, secret: str = BENCH_SECRET) -> tuple[str, dict[str, str], bytes]:
    """A realistic signed `deployment_status` delivery (~1.5 KB), distinct per `i`."""
    sha = hashlib.sha1(str(i).encode()).hexdigest()
    created = f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z"
    deployment = {"id": 100000 + i, "sha": sha, "ref": "main", "environment": "production",
                  "created_at": created, "updated_at": created, "task": "deploy", "description": "bench"}
    body = {"action": "created",
            "deployment_status": {"id": 500000 + i, "state": "success", "environment": "production",
                                  "created_at": created, "updated_at": created,
                                  "description": "Deployment finished successfully."},
            "deployment": deployment,
            "repository": {"id": 42, "name": "payments", "full_name": "acme/payments",
                           "default_branch": "main", "owner": {"login": "acme"}},
            "sender": {"login": "deploy-bot", "id": 7}}
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    delivery = f"bench-{i:08d}-{sha[:12]}"
    headers = {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench",
               "X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}
    return delivery, headers, raw


def _request_bytes(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _send_all(
    port: int, requests: list[bytes], concurrency: int
) -> tuple[list[int], list[str], list[float]]:
    statuses = [0] * len(requests)
    outcomes = [""] * len(requests)
    latencies = [0.0] * len(requests)
    next_index = iter(range(len(requests)))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in next_index:
                started = time.perf_counter()
                writer.write(requests[i])
                status, payload = await _read_response(reader)
                latencies[i] = time.perf_counter() - started
                statuses[i] = status
                outcomes[i] = json.loads(payload).get("status", "") if payload else ""
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return statuses, outcomes, latencies


def landed_ids(folder: Path) -> list[str]:
    """Every delivery id in the day files, torn last lines included (they fail loudly: a lost delivery)."""
    return [json.loads(line.text)["delivery_id"]
            for line in iter_lines(day_files(folder), partial_last=True)]


def measure_throughput(n: int = 5000, concurrency: int = 64, workdir: str | os.PathLike[str] | None = None
                       ) -> dict[str, Any]:
    """Deliveries per second through the real server, and proof that none acknowledged was lost."""
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        sources_file = root / "sources.yaml"
        sources_file.write_text(
            f"sources:\n  - name: {BENCH_SOURCE}\n    type: landing_jsonl\n    provider: github\n"
            "    secret_env: BENCH_WEBHOOK_SECRET\n", encoding="utf-8")
        env = {"DEVMETRICS_HOME": str(root), "BENCH_WEBHOOK_SECRET": BENCH_SECRET,
               "DEVMETRICS_LANDING": str(root / "landing"), "DEVMETRICS_SOURCES": str(sources_file)}
        deliveries = [github_delivery(i) for i in range(n)]
        port = free_port()
        path = f"/webhooks/github/{BENCH_SOURCE}"
        requests = [_request_bytes(f"127.0.0.1:{port}", path, h, b) for _, h, b in deliveries]
        with serve_in_process(sources_file, env, port, log_path=root / "receiver.log") as base_url:
            started = time.perf_counter()
            statuses, outcomes, latencies = asyncio.run(_send_all(port, requests, concurrency))
            seconds = time.perf_counter() - started
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
                health = json.loads(response.read())
        stored = landed_ids(root / "landing" / BENCH_SOURCE)
        acknowledged = {d for (d, _, _), s, o in zip(deliveries, statuses, outcomes, strict=True)
                        if s == 200 and o == "stored"}
        stored_set = set(stored)
        ordered = sorted(latencies)
        return {
            "sent": n,
            "concurrency": concurrency,
            "acknowledged": len(acknowledged),
            "stored_lines": len(stored),
            "stored_unique": len(stored_set),
            "lost": len(acknowledged - stored_set),
            "seconds": round(seconds, 3),
            "deliveries_per_s": round(n / seconds, 1),
            "fsync_batches": health["batches"],
            "mean_batch": round(health["stored"] / max(health["batches"], 1), 1),
            "latency_p50_ms": round(ordered[len(ordered) // 2] * 1000, 2) if ordered else None,
            "latency_p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2) if ordered else None,
        }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    print(json.dumps(measure_throughput(count, width), indent=2))
