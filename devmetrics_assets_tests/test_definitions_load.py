"""The code location loads the way `dagster dev` and `dg check defs` load it.

Settings are read when the definitions are built, never at import (a module-level read would freeze the
partition start of whichever process imported first), and the built graph carries the metadata the UI
and the alerting rely on: a description, a group and an owner on every asset, checks on real assets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions

REPO_ROOT = Path(__file__).resolve().parents[1]


def _settings(root: Path, start: str) -> Settings:
    return Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                    rules_path=root / "rules.yaml", partition_start=start)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update(DEVMETRICS_HOME=str(home), **extra)
    return env


def test_import_reads_no_settings_and_the_lazy_defs_does(tmp_path: Path) -> None:
    # An invalid partition start fails Settings.from_env(); the import must not call it, defs() must.
    script = (
        "import devmetrics_assets.definitions as d\n"
        "from devmetrics_assets.config import ConfigError\n"
        "try:\n"
        "    d.defs()\n"
        "except ConfigError as exc:\n"
        "    print('LOAD-FAILED', exc)\n"
        "else:\n"
        "    print('LOAD-SUCCEEDED')\n"
    )
    home = tmp_path / "missing-home"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env=_env(home, DEVMETRICS_PARTITION_START="not-a-date"), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "LOAD-FAILED" in result.stdout and "DEVMETRICS_PARTITION_START" in result.stdout, result.stdout
    assert not home.exists()


def test_build_definitions_honours_the_partition_start(tmp_path: Path) -> None:
    for start in ("2024-03-05", "2025-01-01"):
        defs = build_definitions(_settings(tmp_path / start, start))
        graph = defs.resolve_asset_graph()
        daily = [graph.get(k) for k in graph.get_all_asset_keys()
                 if isinstance(graph.get(k).partitions_def, dg.DailyPartitionsDefinition)]
        assert {node.key.to_user_string() for node in daily} >= {"bronze_github", "silver_changes",
                                                                  "gold_dora_daily"}
        assert {node.partitions_def.get_first_partition_key() for node in daily} == {start}


def test_the_lazy_defs_loads_a_documented_owned_graph(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from devmetrics_assets.definitions import defs as lazy_defs

    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path))
    monkeypatch.setenv("DEVMETRICS_PARTITION_START", "2025-02-01")
    monkeypatch.delenv("MONGODB_URI", raising=False)
    defs = lazy_defs()
    assert isinstance(defs, dg.Definitions)
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert keys
    for key in keys:
        node = graph.get(key)
        assert node.description, key
        assert node.group_name and node.group_name != "default", key
        assert node.owners, key
    assert graph.asset_check_keys
    for check in graph.asset_check_keys:
        assert check.asset_key in keys, check


def test_dg_check_defs_passes(tmp_path: Path) -> None:
    # dg sits beside the interpreter in the project's venv; PATH may not hold it under `python -m pytest`.
    dg_exe = shutil.which("dg", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if dg_exe is None:
        pytest.skip("the `dg` executable (dagster-dg-cli, the dev extra) is not installed")
    env = _env(tmp_path / "home", DAGSTER_HOME=str(tmp_path))
    env["PATH"] = f"{Path(dg_exe).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([dg_exe, "check", "defs"], capture_output=True, text=True, cwd=REPO_ROOT,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr

