"""The per-tick memo of what automation reads from storage (defs/automation_storage.py)."""

from __future__ import annotations

import pytest

from devmetrics_assets.defs import automation_storage as S


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path / "a"))
    monkeypatch.delenv("DEVMETRICS_WAREHOUSE", raising=False)
    monkeypatch.setattr(S, "_MEMO", type(S._MEMO)())
    return tmp_path


def test_an_answer_is_computed_once_per_tick_and_storage_and_busy_is_not_kept(home, monkeypatch):
    calls: list[str] = []

    def compute(value):
        def run():
            calls.append("x")
            return value
        return run

    tick = ("2025-03-04T12:00:00", 57)
    assert S._per_tick(("k",), tick, compute({"d"})) == {"d"}
    assert S._per_tick(("k",), tick, compute({"other"})) == {"d"}  # same tick, same storage: kept
    assert len(calls) == 1
    assert S._per_tick(("k",), ("2025-03-04T12:00:30", 57), compute({"e"})) == {"e"}  # the next tick
    monkeypatch.setenv("DEVMETRICS_HOME", str(home / "b"))  # another home in the same process
    assert S._per_tick(("k",), tick, compute({"f"})) == {"f"}
    assert S._per_tick(("busy",), tick, compute(None)) is None
    assert S._per_tick(("busy",), tick, compute({"g"})) == {"g"}  # busy was not kept: asked again
    assert S._per_tick(("k",), None, compute({"h"})) == {"h"}  # no tick: never memoised
    assert len(calls) == 6
