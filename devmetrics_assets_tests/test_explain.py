"""Acceptance: on a materialised sample organisation, `explain` reproduces stored Gold exactly.

20 seeded random (metric, scope, period) triples across the three grains and the four scope types, drawn
from the stored Gold rows with at least one deployment: the explained value equals the stored Gold value
exactly, the numerator and denominator row counts equal Gold's counts, and every row is traced to Bronze
deliveries that exist.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pandas as pd
import pytest

from devmetrics_assets.explain import explain
from devmetrics_assets.storage.loaders import load_gold
from devmetrics_assets.transforms.gold_explain import METRICS, ExplainError
from devmetrics_assets_tests.conftest import Materialised

TRIPLES = 20
SEED = 20250307


def period_label(start: pd.Timestamp, grain: str) -> str:
    if grain == "day":
        return start.strftime("%Y-%m-%d")
    if grain == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def scope_label(scope_type: str, scope: str) -> str:
    return "org" if scope_type == "org" else f"{scope_type}:{scope}"


@pytest.fixture()
def home(materialised: Materialised, monkeypatch) -> Materialised:
    monkeypatch.setenv("DEVMETRICS_HOME", str(materialised.settings.home))
    for name in ("DEVMETRICS_RULES", "DEVMETRICS_SOURCES", "DEVMETRICS_WAREHOUSE", "MONGODB_URI"):
        monkeypatch.delenv(name, raising=False)
    return materialised


@pytest.mark.slow
def test_explain_reproduces_stored_gold(home: Materialised) -> None:
    rng = random.Random(SEED)
    wh = home.settings.warehouse_path
    golds = {g: load_gold(g, scope_type=None, warehouse=wh) for g in ("day", "week", "month")}
    bronze_ids = set(home.warehouse.read_table("bronze_deliveries", columns=["delivery_id"])["delivery_id"])
    checked = []
    for _ in range(TRIPLES):
        grain = rng.choice(sorted(golds))
        scope_type = rng.choice(["org", "team", "service", "repo"])
        rows = golds[grain][(golds[grain]["scope_type"] == scope_type) & (golds[grain]["deployments"] > 0)]
        row = rows.iloc[rng.randrange(len(rows))]
        metric = METRICS[rng.choice(sorted(METRICS))]
        label = period_label(pd.Timestamp(row["period_start"]), grain)
        e = explain(metric.name, scope_label(scope_type, row["scope"]), label, warehouse=wh)
        stored = row[metric.gold_column]
        assert (e.grain, e.period) == (grain, label)
        if pd.isna(stored):
            assert e.value is None, (metric.name, label, row["scope"])
        else:
            assert e.value == stored, (metric.name, label, row["scope"], e.value, stored)
        assert len(e.numerator) == row[metric.numerator], (metric.name, label, row["scope"])
        if metric.denominator is not None:
            assert len(e.denominator) == row[metric.denominator], (metric.name, label, row["scope"])
        for frame in (e.numerator, e.denominator):
            traced = [d for ids in frame["delivery_ids"] for d in ids.split(",") if d]
            assert (frame["delivery_ids"] != "").all(), frame[frame["delivery_ids"] == ""]
            assert set(traced) <= bronze_ids
        checked.append((metric.name, grain, scope_type))
    assert {g for _, g, _ in checked} == {"day", "week", "month"}
    assert {s for _, _, s in checked} == {"org", "team", "service", "repo"}
    assert len({m for m, _, _ in checked}) == len(METRICS)


@pytest.mark.slow
def test_explain_names_what_does_not_exist(home: Materialised) -> None:
    wh = home.settings.warehouse_path
    with pytest.raises(ExplainError, match="valid: deployment_frequency"):
        explain("mttr", "org", "2025-01", warehouse=wh)
    with pytest.raises(ValueError, match=r"unknown team 'nobody'; known: "):
        explain("lead_time", "team:nobody", "2025-01", warehouse=wh)
    empty = explain("change_failure_rate", "org", "2030-01", warehouse=wh)
    assert empty.value is None and "no deployments in 2030-01" in empty.formula
    latest = explain("rework_rate", warehouse=wh)  # the latest stored month
    assert latest.grain == "month"


def test_explain_does_not_import_dagster() -> None:
    code = "import sys, devmetrics_assets.explain; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
