"""GitHub deliveries that matter NOW, as Notifications (alerting/api.py), judged in the order they are stored.

- Failed production deployment: a `deployment_status` with state failure|error whose environment is
  production per `DoraRules` (status environment, else the deployment's). One problem per deployment
  (`realtime:deployment_failed:<repo>:<id>`), so a failure followed by an error status alerts once; the
  next successful production deployment of the repo sends the recovery.
- Incident opened or reopened: an `issues` delivery `opened` / `reopened` carrying an incident label,
  or `labeled` with an incident label while open. One problem per incident
  (`realtime:incident:<repo>#<n>`); `closed` sends the recovery, so a reopen alerts again.
- Rollback (same rule as silver_deployments / contracts §5): a SUCCESSFUL production deployment whose
  sha is strictly older on the main line than the sha of the repo's previous successful production
  deployment with a known sha. Detected cheaply and incrementally: default-branch pushes maintain a
  per-repo index sha -> (repository.pushed_at, position in the push) in the watcher's state, and the
  last deployed sha per repo is kept there too, so a check is two primary-key lookups. Unknown shas
  (not seen on the main line) are never called rollbacks, like Silver's `changes_known = false`.

A late delivery is judged when it arrives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devmetrics_assets.alerting.api import Notification
from devmetrics_assets.config import DoraRules
from devmetrics_assets.realtime.delivery import Delivery, utc
from devmetrics_assets.realtime.state import WatcherState

GROUP = "realtime"
FAILED_STATES = ("failure", "error")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


class GitHubClassifier:
    """Turns deliveries into notifications, keeping the rollback index in `state` (uncommitted)."""

    def __init__(self, rules: DoraRules, state: WatcherState) -> None:
        self.rules = rules
        self.state = state

    def classify(self, d: Delivery, *, quiet: bool = False) -> list[Notification]:
        """Notifications for one delivery; `quiet` only updates the rollback index (bootstrap from
        history: nothing is alerted and no problem is opened)."""
        if d.event_type == "push":
            self._push(d)
            return []
        if d.event_type == "deployment_status":
            return self._deployment_status(d, quiet)
        if d.event_type == "issues" and not quiet:
            return self._issue(d)
        return []

    # ---- main line ---------------------------------------------------------------------------
    def _push(self, d: Delivery) -> None:
        b = d.body
        repo, default = _get(b, "repository", "full_name"), _get(b, "repository", "default_branch") or "main"
        pushed = _get(b, "repository", "pushed_at")
        if not repo or b.get("ref") != f"refs/heads/{default}" or b.get("deleted"):
            return
        try:
            pushed_at = int(pushed)
        except (TypeError, ValueError):
            return
        commits = b.get("commits") or []
        shas = [c["id"] for c in commits if isinstance(c, dict) and isinstance(c.get("id"), str)]
        self.state.add_mainline(repo, pushed_at, shas)

    # ---- deployments -------------------------------------------------------------------------
    def _deployment_status(self, d: Delivery, quiet: bool = False) -> list[Notification]:
        b = d.body
        repo = _get(b, "repository", "full_name")
        dep, status = b.get("deployment") or {}, b.get("deployment_status") or {}
        env = status.get("environment") or dep.get("environment")
        state = str(status.get("state") or "").lower()
        if not repo or not isinstance(dep, dict) or not self.rules.is_production(env):
            return []
        dep_key = f"{repo}:{dep.get('id')}"
        sha = str(dep.get("sha") or "")
        details = self._details(d, repo, environment=env, deployment_id=dep_key, sha=sha, state=state,
                                target_url=status.get("target_url"))
        occurred = utc(status.get("created_at")) or d.received_at
        if quiet:
            if state == "success":
                self._track_deployed(repo, sha, dep_key)
            return []
        if state in FAILED_STATES:
            key = f"realtime:deployment_failed:{dep_key}"
            if self.state.problem_open(key):
                return []
            self.state.set_problem(key, "deployment_failed", repo, True)
            return [self._note(key, "deployment_failed", "error", repo, occurred, details,
                               f"Production deployment failed: {repo} ({env}, {sha[:7]})",
                               f"Deployment {dep_key} of {sha[:12]} to {env} ended '{state}'.",
                               "silver_deployments")]
        if state != "success":
            return []
        out = []
        for key in self.state.open_problems(repo, "deployment_failed"):
            self.state.set_problem(key, "deployment_failed", repo, False)
            out.append(self._note(key, "recovered", "info", repo, occurred, details,
                                  f"Production deployments of {repo} succeed again",
                                  f"Deployment {dep_key} of {sha[:12]} to {env} succeeded.",
                                  "silver_deployments", recovery=True))
        rollback = self._track_deployed(repo, sha, dep_key)
        if rollback is not None:
            full, (old_sha, _, old_dep) = rollback
            key = f"realtime:rollback:{dep_key}"
            details = {**details, "rolled_back_from_sha": old_sha, "rolled_back_from": old_dep}
            out.append(self._note(key, "rollback", "warning", repo, occurred, details,
                                  f"Rollback in production: {repo} back to {full[:7]}",
                                  f"Deployment {dep_key} put {full[:12]} in {env}, older on the main line "
                                  f"than {old_sha[:12]} deployed by {old_dep}.", "silver_deployments"))
        return out

    def _track_deployed(self, repo: str, sha: str, dep_key: str) -> tuple[str, tuple] | None:
        """Record a successful production deployment; (full sha, previous) when it is a rollback."""
        resolved = self.state.ordinal(repo, sha) if sha else None
        if resolved is None:
            return None  # unknown sha: never a rollback, and not a baseline (like Silver)
        full, ordinal = resolved
        current = self.state.deployed(repo)
        self.state.set_deployed(repo, full, ordinal, dep_key)
        if current is not None and ordinal < current[1]:
            return full, current
        return None

    # ---- incidents ---------------------------------------------------------------------------
    def _issue(self, d: Delivery) -> list[Notification]:
        b = d.body
        repo, issue, action = _get(b, "repository", "full_name"), b.get("issue") or {}, b.get("action")
        if not repo or not isinstance(issue, dict) or issue.get("number") is None:
            return []
        labels = [_get(x, "name") for x in issue.get("labels") or []]
        incident = any(self.rules.is_incident_label(x) for x in labels)
        key = f"realtime:incident:{repo}#{issue['number']}"
        title = str(issue.get("title") or "")
        details = self._details(d, repo, incident_id=f"{repo}#{issue['number']}", action=action,
                                url=issue.get("html_url"))
        occurred = utc(issue.get("updated_at")) or d.received_at
        opening = (action in ("opened", "reopened") and incident) or (
            action == "labeled" and self.rules.is_incident_label(_get(b, "label", "name"))
            and issue.get("state", "open") == "open")
        if opening:
            if self.state.problem_open(key):
                return []
            self.state.set_problem(key, "incident", repo, True)
            kind = "incident_reopened" if action == "reopened" else "incident_opened"
            verb = "reopened" if action == "reopened" else "opened"
            return [self._note(key, kind, "critical", repo, occurred, details,
                               f"Incident {verb}: {repo}#{issue['number']} {title}".strip(),
                               f"{repo}#{issue['number']} ({', '.join(str(x) for x in labels)}) was {verb}.",
                               "silver_incidents")]
        if action == "closed" and self.state.problem_open(key):
            self.state.set_problem(key, "incident", repo, False)
            return [self._note(key, "incident_resolved", "info", repo, occurred, details,
                               f"Incident resolved: {repo}#{issue['number']} {title}".strip(),
                               f"{repo}#{issue['number']} was closed.", "silver_incidents", recovery=True)]
        return []

    # ---- helpers -----------------------------------------------------------------------------
    def _details(self, d: Delivery, repo: str, **extra: Any) -> dict[str, Any]:
        return {"repo": repo, "source": d.source, "delivery_id": d.delivery_id, "event_type": d.event_type,
                "event_day": d.event_day.isoformat(), "received_at": d.received_at.isoformat(),
                **{k: v for k, v in extra.items() if v is not None}}

    def _note(self, key: str, kind: str, severity: str, repo: str, occurred: datetime, details: dict,
              title: str, body: str, asset: str, *, recovery: bool = False) -> Notification:
        return Notification(problem_key=key, kind=kind, severity=severity, title=title, body=body,
                            occurred_at=occurred, asset_key=asset, group=GROUP,
                            owners=(f"team:{self.rules.team_of(repo)}",), recovery=recovery, details=details)
