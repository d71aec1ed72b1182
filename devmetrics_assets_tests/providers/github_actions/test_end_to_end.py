"""The story (story.py) through the real Dagster graph twice: once as Deployments API webhooks (provider
`github`), once as workflow_run webhooks (provider `github_actions`), both over the same GitHub pushes.
Both homes must give the same daily Gold, equal to the numbers computed by hand below."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.runner import materialise_days
from devmetrics_assets.sources.landing_files import encode_line, envelope
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.storage.loaders import load_gold, load_quarantine, load_silver
from devmetrics_assets_tests.providers.github_actions import story

pytestmark = pytest.mark.slow
DAYS = [date(2025, 3, 3), date(2025, 3, 4)]
# Hand-computed from the story (story.py), per day of acme/shop:
# 03-03: releases A (baseline: a1, no lead time), B (a2: 11:00 - 09:00 = 2 h; its failed first attempt
#   is no failed deployment: the re-run decides), C (a3: 13:40 - 12:00 = 1.667 h), D (rollback to a2).
#   D undoes C: C is a change failure recovered by D's finish, 14:10 - 13:40 = 0.5 h.
#   deployments 4, rollbacks 1, change_failures 1 (rate 1/4), rework 1 (the rollback), shipped 3,
#   measured lead times 2 (median (2 + 1.667) / 2 = 1.833 h, p90 1.667 + 0.9 * 0.333 = 1.967 h).
# 03-04: F failed (a failed attempt), G releases a4 (10:20 - 08:00 = 2.333 h), H is staging (not counted),
#   the CI run deploys nothing. deployments 1, failed attempts 1, no change failure.
EXPECTED = {
    "2025-03-03": {"deployments": 4, "failed_deploy_attempts": 0, "rollbacks": 1, "change_failures": 1,
                   "change_failure_rate": 0.25, "recoveries": 1, "recovery_median_h": 0.5,
                   "unrecovered_failures": 0, "rework_deployments": 1, "shipped_changes": 3,
                   "lead_time_changes": 2, "lead_time_median_h": 11 / 6, "lead_time_p90_h": 5 / 3 + 0.3,
                   "incidents_opened": 0},
    "2025-03-04": {"deployments": 1, "failed_deploy_attempts": 1, "rollbacks": 0, "change_failures": 0,
                   "change_failure_rate": 0.0, "recoveries": 0, "recovery_median_h": None,
                   "unrecovered_failures": 0, "rework_deployments": 0, "shipped_changes": 1,
                   "lead_time_changes": 1, "lead_time_median_h": 7 / 3, "lead_time_p90_h": 7 / 3,
                   "incidents_opened": 0},
}


def _land(folder: Path, provider: str, rows: list[tuple[str, Any, str]]) -> None:
    """Landing envelopes as the receiver writes them (one file per received day)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (event_type, body, received) in enumerate(rows):
        at = pd.Timestamp(received).to_pydatetime()
        line = envelope(received_at=at, delivery_id=f"{provider}-{event_type}-{i}", provider=provider,
                        event_type=event_type, signature_status="verified",
                        headers={"X-GitHub-Event": event_type}, body_raw=json.dumps(body))
        with (folder / f"{received[:10]}.jsonl").open("ab") as handle:
            handle.write(encode_line(line))


def _materialise(root: Path, deployments_provider: str) -> Path:
    settings = Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                        rules_path=root / "rules.yaml", partition_start="2025-03-01")
    root.mkdir(parents=True)
    settings.rules_path.write_text(yaml.safe_dump(story.RULES_YAML))
    pushes = story.push_rows()
    sources = [SourceSpec(name="gh", type="landing_jsonl", provider="github",
                          landing_dir=settings.landing_dir / "gh", secret_env=None, description="GitHub")]
    if deployments_provider == "github":
        _land(settings.landing_dir / "gh", "github", pushes + story.github_deployment_rows())
    else:
        _land(settings.landing_dir / "gh", "github", pushes)
        _land(settings.landing_dir / "ci", "github_actions", story.actions_rows())
        sources.append(SourceSpec(name="ci", type="landing_jsonl", provider="github_actions",
                                  landing_dir=settings.landing_dir / "ci", secret_env=None,
                                  description="GitHub Actions workflow runs"))
    defs = build_definitions(settings, sources)
    with dg.instance_for_test() as instance:
        assert all(r.success for r in materialise_days(defs, instance, DAYS))
    return settings.warehouse_path


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("gha")
    yield {p: _materialise(root / p, p) for p in ("github", "github_actions")}


def _gold(warehouse: Path) -> pd.DataFrame:
    gold = load_gold("day", scope_type="repo", warehouse=warehouse)
    gold = gold[gold["scope"] == story.REPO]
    return gold.assign(day=gold["period_start"].dt.strftime("%Y-%m-%d")).set_index("day")


def test_workflow_runs_give_the_hand_computed_daily_gold(warehouses) -> None:
    gold = _gold(warehouses["github_actions"])
    for day, expected in EXPECTED.items():
        for column, value in expected.items():
            got = gold.loc[day, column]
            if value is None:
                assert pd.isna(got), (day, column, got)
            else:
                assert got == pytest.approx(value), (day, column, got)
    for layer in ("bronze", "silver"):  # workflow_job and the CI run are stored, never quarantined
        assert load_quarantine(layer=layer, warehouse=warehouses["github_actions"]).empty, layer


def test_deployments_api_and_workflow_runs_give_the_same_gold_and_silver(warehouses) -> None:
    gh, gha = _gold(warehouses["github"]), _gold(warehouses["github_actions"])
    pd.testing.assert_frame_equal(gh.drop(columns=["period_start"]), gha.drop(columns=["period_start"]))
    keep = ["repo", "sha", "environment", "is_production", "final_status", "created_at", "finished_at",
            "is_rollback", "is_baseline", "change_ids", "event_day"]
    deps = {p: load_silver("deployments", warehouse=w).sort_values("created_at")[keep].reset_index(drop=True)
            for p, w in warehouses.items()}
    assert len(deps["github"]) == 7
    pd.testing.assert_frame_equal(deps["github"], deps["github_actions"])
