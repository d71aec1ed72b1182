"""The scenario suite: hand-written delivery histories, hand-computed Silver and Gold (docs/metrics.md).

Each `fixtures/<name>.jsonl` is a small history of real-shaped webhook deliveries written from the
providers' documentation (not by our generator); `fixtures/<name>.expect.yaml` holds the values computed
by hand, each with its derivation. The fixture runs through the real path: Bronze parsers, the Silver
builders as the assets call them, Gold at every grain (harness.py).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from devmetrics_assets.checks.gold_schemas import GoldDoraSchema
from devmetrics_assets.checks.silver_schemas import (
    SilverChangesSchema,
    SilverDeploymentsSchema,
    SilverIncidentsSchema,
)
from devmetrics_assets.transforms.gold_facts import reach_back_days
from devmetrics_assets.transforms.gold_links import incident_links
from devmetrics_assets.transforms.gold_releases import release_rows
from devmetrics_assets_tests.scenarios.harness import Outcome, expectations, org_totals, run, scenario_names

SCHEMAS = {
    "changes": (SilverChangesSchema, "change_id"),
    "deployments": (SilverDeploymentsSchema, "deployment_id"),
    "incidents": (SilverIncidentsSchema, "incident_id"),
}


def same(got: Any, want: Any) -> bool:
    """Equal as the expectation file means it: null is missing, floats to 1e-6, times as ISO text."""
    if want is None:
        return got is None or (not isinstance(got, str) and pd.isna(got))
    if isinstance(want, bool):
        return bool(got) == want
    if isinstance(want, float) or (isinstance(want, int) and isinstance(got, float)):
        return got is not None and not pd.isna(got) and math.isclose(float(got), float(want), abs_tol=1e-6)
    if isinstance(got, pd.Timestamp):
        return got == pd.Timestamp(want)
    return got == want or str(got) == str(want)


def test_there_are_at_least_thirty_scenarios() -> None:
    assert len(scenario_names()) >= 30


@pytest.mark.parametrize("name", scenario_names())
def test_scenario(name: str) -> None:
    expect = expectations(name)
    outcome = run(name)
    for entity, (schema, key) in SCHEMAS.items():
        schema.validate(outcome.silver[entity], lazy=True)
        rows = outcome.silver[entity].set_index(key)
        for row_id, values in (expect.get("silver", {}).get(entity) or {}).items():
            if values is None:  # the row must not exist
                assert row_id not in rows.index, f"{entity} {row_id} should not exist"
                continue
            assert row_id in rows.index, f"{entity} {row_id} missing: {sorted(rows.index)}"
            for column, want in values.items():
                got = rows.at[row_id, column]
                assert same(got, want), f"{entity} {row_id}.{column}: got {got!r}, expected {want!r}"
    for gold in outcome.gold.values():
        GoldDoraSchema.validate(gold, lazy=True)
    check_links(outcome, expect)
    totals = org_totals(outcome.gold["month"])
    for column, want in (expect.get("gold", {}).get("totals") or {}).items():
        assert same(totals[column], want), f"org total {column}: got {totals[column]!r}, expected {want!r}"
    for wanted in expect.get("gold", {}).get("rows") or []:
        wanted = dict(wanted)
        period, start = wanted.pop("period"), pd.Timestamp(str(wanted.pop("period_start")))
        scope_type, scope = wanted.pop("scope_type"), wanted.pop("scope")
        gold = outcome.gold[period]
        hit = gold[
            (gold["period_start"] == start) & (gold["scope_type"] == scope_type) & (gold["scope"] == scope)
        ]
        assert len(hit) == 1, f"no Gold row {period} {start.date()} {scope_type} {scope}"
        for column, want in wanted.items():
            got = hit.iloc[0][column]
            assert same(got, want), (
                f"{period} {start.date()} {scope}.{column}: got {got!r}, expected {want!r}"
            )


def check_links(outcome: Outcome, expect: dict[str, Any]) -> None:
    """Which release each incident is linked to (and how), the rejected root causes, the reach-back days."""
    silver, rules = outcome.silver, outcome.rules
    links, invalid = incident_links(release_rows(silver["deployments"], rules), silver["incidents"], rules)
    if "links" in expect:
        got = sorted(map(list, links[["incident_id", "deployment_id", "link"]].itertuples(index=False)))
        want = sorted([link["incident_id"], link["deployment_id"], link["link"]] for link in expect["links"])
        assert got == want, f"incident links: got {got}, expected {want}"
    if "invalid_root_causes" in expect:
        assert sorted(invalid["incident_id"]) == sorted(expect["invalid_root_causes"])
    if "reach_back" in expect:
        changed = {pd.Timestamp(str(d)).date() for d in expect["reach_back"]["changed"]}
        days = reach_back_days(silver["deployments"], silver["incidents"], changed, rules)
        assert days == {pd.Timestamp(str(d)).date() for d in expect["reach_back"]["days"]}
