"""The compose topology as processes on 127.0.0.1, for tests: the gRPC code server, dagster-daemon,
dagster-webserver, the receiver and the watcher, each on a free port, all on one DEVMETRICS_HOME and
one Dagster instance (the production profile on the test's PostgreSQL server).

Each service is started with the command its compose service runs (deploy/docker-compose.yml) and
judged healthy by the same health check the compose file declares, with the container's host names and
ports replaced. Every process is started in its own session and stopped by its process group (the
webserver and the daemon start children), also when a test fails half-way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from devmetrics_assets_tests.pg_server import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent  # this virtualenv's dagster, dagster-daemon, devmetrics


@dataclass
class Service:
    name: str
    argv: list[str]
    health: list[str]
    process: subprocess.Popen | None = None
    log: Path | None = None


@dataclass
class Topology:
    root: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.root / "workspace.yaml"

    @property
    def heartbeat(self) -> Path:
        return Path(self.env["DEVMETRICS_HOME"]) / "realtime" / "heartbeat"

    def run(self, argv: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=self.env, cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self, service: Service) -> Service:
        service.log = self.root / f"{service.name}.log"
        with service.log.open("wb") as log:
            service.process = subprocess.Popen(service.argv, env=self.env, cwd=self.root, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        self.services[service.name] = service
        return service

    def healthy(self, name: str) -> bool:
        return self.run(self.services[name].health, timeout=60).returncode == 0

    def wait_healthy(self, name: str, timeout: float = 180.0, every: float = 2.0) -> None:
        """Poll the service's health check until it passes; fail with its log when it exits or never does."""
        service = self.services[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None:
                raise AssertionError(f"{name} exited with {service.process.returncode}:\n{self.tail(name)}")
            if self.healthy(name):
                return
            time.sleep(every)
        raise AssertionError(f"{name} not healthy after {timeout:.0f} s:\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        log = self.services[name].log
        return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL the service and its children (a crash, not a clean stop)."""
        _stop(self.services[name].process, signal.SIGKILL)

    def stop_all(self) -> None:
        for service in reversed(list(self.services.values())):
            _stop(service.process, signal.SIGTERM)


def _stop(process: subprocess.Popen | None, sig: int, grace: float = 20.0) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # its own session: the group holds its children too
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(grace)


def compose_services() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]


def local_workspace(path: Path, code_port: int) -> None:
    """deploy/workspace.yaml with the code server at 127.0.0.1:code_port (compose: code-server:4000)."""
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    server.update(host="127.0.0.1", port=code_port)
    path.write_text(yaml.safe_dump(workspace))


def service_commands(ports: Mapping[str, int], workspace: Path) -> dict[str, tuple[list[str], list[str]]]:
    """(command, health check) per service, from the compose file, rewritten for 127.0.0.1 and free ports."""
    # Whole words (a free port may contain "3000"), and the ports inside the health URLs.
    words = {"/opt/devmetrics/deploy/workspace.yaml": str(workspace), "0.0.0.0": "127.0.0.1",
             "4000": str(ports["code-server"]), "3000": str(ports["dagster-webserver"]),
             "8787": str(ports["receiver"])}
    in_urls = {":3000/": f":{ports['dagster-webserver']}/", ":8787/": f":{ports['receiver']}/"}

    def local(argv: Sequence[str]) -> list[str]:
        out = []
        for word in argv:
            word = words.get(word, word)
            for old, new in in_urls.items():
                word = word.replace(old, new)
            out.append(word)
        return out

    commands = {}
    for name in ("code-server", "dagster-daemon", "dagster-webserver", "receiver", "watcher"):
        spec = compose_services()[name]
        command = spec["command"]
        if command[:2] == ["sh", "-c"]:  # "devmetrics doctor --prepare && exec CMD": prepared once, up front
            command = command[2].split("&&", 1)[1].split()[1:]
        health = [word for word in spec["healthcheck"]["test"] if word != "CMD"]
        commands[name] = (_in_venv(local(command)), _in_venv(local(health)))
    return commands


def _in_venv(argv: list[str]) -> list[str]:
    """This virtualenv's executables (the compose image has them on its PATH)."""
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [str(BIN / argv[0]), *argv[1:]] if (BIN / argv[0]).exists() else argv


@contextmanager
def running_topology(root: Path, base_env: Mapping[str, str]) -> Iterator[Topology]:
    """Every service started, in the compose file's dependency order, and healthy; all stopped on exit."""
    ports = {name: free_port() for name in ("code-server", "dagster-webserver", "receiver")}
    topology = Topology(root, dict(base_env), ports)
    local_workspace(topology.workspace, ports["code-server"])
    try:
        prepared = topology.run([str(BIN / "devmetrics"), "doctor", "--prepare"])
        assert prepared.returncode == 0, prepared.stderr
        commands = service_commands(ports, topology.workspace)
        # Started together (the machine is slow to import Dagster five times), waited for in order.
        for name in ("code-server", "receiver", "watcher"):
            topology.start(Service(name, *commands[name]))
        topology.wait_healthy("code-server")
        for name in ("dagster-daemon", "dagster-webserver"):
            topology.start(Service(name, *commands[name]))
        for name in ("receiver", "watcher", "dagster-webserver", "dagster-daemon"):
            topology.wait_healthy(name)
        yield topology
    finally:
        topology.stop_all()
