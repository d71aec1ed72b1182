"""Silver per repo shard equals Silver in one pass, also when the history a window needs lies before it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.config import DoraRules, load_rules
from devmetrics_assets.defs.silver_changes import compute_changes
from devmetrics_assets.defs.silver_deployments import compute_deployments
from devmetrics_assets.defs.silver_incidents import compute_incidents
from devmetrics_assets.defs.silver_shards import sharded
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.providers.github.recorded_jsonl import parse_deliveries
from devmetrics_assets.storage.bronze_shards import ShardView, shard_plan
from devmetrics_assets.storage.warehouse import Warehouse

START, DAYS = date(2025, 1, 1), 45
MODELS = {"silver_changes": compute_changes, "silver_deployments": compute_deployments,
          "silver_incidents": compute_incidents}
SMALL = 700  # deliveries per shard: several shards on the sample below


@pytest.fixture(scope="module")
def bronze(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, DoraRules]:
    """The sample organisation (rollbacks, incidents with root causes, late statuses) in Bronze only."""
    root = tmp_path_factory.mktemp("shards")
    org = generate_sample_org(root / "generated", repos=5, days=DAYS, start=START, seed=11)
    rows, _ = parse_deliveries(sorted(org.deliveries_dir.glob("*.jsonl")), source="github",
                               secret=SAMPLE_WEBHOOK_SECRET, load_batch_id="test")
    warehouse = Warehouse(root / "warehouse.duckdb")
    assert warehouse.append_bronze(rows) > 0  # the sample redelivers some: those are stored once
    return warehouse, load_rules(org.rules_path)


def _repos_of(warehouse: Warehouse, seqs: np.ndarray) -> set[str]:
    rows = ShardView(warehouse, seqs).read_bronze([("github", "push")], pd.Timestamp("2100-01-01"))
    return {json.loads(body)["repository"]["full_name"] for body in rows["body"]}


def test_every_repo_lies_in_exactly_one_shard(bronze) -> None:
    warehouse, _ = bronze
    plan = shard_plan(warehouse, SMALL)
    assert plan is not None and len(plan) >= 3, "the test needs several shards to mean anything"
    repos = [_repos_of(warehouse, seqs) for seqs in plan]
    assert sum(len(r) for r in repos) == len(set().union(*repos)) == 5
    all_seqs = np.concatenate(plan)
    assert len(all_seqs) == len(np.unique(all_seqs)) == warehouse.count_bronze("1900-01-01", "2100-01-01")


@pytest.mark.parametrize("name", list(MODELS))
def test_sharded_silver_equals_one_pass_over_the_whole_window(bronze, name: str) -> None:
    warehouse, rules = bronze
    start, end = pd.Timestamp(START), pd.Timestamp(START) + pd.Timedelta(days=DAYS)
    one_rows, one_rejects = MODELS[name](warehouse, rules, start, end)
    rows, rejects = sharded(name, MODELS[name], SMALL)(warehouse, rules, start, end)
    assert len(one_rows) > 0
    pd.testing.assert_frame_equal(rows, one_rows)
    assert sorted(rejects["record_ref"]) == sorted(one_rejects["record_ref"])


@pytest.mark.parametrize("name", list(MODELS))
def test_a_late_window_reads_its_history_before_the_window_inside_the_shard(bronze, name: str) -> None:
    """The second half of the sample: each deployment's previous deployment, the main-line commits it
    ships and an incident's root-cause commit lie before the window, and the shard still holds them."""
    warehouse, rules = bronze
    start = pd.Timestamp(START) + pd.Timedelta(days=DAYS // 2)
    end = pd.Timestamp(START) + pd.Timedelta(days=DAYS)
    one_rows, _ = MODELS[name](warehouse, rules, start, end)
    rows, _ = sharded(name, MODELS[name], SMALL)(warehouse, rules, start, end)
    pd.testing.assert_frame_equal(rows, one_rows)


def test_deployments_of_the_late_window_ship_changes_and_follow_deployments_before_it(bronze) -> None:
    """What makes the late-window test above meaningful: its repos deployed before the window, and some
    of its deployments are rollbacks or ship changes landed before the window."""
    warehouse, rules = bronze
    mid = pd.Timestamp(START) + pd.Timedelta(days=DAYS // 2)
    early, _ = compute_deployments(warehouse, rules, pd.Timestamp(START), mid)
    late, _ = sharded("silver_deployments", compute_deployments, SMALL)(
        warehouse, rules, mid, mid + pd.Timedelta(days=DAYS - DAYS // 2))
    assert len(late) and set(late["repo"]) <= set(early["repo"])
    assert late["previous_deployment_id"].isin(early["deployment_id"]).any()
    changes, _ = compute_changes(warehouse, rules, pd.Timestamp(START), mid)
    shipped = "\n".join(late["change_ids"].dropna())
    assert any(c in shipped for c in changes["change_id"]), "a late deployment ships a change landed before"


def test_one_pass_when_small_or_another_provider_is_stored(bronze, tmp_path: Path) -> None:
    warehouse, _ = bronze
    assert shard_plan(warehouse, 10**9) is None
    other = Warehouse(tmp_path / "warehouse.duckdb")
    rows = warehouse.read_bronze([("github", "push")], "2100-01-01").head(3)
    full = warehouse.read_window("bronze_deliveries", "event_day", None, None)
    rows = full[full["delivery_id"].isin(rows["delivery_id"])].drop(columns=["load_seq"])
    other.append_bronze(rows)
    other.append_bronze(rows.assign(provider="pagerduty", delivery_id=rows["delivery_id"] + "-pd"))
    assert shard_plan(other, 1) is None  # PagerDuty names services, not repos: never sharded


@pytest.mark.parametrize("per_shard, kept", [(SMALL, False), (10**9, True)])
def test_the_main_line_memo_is_dropped_only_when_no_shard_can_be_reused(
    bronze, per_shard: int, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More shards than the memo keeps: each model would miss every shard, so the runner drops the memo
    after each one; one pass (or a few shards) keeps it for the next model."""
    from devmetrics_assets.providers.github import mainline as M
    from devmetrics_assets.transforms import memos

    monkeypatch.setattr(memos, "ENTRIES", 2)  # SMALL makes 3 or more shards of this sample
    warehouse, rules = bronze
    plan = shard_plan(warehouse, per_shard)
    assert (plan is None or memos.reusable(len(plan))) is kept
    M._MEMO.clear()
    start, end = pd.Timestamp(START), pd.Timestamp(START) + pd.Timedelta(days=DAYS)
    rows, _ = sharded("silver_changes", compute_changes, per_shard)(warehouse, rules, start, end)
    assert len(rows) > 0
    assert (len(M._MEMO) > 0) is kept
