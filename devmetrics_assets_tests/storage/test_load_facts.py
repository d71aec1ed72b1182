"""load_facts by kind, window and scope; unknown scopes raise UnknownScopeError listing the known ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets import UnknownScopeError, load_facts, load_gold
from devmetrics_assets.config import DoraRules
from devmetrics_assets.storage.loaders import configured_rules
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse

RULES = DoraRules(repo_owners={"org/api": {"team": "payments", "service": "checkout"},
                               "org/worker": {"team": "payments", "service": "checkout"},
                               "org/web": {"team": "web"}})
DAY = "datetime64[us]"


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    deps = pd.DataFrame({
        "deployment_id": ["org/api:1", "org/worker:2", "org/web:3", "org/api:4"],
        "repo": ["org/api", "org/worker", "org/web", "org/api"],
        "event_day": pd.to_datetime(["2025-03-01", "2025-03-02", "2025-03-02", "2025-03-05"]).astype(DAY),
        "is_success": [True, True, True, False],
    })
    wh.replace_partition("gold_fact_deployments", deps, "event_day", "2025-03-01", "2025-03-06")
    gold = pd.DataFrame({"period": "day", "period_start": pd.to_datetime(["2025-03-01"] * 3).astype(DAY),
                         "scope_type": ["org", "team", "repo"], "scope": ["all", "payments", "org/api"],
                         "deployments": [1, 1, 1]})
    wh.replace_partition("gold_dora_daily", gold, "period_start", "2025-03-01", "2025-03-02")
    return wh


def ids(frame: pd.DataFrame) -> list[str]:
    return frame["deployment_id"].tolist()


def test_facts_by_window_and_scope(wh: Warehouse) -> None:
    everything = load_facts("deployments", warehouse=wh.path, rules=RULES)
    assert ids(everything) == ["org/api:1", "org/web:3", "org/worker:2", "org/api:4"]
    assert everything["team"].tolist() == ["payments", "web", "payments", "payments"]
    assert everything["service"].tolist() == ["checkout", "org/web", "checkout", "checkout"]
    assert ids(load_facts("deployments", "2025-03-02", "2025-03-02", warehouse=wh.path, rules=RULES)) == [
        "org/web:3", "org/worker:2"]
    team = load_facts("deployments", scope_type="team", scope="payments", warehouse=wh.path, rules=RULES)
    assert ids(team) == ["org/api:1", "org/worker:2", "org/api:4"]
    service = load_facts("deployments", scope_type="service", scope="org/web", warehouse=wh.path, rules=RULES)
    assert ids(service) == ["org/web:3"]
    repo = load_facts("deployments", scope_type="repo", scope="org/api", warehouse=wh.path, rules=RULES)
    assert ids(repo) == ["org/api:1", "org/api:4"]
    assert len(load_facts("deployments", scope_type="org", warehouse=wh.path, rules=RULES)) == 4
    assert ids(load_facts("deployments", scope="checkout", warehouse=wh.path, rules=RULES)) == ids(team)


def test_a_known_scope_without_rows_in_the_window_is_empty(wh: Warehouse) -> None:
    rules = DoraRules(repo_owners={**RULES.repo_owners, "org/new": {"team": "fresh"}})
    assert load_facts("deployments", scope_type="team", scope="fresh", warehouse=wh.path, rules=rules).empty
    assert load_gold("day", "2025-04-01", "2025-04-30", scope_type="team", scope="payments",
                     warehouse=wh.path).empty


def test_unknown_scopes_list_the_known_ones(wh: Warehouse) -> None:
    with pytest.raises(UnknownScopeError, match=r"unknown team 'pay'; known: payments, web$"):
        load_facts("deployments", scope_type="team", scope="pay", warehouse=wh.path, rules=RULES)
    with pytest.raises(UnknownScopeError, match="known: org/api, org/web, org/worker"):
        load_facts("deployments", scope_type="repo", scope="org/nope", warehouse=wh.path, rules=RULES)
    with pytest.raises(UnknownScopeError, match="repo:org/api, .*team:payments"):
        load_facts("deployments", scope="nope", warehouse=wh.path, rules=RULES)
    with pytest.raises(UnknownScopeError, match=r"unknown team 'nope'; known: payments$"):
        load_gold("day", scope_type="team", scope="nope", warehouse=wh.path)
    with pytest.raises(UnknownScopeError, match="known: org:all, repo:org/api, team:payments"):
        load_gold("day", scope_type=None, scope="nope", warehouse=wh.path)
    assert issubclass(UnknownScopeError, ValueError)


def test_bad_kind_and_missing_tables(wh: Warehouse) -> None:
    with pytest.raises(ValueError, match="deployments, changes, incidents"):
        load_facts("releases", warehouse=wh.path, rules=RULES)
    with pytest.raises(NothingMaterializedError, match="gold_fact_changes"):
        load_facts("changes", warehouse=wh.path, rules=RULES)


def test_configured_rules_read_the_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path))
    monkeypatch.delenv("DEVMETRICS_RULES", raising=False)
    monkeypatch.delenv("DEVMETRICS_SOURCES", raising=False)
    (tmp_path / "rules.yaml").write_text("repos:\n  org/api: {team: payments}\n")
    assert configured_rules().team_of("org/api") == "payments"
