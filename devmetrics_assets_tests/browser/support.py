"""What the browser suites run against: a demo home with a failed check, the UI server, artefacts.

Everything runs as a user runs it: `devmetrics demo`, `devmetrics load --no-verify`, `devmetrics ui`
(which is `dagster dev` on the home's instance) and `devmetrics report`, each in its own process with
the home's environment. The UI server runs in its own session and process group and is stopped by that
group at teardown (SIGTERM, then SIGKILL for whatever is left), never by name.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from devmetrics_assets_tests.browser.cdp import stop_process_group

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
ENV_CLEARED = ("GITHUB_WEBHOOK_SECRET", "MONGODB_URI", "MONGODB_DATABASE", "DEVMETRICS_WAREHOUSE",
               "DEVMETRICS_LANDING", "DEVMETRICS_RULES", "DEVMETRICS_SOURCES", "DEVMETRICS_PARTITION_START",
               "DEVMETRICS_NOW")
FORGED_SIGNATURE = "sha256=" + "0" * 64
SAVED_SCREENSHOTS: list[Path] = []  # listed in the terminal summary (conftest)


@dataclass
class DemoHome:
    """A `devmetrics demo` working area (DEVMETRICS_HOME + DAGSTER_HOME) and the environment to use it."""

    root: Path
    home: Path
    dagster_home: Path
    env: dict[str, str]
    forged_file: Path | None = None
    log: list[str] = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @contextmanager
    def environment(self) -> Iterator[None]:
        """This process's os.environ as the CLI would see it, restored afterwards."""
        with mock.patch.dict(os.environ, {k: v for k, v in self.env.items()
                                          if k.startswith(("DEVMETRICS_", "DAGSTER_"))}):
            for name in ENV_CLEARED:
                os.environ.pop(name, None)
            yield

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
        """`devmetrics ARGS` in a subprocess on this home; the output is kept for failure messages."""
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "devmetrics_assets.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root)
        self.log.append(f"$ devmetrics {' '.join(args)}  (exit {proc.returncode}, "
                        f"{time.monotonic() - started:.1f} s)\n{proc.stdout}{proc.stderr}")
        return proc


def home_environment(root: Path) -> dict[str, str]:
    """os.environ without the settings that would point elsewhere, with the home's two paths and the
    venv's bin first on PATH (`devmetrics ui` execs `dagster`)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_CLEARED}
    env["DEVMETRICS_HOME"] = str(root / "home")
    env["DAGSTER_HOME"] = str(root / "dagster_home")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def forge_deliveries(source: Path, target: Path, count: int = 3) -> list[str]:
    """Copy `count` recorded deliveries of `source` as new deliveries (fresh delivery ids) whose
    X-Hub-Signature-256 is forged; return their delivery ids."""
    ids: list[str] = []
    lines: list[str] = []
    for line in source.read_text(encoding="utf-8").splitlines()[:count]:
        delivery = json.loads(line)
        new_id = str(uuid.uuid4())
        delivery["delivery_id"] = new_id
        delivery["headers"]["X-GitHub-Delivery"] = new_id
        delivery["headers"]["X-Hub-Signature-256"] = FORGED_SIGNATURE
        lines.append(json.dumps(delivery))
        ids.append(new_id)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signals() -> None:
    """In the child before exec: SIGINT/SIGTERM back to their defaults. A shell that started pytest in
    the background leaves SIGINT ignored, and `dagster dev` then ignores SIGTERM too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class UiServer:
    """`devmetrics ui --port P` (= `dagster dev`) in its own process group."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, demo: DemoHome, log_path: Path) -> UiServer:
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "devmetrics_assets.cli", "ui", "--port", str(port)],
                env=demo.env, cwd=demo.root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_default_signals)
        return cls(process, port, log_path)

    def log_tail(self, chars: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)[-chars:]

    def wait_ready(self, timeout: float = 150.0) -> dict[str, Any]:
        """Wait for GET /server_info and for the code location to be loaded (GraphQL)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"devmetrics ui exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as answer:
                    info = json.loads(answer.read())
                statuses = self.location_statuses()
                if statuses and all(s == "LOADED" for s in statuses.values()):
                    return info
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"devmetrics ui did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.loads(answer.read())
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def location_statuses(self) -> dict[str, str]:
        data = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                            "locationOrLoadError { __typename } } } } }")
        entries = data["workspaceOrError"].get("locationEntries", [])
        failed = {e["name"] for e in entries
                  if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"}
        return {e["name"]: "ERROR" if e["name"] in failed else e["loadStatus"] for e in entries}

    def stop(self) -> None:
        stop_process_group(self.process, grace=20.0)


def save_screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """A screenshot under test-artifacts/browser/ (printed, and listed at the end of the run)."""
    path = page.screenshot(ARTIFACTS / name, full_page=full_page)
    SAVED_SCREENSHOTS.append(path)
    print(f"screenshot: {path}")
    return path


def normalise(text: str) -> str:
    """Whitespace collapsed, for comparing what the page shows with what was written."""
    return " ".join(text.split())


def markdown_table(markdown: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of a pipe-table in Markdown (alignment row dropped)."""
    rows = [line.strip() for line in markdown.strip().splitlines() if line.strip().startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    body = [r for r in cells[1:] if not all(re.fullmatch(r":?-{1,}:?", c) for c in r)]
    return cells[0], body
