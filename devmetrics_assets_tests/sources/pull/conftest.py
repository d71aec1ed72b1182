"""Fixtures of the pull tests: a local HTTP API on 127.0.0.1 and a fake clock whose sleeps are recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, FakeTime


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
