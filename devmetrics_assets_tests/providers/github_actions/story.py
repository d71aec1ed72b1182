"""One deployment history of `acme/shop`, told twice: as GitHub Deployments API events (provider `github`)
and as GitHub Actions workflow runs (provider `github_actions`), over the same GitHub pushes.

Payload shapes follow GitHub's documentation (not our generator):
- workflow_run: https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_run
- workflow_job: https://docs.github.com/en/webhooks/webhook-events-and-payloads#workflow_job
- deployment / deployment_status: https://docs.github.com/en/webhooks/webhook-events-and-payloads#deployment
- push: https://docs.github.com/en/webhooks/webhook-events-and-payloads#push

The story (times UTC; main-line commits a1..a4 pushed straight to main):
  a1 committed 03-03 07:00 (pushed 08:00); a2 09:00 (10:00); a3 12:00 (13:00); a4 03-04 08:00 (09:00).
  A  a1 prod   08:30 → success 08:40                          baseline release (ships a1)
  B  a2 prod   10:30 → failure 10:40, re-run 10:50 → success 11:00   ships a2 (lead 2 h)
  C  a3 prod   13:30 → success 13:40                          ships a3 (lead 1 h 40)
  D  a2 prod   14:00 → success 14:10                          ROLLBACK (a2 < running a3): undoes C,
                                                              C is a change failure recovered in 0.5 h
  F  a4 prod   03-04 09:30 → failure 09:40                     failed attempt
  G  a4 prod   03-04 10:00 → success 10:20                     ships a4 (lead 2 h 20)
  H  a4 staging (branch `staging`) 03-04 11:00 → success 11:05  not production
  and a `CI` workflow run on a4 (03-04 09:05 → 09:10) that deploys nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

REPO = "acme/shop"
DEPLOY_WORKFLOW = {"id": 161335, "name": "Deploy", "path": ".github/workflows/deploy.yml"}
CI_WORKFLOW = {"id": 161336, "name": "CI", "path": ".github/workflows/ci.yml"}
RULES = {"workflows": ["Deploy"], "production_branches": ["main"]}
# Rules as rules.yaml / a source's `rules:` declare them.
RULES_YAML = {"providers": {"github_actions": RULES}}


def t(day_time: str) -> str:
    """`"3 08:30"` → `"2025-03-03T08:30:00Z"` (every time of the story is in March 2025)."""
    day, time = day_time.split()
    return f"2025-03-0{day}T{time}:00Z"


def sha(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


COMMITS = {"a1": (t("3 07:00"), t("3 08:00")),
           "a2": (t("3 09:00"), t("3 10:00")),
           "a3": (t("3 12:00"), t("3 13:00")),
           "a4": (t("4 08:00"), t("4 09:00"))}


def repository() -> dict[str, Any]:
    return {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "shop", "full_name": REPO,
            "private": False, "owner": {"login": "acme", "id": 1, "type": "Organization"},
            "html_url": f"https://github.com/{REPO}", "default_branch": "main"}


SENDER = {"login": "octocat", "id": 1, "type": "User"}


def push_rows() -> list[tuple[str, dict, str]]:
    """(event_type, body, received_at) of the main-line pushes."""
    rows = []
    before = sha("root")
    for label, (committed, pushed) in COMMITS.items():
        commit = {"id": sha(label), "tree_id": sha(f"tree-{label}"), "distinct": True,
                  "message": f"work on {label}", "timestamp": committed,
                  "author": {"name": "Dev", "email": "dev@acme.test"},
                  "committer": {"name": "Dev", "email": "dev@acme.test"}}
        body = {"ref": "refs/heads/main", "before": before, "after": sha(label), "created": False,
                "deleted": False, "forced": False, "commits": [commit], "head_commit": commit,
                # a push's repository carries pushed_at as epoch seconds (the push documentation)
                "repository": {**repository(), "pushed_at": int(pd.Timestamp(pushed).timestamp())},
                "pusher": {"name": "dev"}, "sender": SENDER}
        rows.append(("push", body, pushed))
        before = sha(label)
    return rows


# (key, commit, branch, [(attempt, started, [(status, at)], conclusion, finished)])
# GitHub Deployments API ids and Actions run ids of the same deployment.
Attempt = tuple[int, str, str, str, str]  # attempt, run_started_at, in_progress at, conclusion, finished
DEPLOYS: list[tuple[str, str, str, list[Attempt]]] = [
    ("A", "a1", "main", [(1, t("3 08:30"), t("3 08:31"), "success", t("3 08:40"))]),
    ("B", "a2", "main", [(1, t("3 10:30"), t("3 10:31"), "failure", t("3 10:40")),
                         (2, t("3 10:50"), t("3 10:51"), "success", t("3 11:00"))]),
    ("C", "a3", "main", [(1, t("3 13:30"), t("3 13:31"), "success", t("3 13:40"))]),
    ("D", "a2", "main", [(1, t("3 14:00"), t("3 14:01"), "success", t("3 14:10"))]),
    ("F", "a4", "main", [(1, t("4 09:30"), t("4 09:31"), "failure", t("4 09:40"))]),
    ("G", "a4", "main", [(1, t("4 10:00"), t("4 10:01"), "success", t("4 10:20"))]),
    ("H", "a4", "staging", [(1, t("4 11:00"), t("4 11:01"), "success",
                             t("4 11:05"))]),
]
KEYS = [k for k, *_ in DEPLOYS]
GITHUB_ID = {k: 1000 + i for i, k in enumerate(KEYS)}
RUN_ID = {k: 30433642 + i for i, k in enumerate(KEYS)}


def deployment_id(key: str, provider: str) -> str:
    return f"{REPO}:{(GITHUB_ID if provider == 'github' else RUN_ID)[key]}"


# ---------------------------------------------------------------------------------- Deployments API
def _deployment(key: str, label: str, branch: str, created: str) -> dict[str, Any]:
    env = "production" if branch == "main" else f"ci/{branch}"
    return {"url": f"https://api.github.com/repos/{REPO}/deployments/{GITHUB_ID[key]}", "id": GITHUB_ID[key],
            "node_id": f"MDEwOkRlcGxveW1lbnQ{key}", "sha": sha(label), "ref": branch, "task": "deploy",
            "payload": {}, "original_environment": env, "environment": env, "description": None,
            "creator": SENDER, "created_at": created, "updated_at": created,
            "production_environment": env == "production", "transient_environment": False}


def github_deployment_rows() -> list[tuple[str, dict, str]]:
    """The story as `deployment` + `deployment_status` deliveries (per attempt: in_progress, outcome)."""
    rows = []
    status_id = 5000
    for key, label, branch, attempts in DEPLOYS:
        dep = _deployment(key, label, branch, attempts[0][1])
        rows.append(("deployment", {"action": "created", "deployment": dep, "repository": repository(),
                                    "sender": SENDER}, attempts[0][1]))
        for _, _, running, conclusion, finished in attempts:
            for state, at in (("in_progress", running), (conclusion, finished)):
                status_id += 1
                status = {"url": f"{dep['url']}/statuses/{status_id}", "id": status_id, "state": state,
                          "creator": SENDER, "description": "", "environment": dep["environment"],
                          "target_url": "", "created_at": at, "updated_at": at}
                rows.append(("deployment_status", {"action": "created", "deployment_status": status,
                                                   "deployment": dep, "repository": repository(),
                                                   "sender": SENDER}, at))
    return rows


# ---------------------------------------------------------------------------------- GitHub Actions
def workflow_run(run_id: int, workflow: dict, label: str, branch: str, *, attempt: int, created: str,
                 started: str, updated: str, status: str, conclusion: str | None) -> dict[str, Any]:
    """A `workflow_run` object as the webhook documents it (the REST API's run object is the same)."""
    base = f"https://api.github.com/repos/{REPO}/actions/runs/{run_id}"
    return {
        "id": run_id, "name": workflow["name"], "node_id": f"WFR_kwLOA{run_id}", "head_branch": branch,
        "head_sha": sha(label), "path": workflow["path"], "display_title": f"work on {label}",
        "run_number": run_id % 1000, "event": "push", "status": status, "conclusion": conclusion,
        "workflow_id": workflow["id"], "check_suite_id": run_id * 10, "check_suite_node_id": "CS_kwDO",
        "url": base, "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}", "pull_requests": [],
        "created_at": created, "updated_at": updated, "actor": SENDER, "run_attempt": attempt,
        "referenced_workflows": [], "run_started_at": started, "triggering_actor": SENDER,
        "jobs_url": f"{base}/jobs", "logs_url": f"{base}/logs", "check_suite_url": f"{base}/check-suite",
        "artifacts_url": f"{base}/artifacts", "cancel_url": f"{base}/cancel", "rerun_url": f"{base}/rerun",
        "previous_attempt_url": f"{base}/attempts/{attempt - 1}" if attempt > 1 else None,
        "workflow_url": f"https://api.github.com/repos/{REPO}/actions/workflows/{workflow['id']}",
        "head_commit": {"id": sha(label), "tree_id": sha(f"tree-{label}"), "message": f"work on {label}",
                        "timestamp": COMMITS[label][0], "author": {"name": "Dev", "email": "dev@acme.test"},
                        "committer": {"name": "Dev", "email": "dev@acme.test"}},
        "repository": {"id": 1296269, "name": "shop", "full_name": REPO, "owner": {"login": "acme"}},
        "head_repository": {"id": 1296269, "name": "shop", "full_name": REPO, "owner": {"login": "acme"}},
    }


def run_body(action: str, run: dict, workflow: dict) -> dict[str, Any]:
    return {"action": action, "workflow_run": run,
            "workflow": {**workflow, "node_id": "W_kwDOA", "state": "active",
                         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"},
            "repository": repository(), "sender": SENDER}


def job_body(run: dict, job_id: int, at: str) -> dict[str, Any]:
    return {"action": "completed", "workflow_job": {
        "id": job_id, "run_id": run["id"], "run_attempt": run["run_attempt"], "head_sha": run["head_sha"],
        "head_branch": run["head_branch"], "status": "completed", "conclusion": run["conclusion"],
        "created_at": run["run_started_at"], "started_at": run["run_started_at"], "completed_at": at,
        "name": "deploy", "steps": [], "labels": ["ubuntu-latest"], "workflow_name": run["name"],
        "runner_name": "GitHub Actions 2"}, "repository": repository(), "sender": SENDER}


def run_events(run_id: int, workflow: dict, label: str, branch: str,
               attempts: list[Attempt]) -> list[tuple[str, dict, str]]:
    """requested / in_progress / completed for every attempt (and the job's completion)."""
    created = attempts[0][1]
    rows = []
    for attempt, started, running, conclusion, finished in attempts:
        def run(status: str, updated: str, concl: str | None, a: int = attempt, s: str = started) -> dict:
            return workflow_run(run_id, workflow, label, branch, attempt=a, created=created, started=s,
                                updated=updated, status=status, conclusion=concl)
        rows.append(("workflow_run", run_body("requested", run("queued", started, None), workflow), started))
        rows.append(("workflow_run", run_body("in_progress", run("in_progress", running, None), workflow),
                     running))
        done = run("completed", finished, conclusion)
        rows.append(("workflow_job", job_body(done, run_id * 10 + attempt, finished), finished))
        rows.append(("workflow_run", run_body("completed", done, workflow), finished))
    return rows


def actions_rows() -> list[tuple[str, dict, str]]:
    rows = []
    for key, label, branch, attempts in DEPLOYS:
        rows += run_events(RUN_ID[key], DEPLOY_WORKFLOW, label, branch, attempts)
    rows += run_events(30433700, CI_WORKFLOW, "a4", "main",
                       [(1, t("4 09:05"), t("4 09:06"), "success", t("4 09:10"))])
    return rows
