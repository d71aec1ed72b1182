"""The receiver on a real uvicorn server over loopback HTTP: every provider and kind of request,
acknowledgement only after the line is on disk, concurrency, the documented command, throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devmetrics_assets.demo.bench.receiver_throughput import (
    measure_throughput,
    serve_in_process,
    serve_in_thread,
)
from devmetrics_assets.receiver import create_app
from devmetrics_assets_tests.receiver.conftest import (
    PROVIDERS,
    SECRETS,
    SOURCE_OF,
    build,
    forge,
    landed,
    malform,
    oversize,
    rejects,
    strip_required,
    unsign,
    webhook_sources,
)


@pytest.fixture
def server(settings):
    with serve_in_thread(create_app(webhook_sources(settings), settings=settings, environ=SECRETS)) as url:
        yield url


def post(url: str, d, session=requests):
    return session.post(url + d.path, data=d.body, headers=d.headers, timeout=10)


def day_file_ids(settings, provider) -> set[str]:
    return {line["delivery_id"] for line in landed(settings, provider)}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_kind_of_request_over_http(server, settings, provider):
    valid = build(provider, 1)
    with requests.Session() as session:
        stored = post(server, valid, session)
        # The line is already on disk at the moment the 2xx arrives.
        on_disk_at_ack = valid.delivery_id in day_file_ids(settings, provider)
        duplicate = post(server, valid, session)
        answers = {name: post(server, mutate(build(provider, 2)), session) for name, mutate in
                   (("forged", forge), ("unsigned", unsign), ("malformed", malform),
                    ("missing", strip_required))}
        too_big = post(server, oversize(provider), session)
    assert stored.status_code == 200 and stored.json()["status"] == "stored"
    assert on_disk_at_ack
    assert duplicate.status_code == 200 and duplicate.json()["status"] == "duplicate"
    assert {k: v.status_code for k, v in answers.items()} == {
        "forged": 403, "unsigned": 401, "malformed": 400, "missing": 400}
    assert too_big.status_code == 413
    assert [line["delivery_id"] for line in landed(settings, provider)] == [valid.delivery_id]
    assert sorted(r["status"] for r in rejects(settings)) == [400, 400, 401, 403, 413]


def test_concurrent_deliveries_share_fsyncs_and_none_is_lost(server, settings):
    deliveries = [build(p, i) for i in range(100, 160) for p in PROVIDERS]

    def send(d):
        return d, post(server, d)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(send, deliveries))
    assert all(r.status_code == 200 and r.json()["status"] == "stored" for _, r in results)
    for provider in PROVIDERS:
        expected = {d.delivery_id for d in deliveries if d.provider == provider}
        assert day_file_ids(settings, provider) == expected
    health = requests.get(server + "/healthz", timeout=5).json()
    assert health["stored"] == len(deliveries)
    assert health["batches"] < len(deliveries)  # group commit: several deliveries per fsync


def test_documented_command_serves_and_refuses_bad_config(tmp_path: Path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - name: gh\n    type: landing_jsonl\n    provider: github\n"
                       "    secret_env: GH_SECRET\n")
    env = {"DEVMETRICS_HOME": str(tmp_path), "DEVMETRICS_LANDING": str(tmp_path / "landing"), **SECRETS}
    d = build("github", 3)
    with serve_in_process(sources, env) as url:
        response = requests.post(url + d.path, data=d.body, headers=d.headers, timeout=10)
    assert response.json() == {"status": "stored", "delivery_id": "gh-3"}
    [day_file] = (tmp_path / "landing" / "gh").glob("*.jsonl")
    [line] = day_file.read_text().splitlines()
    assert json.loads(line)["delivery_id"] == "gh-3"

    no_secret = subprocess.run(
        [sys.executable, "-m", "devmetrics_assets.receiver", "--sources", str(sources), "--port", "1"],
        env={k: v for k, v in {**os.environ, **env}.items() if k != "GH_SECRET"},
        capture_output=True, text=True, timeout=60)
    assert no_secret.returncode == 2 and "GH_SECRET" in no_secret.stderr
    assert SECRETS["GH_SECRET"] not in no_secret.stderr


def test_throughput_measurement_loses_nothing(tmp_path: Path):
    figures = measure_throughput(400, 16, workdir=tmp_path)
    assert figures["acknowledged"] == figures["stored_unique"] == figures["stored_lines"] == 400
    assert figures["lost"] == 0
    assert figures["deliveries_per_s"] > 0 and figures["fsync_batches"] < 400


def test_sources_are_separate_files(server, settings):
    for provider in PROVIDERS:
        post(server, build(provider, 200))
    for provider in PROVIDERS:
        folder = settings.landing_dir / SOURCE_OF[provider]
        assert [p.name for p in folder.glob("*.jsonl")] and day_file_ids(settings, provider) == {
            build(provider, 200).delivery_id}
