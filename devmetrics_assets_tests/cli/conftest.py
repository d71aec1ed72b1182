"""A fresh, empty working area per test: DEVMETRICS_HOME and DAGSTER_HOME in tmp, no secrets, DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

ENV_CLEARED = ("GITHUB_WEBHOOK_SECRET", "MONGODB_URI", "DEVMETRICS_WAREHOUSE", "DEVMETRICS_LANDING",
               "DEVMETRICS_RULES", "DEVMETRICS_SOURCES", "DEVMETRICS_PARTITION_START", "DEVMETRICS_NOW")


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"
