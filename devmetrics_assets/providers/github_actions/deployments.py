"""GitHub Actions `workflow_run` deliveries → the normalised deployment shapes (transforms/normalised.py).

Teams that never call GitHub's Deployments API deploy from CI workflows; their deploying runs become the
same `deps` + `stats` rows a GitHub deployment and its deployment_statuses give, so silver_deployments'
final-status, release, rollback and shipping rules run once over every provider (silver_entities.py).
Payload: https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_run

- Which runs deploy: rules.py (`workflows` / `workflow_paths`). Any other run is not a deployment: it is
  ignored, not quarantined. A deploying run with an unusable payload is quarantined with its reason; so is
  a run that names no workflow at all (whether it deploys cannot be told).
- deployment id = `workflow_run.id`, sha = `head_sha`, repo = `repository.full_name`.
- environment: a run of a workflow with its own environment (`workflow_environments`) is production when
  that environment is a production name of rules.yaml; a run of any other deploying workflow when its
  `head_branch` is a production branch (default: the repository's default branch). Production runs get
  `environment` (default `production`), other runs their workflow's environment, else `ci/<head_branch>`.
- created_at = the first attempt's `run_started_at` (else `created_at`). A body of a later attempt only
  knows the run's `created_at` (when attempt 1 was created), so when attempt 1 was never seen (an API pull
  lists the latest attempt only) the run's `created_at` is used: the start order stays right.
- statuses: `requested` → queued at the attempt's run_started_at, `in_progress` → in_progress and
  `completed` → the mapped conclusion (rules.py) at updated_at. A re-run (`run_attempt` > 1) adds later
  statuses to the same deployment, and the LAST attempt decides: statuses of earlier attempts are dropped
  once a later attempt is seen (a failure re-run to success is a success, a success re-run and cancelled
  is `inactive`). A status is identified by (run, attempt, state, time): webhook and pulled copies count once.
- `workflow_job` deliveries are stored in Bronze (their run ids link them in lineage) but Silver does not
  read them: a run's own events already carry its outcome, and a job's `environment` is not in the payload.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github_actions.rules import ActionsRules
from devmetrics_assets.transforms.normalised import (
    DEP_COLUMNS,
    STAT_COLUMNS,
    empty_deployments,
    parse_times,
    reason_series,
    received,
    stable_id,
)
from devmetrics_assets.transforms.payloads import int_or_none, parse_bodies, text_or_none

WORKFLOW_RUN = "workflow_run"
WORKFLOW_JOB = "workflow_job"
ACTIONS = {"requested": "queued", "in_progress": "in_progress", "completed": None}


def _text(value: Any) -> str | None:
    found = text_or_none(value)
    return found.strip() if found is not None else None


def _environment(body: dict, run: dict, rules: DoraRules, actions: ActionsRules,
                 name: str | None, path: str | None) -> str:
    branch = _text(run.get("head_branch"))
    repository = body.get("repository") if isinstance(body.get("repository"), dict) else {}
    branches = actions.production_branches
    if branches is None:
        default = _text(repository.get("default_branch"))
        branches = (default,) if default else ()
    own = actions.workflow_environment(name, path)
    # A workflow naming its own environment is production exactly when that name is (a staging workflow
    # run from main is still staging); any other deploying workflow by its branch.
    production = rules.is_production(own) if own is not None else branch is not None and branch in branches
    if production:
        return actions.environment
    return own or f"ci/{branch or 'unknown'}"


def _parse_row(body: dict, rules: DoraRules, actions: ActionsRules) -> tuple[dict | None, str | None]:
    """(record, None) for a deploying run's event, (None, reason) for an unusable one, (None, None) for a
    run that does not deploy."""
    run = body.get("workflow_run")
    if not isinstance(run, dict):
        return None, "workflow_run object missing"
    workflow = body.get("workflow") if isinstance(body.get("workflow"), dict) else {}
    name = _text(run.get("name")) or _text(workflow.get("name"))
    path = _text(run.get("path")) or _text(workflow.get("path"))
    if name is None and path is None:
        return None, "workflow_run.name/path missing: cannot tell whether the run deploys"
    if not actions.deploys(name, path):
        return None, None
    repo = _text((body.get("repository") or {}).get("full_name")) if isinstance(
        body.get("repository"), dict) else None
    run_id, sha = int_or_none(run.get("id")), _text(run.get("head_sha"))
    attempt = int_or_none(run.get("run_attempt")) or 1
    action = _text(body.get("action"))
    missing = [n for n, v in (("id", run_id), ("head_sha", sha), ("created_at", run.get("created_at")))
               if v is None]
    if repo is None:
        return None, "repository.full_name missing"
    if missing:
        return None, "workflow_run." + "/".join(missing) + " missing"
    if action not in ACTIONS:
        return None, f"unknown workflow_run action {action!r}"
    state = ACTIONS[action]
    at_raw = run.get("run_started_at") or run.get("created_at")
    if action == "in_progress":
        at_raw = run.get("updated_at") or at_raw
    if action == "completed":
        conclusion = str(run.get("conclusion") or "").strip().lower()
        state = actions.conclusions.get(conclusion)
        if state is None:
            return None, f"unknown workflow_run.conclusion {run.get('conclusion')!r}"
        at_raw = run.get("updated_at")
        if at_raw is None:
            return None, "completed workflow_run without updated_at"
    return {
        "repo": repo,
        "dep_id": run_id,
        "attempt": attempt,
        "sha": sha.lower(),
        "environment": _environment(body, run, rules, actions, name, path),
        # attempt 1 started at run_started_at; a later attempt's body only has the run's created_at
        "start_raw": (run.get("run_started_at") or run.get("created_at")) if attempt == 1 else run.get(
            "created_at"),
        "state": state,
        "at_raw": at_raw,
    }, None


def parse_runs(
    frame: pd.DataFrame, rules: DoraRules, actions: ActionsRules
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(deps, stats, reasons aligned with frame rows) from workflow_run Bronze rows."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    recs: list[dict] = []
    for i, body in enumerate(bodies):
        if body is None:
            continue
        rec, reasons[i] = _parse_row(body, rules, actions)
        if rec is not None:
            recs.append({**rec, "row": i})
    if not recs:
        deps, stats = empty_deployments()
        return deps, stats, reason_series(reasons, frame.index)
    r = pd.DataFrame(recs)
    r["start"], bad_start = parse_times(r["start_raw"])
    r["at"], bad_at = parse_times(r["at_raw"])
    for row in r.loc[bad_start, "row"]:
        reasons[row] = "workflow_run.run_started_at/created_at is not a valid timestamp"
    for row in r.loc[bad_at & ~bad_start, "row"]:
        reasons[row] = "workflow_run.updated_at is not a valid timestamp"
    r = r[~(bad_start | bad_at)].copy()
    if r.empty:
        deps, stats = empty_deployments()
        return deps, stats, reason_series(reasons, frame.index)
    r["received_at"] = received(frame).iloc[r["row"]].to_numpy()
    key = ["repo", "dep_id"]
    # created_at: the start known from the lowest attempt seen (see the module docstring).
    lowest = r.sort_values(["attempt", "start", "row"], kind="stable").drop_duplicates(key)
    first = r.sort_values(["received_at", "row"], kind="stable").drop_duplicates(key)
    deps = first.drop(columns=["start"]).merge(lowest[[*key, "start"]], on=key)
    deps = deps.assign(created_at=deps["start"], is_event=True)[DEP_COLUMNS]
    deps = deps.astype({"dep_id": "int64"}).sort_values("row", kind="stable").reset_index(drop=True)
    # The last attempt decides: only the statuses of each run's latest attempt seen are kept.
    last = r.groupby(key)["attempt"].transform("max")
    latest = r[r["attempt"] == last]
    stats = latest.assign(status_id=[
        stable_id(a, b, c, d, e) for a, b, c, d, e in
        zip(latest["repo"], latest["dep_id"], latest["attempt"], latest["state"], latest["at"], strict=True)
    ])
    stats = stats.drop(columns=["start"]).rename(columns={"at": "created_at"})[STAT_COLUMNS]
    stats = stats.astype({"dep_id": "int64", "status_id": "int64"})
    stats = stats.drop_duplicates(["repo", "status_id"]).reset_index(drop=True)
    return deps, stats, reason_series(reasons, frame.index)
