"""A mixed organisation through the real graph: GitHub recordings + GitLab, PagerDuty, generic, GitHub pushes,
GitHub Actions, Jira and Opsgenie landing files give ONE Gold equal to the combined planted truth (both
generators' truth, never Gold itself)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.demo.sample_org.mixed import (
    BILLING,
    LEDGER,
    SEARCH,
    SOURCE_PROVIDERS,
    SOURCES,
    STOREFRONT,
    MixedOrg,
    generate_mixed_org,
)
from devmetrics_assets.runner import materialise_days
from devmetrics_assets.sources.registry import SourceSpec, default_sources
from devmetrics_assets.storage.loaders import load_gold, load_quarantine, load_silver
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.conftest import land_sample, settings_in
from devmetrics_assets_tests.test_end_to_end_stages import assert_stages_equal_truth

pytestmark = pytest.mark.slow

START = date(2025, 1, 1)
DAYS = 21
COUNTS = [
    "deployments",
    "failed_deploy_attempts",
    "change_failures",
    "rework_deployments",
    "incidents_opened",
    "unrecovered_failures",
]


@dataclass
class Mixed:
    mixed: MixedOrg
    truth_dirs: list[Path]
    warehouse: Path
    github_repos: tuple[str, ...]


def _sources(landing: Path, settings) -> list[SourceSpec]:
    return [default_sources(settings)[0]] + [
        SourceSpec(
            name=src,
            type="landing_jsonl",
            provider=SOURCE_PROVIDERS[src],
            landing_dir=landing / src,
            secret_env=None,
            description=f"{src} deliveries written by the receiver (mixed sample organisation)",
        )
        for src in SOURCES
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    root = tmp_path_factory.mktemp("mixed")
    github = generate_sample_org(root / "github", repos=2, days=DAYS, start=START, seed=11)
    org = generate_mixed_org(root / "mixed", days=DAYS, start=START, seed=3)
    settings = settings_in(root / "home")
    days = land_sample(github, settings)
    rules = yaml.safe_load(settings.rules_path.read_text())
    rules["repos"] |= org.rules["repos"]
    rules.setdefault("providers", {}).update(org.rules["providers"])
    settings.rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    for src in SOURCES:
        shutil.copytree(org.landing_dir / src, settings.landing_dir / src)
    last = START + timedelta(days=DAYS - 1)
    days = [START + timedelta(days=i) for i in range((max(days[-1], last) - START).days + 1)]
    previous = os.environ.get("GITHUB_WEBHOOK_SECRET")
    os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
    try:
        defs = build_definitions(settings, _sources(settings.landing_dir, settings))
        with dg.instance_for_test() as instance:
            results = materialise_days(defs, instance, days)
            assert all(r.success for r in results)
        yield Mixed(org, [github.truth_dir, org.truth_dir], settings.warehouse_path, github.repos)
    finally:
        if previous is None:
            os.environ.pop("GITHUB_WEBHOOK_SECRET", None)
        else:
            os.environ["GITHUB_WEBHOOK_SECRET"] = previous


def _truth(m: Mixed, name: str) -> pd.DataFrame:
    return pd.concat([pd.read_csv(d / name) for d in m.truth_dirs], ignore_index=True)


def _gold_repo_days(m: Mixed) -> pd.DataFrame:
    gold = load_gold("day", scope_type="repo", warehouse=m.warehouse).rename(columns={"scope": "repo"})
    gold["day"] = gold["period_start"].dt.strftime("%Y-%m-%d")
    return gold


def test_daily_counts_per_repo_equal_the_combined_truth(mixed: Mixed) -> None:
    truth = _truth(mixed, "truth_daily.csv").set_index(["repo", "day"])[COUNTS]
    gold = _gold_repo_days(mixed).set_index(["repo", "day"])[COUNTS]
    gold = gold[(gold != 0).any(axis=1)]
    per_repo = truth.groupby(level="repo").sum()
    for repo in (BILLING, LEDGER, SEARCH, STOREFRONT, *mixed.github_repos):
        assert per_repo.loc[repo, "deployments"] > 0, f"{repo} must plant deployments"
    for column in ("failed_deploy_attempts", "change_failures", "rework_deployments", "incidents_opened"):
        assert per_repo.loc[[BILLING, LEDGER, SEARCH], column].sum() > 0, f"the mixed org must plant {column}"
        assert per_repo.loc[STOREFRONT, column] > 0, f"the storefront repo must plant {column}"
    joined = truth.join(gold.add_suffix("_gold"), how="outer").fillna(0)
    for column in COUNTS:
        diff = joined[joined[column] != joined[f"{column}_gold"]]
        assert diff.empty, f"{column} differs from truth:\n{diff[[column, f'{column}_gold']]}"


def test_lead_times_and_recoveries_equal_the_combined_truth(mixed: Mixed) -> None:
    gold = _gold_repo_days(mixed).set_index(["repo", "day"])
    leads = (
        _truth(mixed, "truth_lead_times.csv")
        .groupby(["repo", "day"])["lead_time_h"]
        .agg(n="count", median="median", p90=lambda s: float(np.percentile(s, 90)))
    )
    assert {BILLING, LEDGER, SEARCH} <= set(leads.index.get_level_values("repo"))
    got = gold.loc[leads.index]
    assert (got["lead_time_changes"].to_numpy() == leads["n"].to_numpy()).all()
    np.testing.assert_allclose(got["lead_time_median_h"], leads["median"], atol=1e-6)
    np.testing.assert_allclose(got["lead_time_p90_h"], leads["p90"], atol=1e-6)
    recs = _truth(mixed, "truth_recoveries.csv").dropna(subset=["recovery_h"])
    recs = recs.groupby(["repo", "day"])["recovery_h"].agg(n="count", median="median")
    got = gold.loc[recs.index]
    assert (got["recoveries"].to_numpy() == recs["n"].to_numpy()).all()
    np.testing.assert_allclose(got["recovery_median_h"], recs["median"], atol=1e-6)


def test_organisation_change_failure_rate_pools_every_provider(mixed: Mixed) -> None:
    truth = _truth(mixed, "truth_daily.csv")
    truth["month"] = pd.to_datetime(truth["day"]).dt.to_period("M").dt.start_time
    per_month = truth.groupby("month")[["change_failures", "deployments"]].sum()
    gold = load_gold("month", scope_type="org", warehouse=mixed.warehouse).set_index("period_start")
    gold = gold.loc[per_month.index]
    np.testing.assert_allclose(
        gold["change_failure_rate"], per_month["change_failures"] / per_month["deployments"], atol=1e-9
    )
    assert (gold["deployments"].to_numpy() == per_month["deployments"].to_numpy()).all()


def test_silver_holds_every_provider_in_the_same_entities(mixed: Mixed) -> None:
    changes = load_silver("changes", warehouse=mixed.warehouse)
    methods = set(changes.loc[changes["repo"] == BILLING, "merge_method"])
    assert {"merge", "squash", "rebase", "direct"} <= methods
    assert (changes["repo"] == SEARCH).any() and (changes["repo"] == LEDGER).any()
    deployments = load_silver("deployments", warehouse=mixed.warehouse).set_index("deployment_id")
    assert deployments.loc[mixed.mixed.plants["api_status"][0], "status_count"] == 2, "API copy counted once"
    crossing = deployments[deployments["created_at"].dt.day != deployments["finished_at"].dt.day]
    assert (crossing["repo"] == BILLING).any() and (crossing["final_status"] == "success").all()
    incidents = load_silver("incidents", warehouse=mixed.warehouse)
    assert incidents["incident_id"].is_unique
    assert {BILLING, LEDGER, SEARCH} <= set(incidents["repo"])
    assert (incidents.loc[incidents["repo"] == LEDGER, "reopened_count"] > 0).any()


def test_silver_reads_the_new_providers_of_the_storefront_repo(mixed: Mixed) -> None:
    """GitHub pushes give its changes, Actions runs its deployments, Jira and Opsgenie its incidents; the CI
    run, the Jira Bug and the P3 alert give no row."""
    plants = mixed.mixed.plants
    changes = load_silver("changes", warehouse=mixed.warehouse)
    assert set(changes.loc[changes["repo"] == STOREFRONT, "merge_method"]) == {"direct"}
    deployments = load_silver("deployments", warehouse=mixed.warehouse).set_index("deployment_id")
    ci_run = next(p for p in plants["not_incidents"] if p.startswith("run:")).split(":")[1]
    assert f"{STOREFRONT}:{ci_run}" not in deployments.index
    rerun = deployments.loc[plants["rerun"]]
    assert (rerun["final_status"] == "success").all(), "a failed run re-run successfully is a success"
    assert deployments.loc[plants["rollback"], "is_rollback"].all()
    incidents = load_silver("incidents", warehouse=mixed.warehouse)
    mine = incidents[incidents["repo"] == STOREFRONT]
    assert set(mine["incident_id"].str.extract(r"#(jira|opsgenie)-", expand=False)) == {"jira", "opsgenie"}
    assert (mine.loc[mine["incident_id"].str.contains("#jira-"), "reopened_count"] > 0).any()
    assert mine["root_cause_sha"].notna().all()
    ignored = {f"{STOREFRONT}#{p.replace(':', '-')}" for p in plants["not_incidents"]
               if not p.startswith("run:")}
    assert not ignored & set(mine["incident_id"])


def test_only_the_unmapped_pagerduty_incident_is_quarantined(mixed: Mixed) -> None:
    bronze = load_quarantine(layer="bronze", warehouse=mixed.warehouse)
    assert not bronze["source"].isin(SOURCES).any()
    redelivered = mixed.mixed.plants["redelivery"][0]
    stored = Warehouse(mixed.warehouse).read_bronze(["Issue Hook"], "2100-01-01")
    assert (stored["delivery_id"] == redelivered).sum() == 1, "a redelivery (same UUID) is stored once"
    silver = load_quarantine(layer="silver", warehouse=mixed.warehouse)
    mine = silver[silver["source"].isin(SOURCES)]
    assert len(mine) == 1 and "Office Printers" in mine["reason"].iloc[0]
    assert mine["asset"].iloc[0] == "silver_incidents"


def test_lead_time_stages_equal_the_combined_truth(mixed: Mixed) -> None:
    """GitLab approvals and merge-request notes, GitHub reviews: stage statistics equal the stage truth."""
    truth = _truth(mixed, "truth_lead_time_stages.csv")
    assert truth.loc[truth["repo"].isin([BILLING, LEDGER]), "pickup_h"].notna().sum() > 5
    assert truth.loc[truth["repo"] == SEARCH, ["coding_h", "pickup_h"]].isna().all().all()  # generic commits
    assert assert_stages_equal_truth(_gold_repo_days(mixed), truth) > 20
