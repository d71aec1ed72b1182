"""Fixtures of the browser suites: Chromium, a small demo home with a failed check, a browser.

The demo home is built once per session (files only, no process stays up); the UI server and the
browsers live as long as the module that uses them, so nothing of theirs outlives their tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devmetrics_assets_tests.browser.cdp import INSTALL_HINT, Browser, find_chromium
from devmetrics_assets_tests.browser.support import (
    ARTIFACTS,
    SAVED_SCREENSHOTS,
    DemoHome,
    forge_deliveries,
    home_environment,
)

DEMO_REPOS = "3"
DEMO_DAYS = "60"


def _failed(demo: DemoHome, what: str) -> None:
    pytest.fail(f"{what}\n" + "\n".join(demo.log[-2:]), pytrace=False)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium executable; a missing browser is a failure that says how to install it."""
    found = find_chromium()
    if found is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return found


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    """`devmetrics demo --repos 3 --days 60`, then a file of forged deliveries loaded with
    `devmetrics load --no-verify`: the blocking check bronze_github/signature_verification fails."""
    root = tmp_path_factory.mktemp("browser-demo")
    demo = DemoHome(root, root / "home", root / "dagster_home", home_environment(root))
    if demo.cli("demo", "--repos", DEMO_REPOS, "--days", DEMO_DAYS).returncode != 0:
        _failed(demo, "devmetrics demo failed")
    landed = sorted((demo.home / "landing" / "github").glob("????-??-??.jsonl"))
    if not landed:
        _failed(demo, "devmetrics demo landed no recorded deliveries")
    demo.forged_file = root / "forged.jsonl"
    forge_deliveries(landed[-1], demo.forged_file)
    loaded = demo.cli("load", "--no-verify", str(demo.forged_file))
    if loaded.returncode != 0:  # the checks test reads the failed check from the instance itself
        _failed(demo, "devmetrics load --no-verify of forged deliveries failed")
    print("\n".join(line.splitlines()[0] for line in demo.log))  # the commands and their timings
    return demo


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser.launch(tmp_path_factory.mktemp("chromium"), executable=chromium) as launched:
        yield launched


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SAVED_SCREENSHOTS:
        terminalreporter.section("browser test screenshots")
        for path in dict.fromkeys(SAVED_SCREENSHOTS):
            terminalreporter.write_line(str(path))

