"""The compose topology as processes on 127.0.0.1 (deploy/services.py): PostgreSQL (the `postgres_server`
fixture), the gRPC code server, dagster-daemon, dagster-webserver, the receiver and the watcher (DuckDB
mode), each waited for by its compose health check. Then `devmetrics doctor` passes over all of them,
and fails naming the service after one is killed."""

from __future__ import annotations

import os
import re

import pytest

from devmetrics_assets_tests.deploy.services import BIN, Topology, running_topology

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLEARED = ("MONGODB_URI", "DAGSTER_PG_URL", "DEVMETRICS_WAREHOUSE", "DEVMETRICS_LANDING", "DEVMETRICS_RULES",
           "DEVMETRICS_SOURCES", "DEVMETRICS_NOW", "DEVMETRICS_WORKSPACE", "DEVMETRICS_WEBSERVER_URL",
           "DEVMETRICS_RECEIVER_URL", "DEVMETRICS_CODE_SERVER", "DEVMETRICS_WATCHER_HEARTBEAT",
           "DEVMETRICS_OPENLINEAGE_URL")


def doctor(topology: Topology) -> tuple[int, str]:
    ports = topology.ports
    result = topology.run([
        str(BIN / "devmetrics"), "doctor", "--workspace", str(topology.workspace),
        "--webserver-url", f"http://127.0.0.1:{ports['dagster-webserver']}",
        "--receiver-url", f"http://127.0.0.1:{ports['receiver']}",
        "--code-server", f"127.0.0.1:{ports['code-server']}",
        "--watcher-heartbeat", str(topology.heartbeat)], timeout=180)
    return result.returncode, result.stdout + result.stderr


def test_doctor_passes_on_the_running_topology_and_names_a_killed_service(tmp_path, postgres_server) -> None:
    server = postgres_server.new_database("topology")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED and not k.startswith("DAGSTER_PG_")}
    env.update(server.environ(as_url=False))
    root = tmp_path / "topology"
    root.mkdir()
    env.update(DEVMETRICS_PROFILE="production", DEVMETRICS_HOME=str(root / "home"),
               DAGSTER_HOME=str(root / "dagster_home"), GITHUB_WEBHOOK_SECRET="topology-test-secret",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    with running_topology(root, env) as topology:
        code, out = doctor(topology)
        assert code == 0, out
        lines = [line for line in out.splitlines() if re.match(r"(ok|FAIL) ", line)]
        names = {line.split(":")[0].split(None, 1)[1] for line in lines}
        assert {"instance", "warehouse", "secrets github", "code location devmetrics_assets",
                "sensor devmetrics_automation", "service daemon", "service webserver", "service receiver",
                "service code-server", "service watcher"} <= names, out
        assert "PostgresRunStorage" in out

        topology.kill("receiver")
        code, out = doctor(topology)
        assert code == 1, out
        failed = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert len(failed) == 1 and failed[0].startswith("FAIL  service receiver:"), out

        topology.kill("code-server")
        code, out = doctor(topology)
        assert code == 1, out
        failed = {line.split(":")[0] for line in out.splitlines() if line.startswith("FAIL")}
        assert {"FAIL  service receiver", "FAIL  service code-server",
                "FAIL  code location devmetrics_assets"} <= failed, out
    assert all(s.process.poll() is not None for s in topology.services.values())

