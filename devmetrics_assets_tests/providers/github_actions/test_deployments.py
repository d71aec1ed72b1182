"""GitHub Actions workflow runs → silver_deployments, checked against hand-computed rows and against the same
history told through the Deployments API (story.py)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pandas as pd
import pytest

from devmetrics_assets.checks.silver_schemas import SilverDeploymentsSchema
from devmetrics_assets.config import ConfigError, DoraRules, rules_from_mapping
from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.providers.github_actions.rules import ActionsRules, parse_rules
from devmetrics_assets.sources.registry import merge_rules
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.payloads import to_utc
from devmetrics_assets_tests.providers.github_actions import story
from devmetrics_assets_tests.providers.github_actions.story import (
    DEPLOY_WORKFLOW,
    REPO,
    deployment_id,
    run_body,
    sha,
    t,
    workflow_run,
)

D3, D5 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-05")
RULES = DoraRules(provider_rules={"github_actions": story.RULES})
_seq = itertools.count(1)


def landed(provider: str, rows: list[tuple[str, Any, str]]) -> pd.DataFrame:
    """Bronze rows (as `read_bronze` returns them) from (event_type, body, received ISO) triples."""
    out = []
    for event_type, body, got in rows:
        received = pd.Timestamp(got)
        at, _ = to_utc([anchor_value(provider, event_type, body)])
        anchor = at.iloc[0]
        out.append({"source": provider, "provider": provider, "delivery_id": f"{provider}-{next(_seq)}",
                    "event_type": event_type, "received_at": received,
                    "event_day": (received if pd.isna(anchor) else anchor).tz_localize(None).floor("D"),
                    "body": body if isinstance(body, str) else json.dumps(body), "load_seq": next(_seq)})
    frame = pd.DataFrame(out)
    frame["received_at"] = frame["received_at"].astype("datetime64[us, UTC]")
    frame["event_day"] = frame["event_day"].astype("datetime64[us]")
    return frame


def silver(deployment_rows: pd.DataFrame, rules: DoraRules = RULES) -> tuple[pd.DataFrame, pd.DataFrame]:
    mainline = landed("github", story.push_rows())
    deps, quarantine = silver_entities.build_deployments(deployment_rows, mainline, rules, D3, D5)
    SilverDeploymentsSchema.validate(deps)
    return deps.set_index("deployment_id"), quarantine


def actions(rows: list[tuple[str, Any, str]] | None = None) -> pd.DataFrame:
    return landed("github_actions", story.actions_rows() if rows is None else rows)


def ids(*keys: str) -> str:
    return ",".join(f"{REPO}@{sha(k)}" for k in keys)


def test_workflow_runs_give_the_hand_computed_deployments() -> None:
    deps, quarantine = silver(actions())
    assert quarantine.empty
    run = {k: deployment_id(k, "github_actions") for k in story.KEYS}
    assert list(deps.index) == [run[k] for k in "ABCDFGH"]  # the CI run deploys nothing
    # key: sha, environment, production, final, created, finished, rollback, baseline, ships
    expected = {
        "A": ("a1", "production", True, "success", "3 08:30", "3 08:40", False, True, ids("a1")),
        "B": ("a2", "production", True, "success", "3 10:30", "3 11:00", False, False, ids("a2")),
        "C": ("a3", "production", True, "success", "3 13:30", "3 13:40", False, False, ids("a3")),
        "D": ("a2", "production", True, "success", "3 14:00", "3 14:10", True, False, ""),
        "F": ("a4", "production", True, "failure", "4 09:30", "4 09:40", False, False, ""),
        "G": ("a4", "production", True, "success", "4 10:00", "4 10:20", False, False, ids("a4")),
        "H": ("a4", "ci/staging", False, "success", "4 11:00", "4 11:05", False, False, ""),
    }
    for key, (label, env, prod, final, created, finished, rollback, baseline, ships) in expected.items():
        row = deps.loc[run[key]]
        got = (row["sha"], row["environment"], row["is_production"], row["final_status"], row["created_at"],
               row["finished_at"], row["is_rollback"], row["is_baseline"], row["change_ids"] or "")
        assert got == (sha(label), env, prod, final, pd.Timestamp(t(created)), pd.Timestamp(t(finished)),
                       rollback, baseline, ships), key
    assert deps.loc[run["D"], "undoes_deployment_id"] == run["C"]
    assert deps.loc[run["D"], "release_id"] == run["D"]
    assert deps.loc[run["G"], "previous_deployment_id"] == run["D"]
    # B's re-run: only the last attempt's requested / in_progress / completed statuses count.
    assert deps.loc[run["B"], "status_count"] == 3


def test_the_same_history_through_the_deployments_api_gives_the_same_silver() -> None:
    """Provider `github` (deployment + deployment_status) vs `github_actions` (workflow_run): same repo, sha,
    environment, production flag, final status, times, rollback and release facts and shipped changes."""
    gh, _ = silver(landed("github", story.github_deployment_rows()))
    gha, _ = silver(actions())
    to_actions = {deployment_id(k, "github"): deployment_id(k, "github_actions") for k in story.KEYS}
    gh = gh.rename(index=to_actions)
    for col in ("release_id", "previous_deployment_id", "undoes_deployment_id"):
        gh[col] = gh[col].map(lambda v: to_actions.get(v, v))
    compared = ["repo", "sha", "environment", "is_production", "final_status", "created_at", "finished_at",
                "is_rollback", "release_id", "previous_deployment_id", "is_baseline", "undoes_deployment_id",
                "change_ids", "commit_shas", "changes_known", "event_day"]
    pd.testing.assert_frame_equal(gh[compared], gha.loc[gh.index, compared])
    assert set(gh.index) == set(gha.index)


def _run(action: str, /, *, attempt: int = 1, conclusion: str | None = None, updated: str = "3 08:40",
         **change: Any) -> dict:
    status = {"requested": "queued", "in_progress": "in_progress", "completed": "completed"}[action]
    run = workflow_run(77, DEPLOY_WORKFLOW, "a1", "main", attempt=attempt, created=t("3 08:30"),
                       started=t("3 08:30") if attempt == 1 else t("3 09:00"), updated=t(updated),
                       status=status, conclusion=conclusion)
    body = run_body(action, run, DEPLOY_WORKFLOW)
    for path, value in change.items():
        obj = body
        *parents, leaf = path.split("__")
        for part in parents:
            obj = obj[part]
        if value is None:
            obj.pop(leaf, None)
        else:
            obj[leaf] = value
    return body


def test_last_attempt_decides_and_a_pulled_rerun_starts_at_the_runs_creation() -> None:
    success_then_cancelled = [
        ("workflow_run", _run("completed", conclusion="success"), t("3 08:40")),
        ("workflow_run", _run("completed", attempt=2, conclusion="cancelled", updated="3 09:05"),
         t("3 09:05")),
    ]
    deps, _ = silver(actions(success_then_cancelled))
    row = deps.loc[f"{REPO}:77"]
    assert row["final_status"] == "inactive" and row["finished_at"] == pd.Timestamp(t("3 09:05"))
    assert row["created_at"] == pd.Timestamp(t("3 08:30"))  # attempt 1's start
    # An API pull lists only the latest attempt: its run_started_at (09:00) is not when the run began.
    only_second = [success_then_cancelled[1]]
    deps, _ = silver(actions(only_second))
    assert deps.loc[f"{REPO}:77", "created_at"] == pd.Timestamp(t("3 08:30"))


@pytest.mark.parametrize(("change", "reason"), [
    ({"workflow_run__head_sha": None}, "workflow_run.head_sha missing"),
    ({"workflow_run__id": "x"}, "workflow_run.id missing"),
    ({"repository": "nope"}, "repository.full_name missing"),
    ({"workflow_run__conclusion": "exploded"}, "unknown workflow_run.conclusion 'exploded'"),
    ({"workflow_run__updated_at": None}, "completed workflow_run without updated_at"),
    ({"workflow_run__updated_at": "yesterday"}, "workflow_run.updated_at is not a valid timestamp"),
    ({"action": "deleted"}, "unknown workflow_run action 'deleted'"),
    ({"workflow_run__name": None, "workflow_run__path": None, "workflow": None},
     "workflow_run.name/path missing: cannot tell whether the run deploys"),
])
def test_unusable_deploying_runs_are_quarantined_with_their_reason(change: dict, reason: str) -> None:
    body = _run("completed", conclusion="success", **change)
    deps, quarantine = silver(actions([("workflow_run", body, t("3 08:40"))]))
    assert deps.empty
    assert list(quarantine["reason"]) == [reason]
    assert quarantine["asset"].iloc[0] == "silver_deployments"


def test_runs_of_other_workflows_and_broken_ones_of_them_are_ignored() -> None:
    other = {"name": "CI", "path": ".github/workflows/ci.yml", "id": 1}
    body = run_body("completed", workflow_run(78, other, "a1", "main", attempt=1, created=t("3 08:30"),
                                              started=t("3 08:30"), updated=t("3 08:40"), status="completed",
                                              conclusion="exploded"), other)
    deps, quarantine = silver(actions([("workflow_run", body, t("3 08:40"))]))
    assert deps.empty and quarantine.empty
    # Not JSON at all: quarantined (nothing tells it is not a deployment).
    _, quarantine = silver(actions([("workflow_run", "{not json", t("3 08:40"))]))
    assert len(quarantine) == 1


def test_paths_environments_and_conclusions_follow_the_rules() -> None:
    path = ".github/workflows/deploy.yml"
    rules = DoraRules(provider_rules={"github_actions": {
        "workflow_paths": [path], "workflow_environments": {path: "prod"}, "environment": "live",
        "conclusions": {"cancelled": "failure"}}})
    # Without production_branches a run is production on the repository's default branch; here the
    # workflow's own environment `prod` (a production name) makes even a `staging` run production.
    body = _run("completed", conclusion="cancelled", workflow_run__head_branch="staging",
                workflow_run__name="Renamed", workflow_run__path=f"{path}@refs/heads/main")
    deps, _ = silver(actions([("workflow_run", body, t("3 08:40"))]), rules)
    row = deps.loc[f"{REPO}:77"]
    assert (row["environment"], row["final_status"]) == ("live", "failure")
    staging = DoraRules(provider_rules={"github_actions": {"workflows": ["deploy"],
                                                           "workflow_environments": {"Deploy": "staging"}}})
    # A workflow with its own non-production environment stays non-production even on main.
    renamed = body | {"workflow_run": {**body["workflow_run"], "name": "Deploy", "head_branch": "main"}}
    deps, _ = silver(actions([("workflow_run", renamed, t("3 08:40"))]), staging)
    row = deps.loc[f"{REPO}:77"]
    assert row["environment"] == "staging" and not row["is_production"]
    # No rules at all: nothing deploys.
    plain = _run("completed", conclusion="success")
    deps, quarantine = silver(actions([("workflow_run", plain, t("3 08:40"))]), DoraRules())
    assert deps.empty and quarantine.empty


def test_rules_parse_and_name_the_wrong_field() -> None:
    parsed = parse_rules({"workflows": ["Deploy"], "workflow_paths": ".github/workflows/x.yml",
                          "production_branches": ["main", "release"]})
    assert parsed == ActionsRules(frozenset({"deploy"}), frozenset({".github/workflows/x.yml"}),
                                  ("main", "release"), {}, "production", parsed.conclusions)
    assert parsed.conclusions["timed_out"] == "failure" and parsed.conclusions["cancelled"] == "inactive"
    assert parse_rules({}).deploys("Deploy", None) is False
    for bad, field in [({"workflow": ["x"]}, "workflow: unknown field"),
                       ({"workflows": [""]}, "workflows: expected a list"),
                       ({"workflows": "Deploy", "workflow_environments": {"Other": "x"}},
                        "workflow_environments: 'Other' is not a deploying workflow"),
                       ({"environment": 3}, "environment: expected a non-empty"),
                       ({"conclusions": {"cancelled": "meh"}}, "conclusions: expected a mapping"),
                       ({"production_branches": {"main": 1}}, "production_branches: expected a list")]:
        with pytest.raises(ValueError, match=field):
            parse_rules(bad)
    with pytest.raises(ConfigError, match=r"providers\.github_actions: conclusions:"):
        merge_rules(rules_from_mapping({"providers": {"github_actions": {"conclusions": []}}}), [])
    merged = merge_rules(rules_from_mapping(story.RULES_YAML), [])
    assert merged.provider_rules == story.RULES_YAML["providers"]


def test_lineage_keys_and_anchors_name_the_run() -> None:
    provider = PROVIDERS["github_actions"]
    rows = story.run_events(77, DEPLOY_WORKFLOW, "a1", "main",
                            [(1, t("3 23:58"), t("3 23:59"), "success", t("4 00:10"))])
    (_, requested, _), (_, _, _), (_, job, _), (_, completed, _) = rows
    assert provider.lineage_keys("workflow_run", completed) == [("deployment", REPO, "77"),
                                                                ("commit", REPO, sha("a1"))]
    assert provider.lineage_keys("workflow_job", job) == [("deployment", REPO, "77")]
    assert provider.lineage_keys("ping", {"zen": "x"}) == []
    # Every status of a run files under the run's creation day, even when it completes after midnight.
    anchors = {provider.anchor("workflow_run", completed), provider.anchor("workflow_run", requested)}
    assert anchors == {t("3 23:58")}
    assert provider.anchor("ping", {"zen": "x"}) is None
