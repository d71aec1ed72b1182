"""The mixed organisation's repo on the newer providers: GitHub code, GitHub Actions deployments, Jira and
Opsgenie incidents, and the facts its truth is computed from.

`acme-gh/storefront` pushes straight to main (GitHub `push` webhooks: its main line and direct changes)
and deploys from the `Deploy` workflow (`workflow_run` events on main: the deployments). Releases may
fail first (a new run), one failed run is re-run successfully (same run, attempt 2: a success), and a
later run may deploy an older sha (a rollback). A shipped commit may cause an incident, reported either
in Jira (an Incident issue with component `Storefront`: opened, `root cause: <sha>` comment, resolved by
moving to a status of category done, the first one reopened and resolved again) or in Opsgenie (a P1/P2
alert: Create, AddNote `root cause: <sha>`, Close; mapped by its team, one by `details.repo`). A CI run,
a Jira Bug and a P3 alert are planted too: none is a deployment or an incident by the rules.

Its own seeded `Random` and its own sha namespace: the other repos' events and bytes do not move.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from random import Random

from .mixed_landing import DAY, Landing
from .mixed_new_payloads import (
    CI_WORKFLOW,
    DEPLOY_WORKFLOW,
    GITHUB_ORG,
    github_commit,
    github_push,
    github_repository,
    jira_comment,
    jira_issue,
    jira_webhook,
    opsgenie_alert,
    workflow_run,
)
from .mixed_sim import MixedRepo
from .model import ChangeFact, DeploymentFact, IssueFact

STOREFRONT = f"{GITHUB_ORG}/storefront"
COMPONENT = "Storefront"
ONCALL_TEAM = "storefront-oncall"


def rules_fragment() -> dict:
    """The `providers:` rules the new providers need for this repo."""
    return {
        "github_actions": {"workflows": [DEPLOY_WORKFLOW["name"]], "production_branches": ["main"]},
        "jira": {"components": {COMPONENT: STOREFRONT}},
        "opsgenie": {"priorities": ["P1", "P2"], "team_repos": {ONCALL_TEAM: STOREFRONT}},
    }


class NewProvidersSim:
    """Emits what happens to the storefront repo and records the facts (see the module docstring)."""

    def __init__(self, landing: Landing, seed: int) -> None:
        self.out, self.seed = landing, seed
        self.rng = Random(seed * 7_727 + 2)
        self.repo = MixedRepo(STOREFRONT, "production")
        self.repository = github_repository(STOREFRONT, 88_000_001)
        self.plants: dict[str, list[str]] = defaultdict(list)
        self.sha_n = 0
        self.run_id = 7_100_000
        self.jira_id = 10_400
        self.tiny = 500
        self.day = 0

    def emit(self, source: str, event_type: str, body: dict, at: float, delivery_id: str | None = None
             ) -> str:
        return self.out.emit(source, event_type, body, at, delivery_id, rng=self.rng)

    def sha(self) -> str:
        self.sha_n += 1
        return hashlib.sha1(f"{self.seed}:{STOREFRONT}:{self.sha_n}".encode()).hexdigest()

    # ------------------------------------------------------------------ code
    def push(self, t: int) -> None:
        """Direct commits pushed to main at t (each a direct change)."""
        r = self.repo
        times = sorted(t - self.rng.randint(2, 40) * 60 for _ in range(self.rng.randint(1, 2)))
        commits = [github_commit(self.sha(), ts, f"storefront change {i}") for i, ts in enumerate(times)]
        before = r.mainline[-1] if r.mainline else "0" * 40
        self.emit("github_hooks", "push", github_push(self.repository, before, commits, t), t)
        for c, ts in zip(commits, times, strict=True):
            cid = f"{STOREFRONT}@{c['id']}"
            r.land([c["id"]], [cid])
            r.changes[cid] = ChangeFact(cid, "direct", None, c["id"], [c["id"]], ts, t)

    # ------------------------------------------------------------------ deployments
    def run(self, t: int, sha: str, conclusions: list[str], workflow: dict | None = None) -> tuple[int, int]:
        """One workflow run of `sha` started at t: one attempt per conclusion (a re-run after the first).
        Returns (run id, finish of the last attempt)."""
        self.run_id += 1
        run_id, created, start = self.run_id, t, t
        workflow = workflow or DEPLOY_WORKFLOW
        event = "push" if sha == self.repo.mainline[-1] else "workflow_dispatch"
        for attempt, conclusion in enumerate(conclusions, start=1):
            end = start + self.rng.randint(4, 12) * 60
            for action, at in (("requested", start), ("in_progress", start + 20), ("completed", end)):
                body = workflow_run(self.repository, workflow, run_id, sha, action=action, attempt=attempt,
                                    created=created, started=start, updated=at, event=event,
                                    conclusion=conclusion if action == "completed" else None)
                self.emit("github_actions", "workflow_run", body, at)
            start = end + self.rng.randint(3, 10) * 60
        return run_id, end

    def deploy(self, t: int, sha: str, conclusions: list[str]) -> DeploymentFact:
        """A production deployment: its last attempt's conclusion decides (a re-run replaces a failure)."""
        run_id, end = self.run(t, sha, conclusions)
        final = {"success": "success", "failure": "failure"}[conclusions[-1]]
        fact = DeploymentFact(f"{STOREFRONT}:{run_id}", run_id, "production", sha, "main", t,
                              statuses=[("in_progress", t + 20), (final, end)])
        self.repo.deployments.append(fact)
        if final == "success":
            self.repo.successes.append(fact)
        return fact

    def release(self, t: int) -> int:
        """Deploy the head (after failed runs, or through a re-run); maybe an incident or a rollback."""
        r, rng = self.repo, self.rng
        sha = r.mainline[-1]
        while rng.random() < 0.18:
            t = self.deploy(t, sha, ["failure"]).finished_at + 300
        rerun = not self.plants["rerun"] and self.day >= 2 or rng.random() < 0.1
        prev_pos = max((r.mainline_pos[d.sha] for d in r.successes), default=-1)
        ok = self.deploy(t, sha, ["failure", "success"] if rerun else ["success"])
        if rerun:
            self.plants["rerun"].append(ok.deployment_id)
        t = ok.finished_at + 600
        fresh = r.mainline[prev_pos + 1 : r.mainline_pos[sha] + 1]
        caused = bool(fresh) and prev_pos >= 0 and rng.random() < 0.4
        if caused:
            cause = rng.choice(fresh)
            opened = t + rng.randint(10, 60) * 60
            if rng.random() < 0.5:
                self.jira_incident(opened, cause)
            else:
                self.opsgenie_incident(opened, cause)
        # As in mixed_sim: no rollback of a release that caused an incident (it would be its recovery).
        force = not r.planned_rollbacks and self.day >= 6
        if not caused and len(r.successes) >= 2 and (force or rng.random() < 0.18):
            a, b = r.successes[-2], r.successes[-1]
            if r.mainline_pos[a.sha] < r.mainline_pos[b.sha] and b.deployment_id not in r.planned_rollbacks:
                back = self.deploy(t + rng.randint(20, 60) * 60, a.sha, ["success"])
                r.planned_rollbacks.append(back.deployment_id)
                self.plants["rollback"].append(back.deployment_id)
                t = back.finished_at + 600
        return t

    # ------------------------------------------------------------------ incidents
    def _timeline(self, t: int, may_reopen: bool) -> tuple[list[int], list[int]]:
        closes: list[int] = []
        reopens: list[int] = []
        if t + 9 * 3600 < self.out.end_ts - DAY and self.rng.random() < 0.8:
            closes.append(t + self.rng.randint(60, 300) * 60)
            if may_reopen and (not self.plants["jira_reopened"] or self.rng.random() < 0.3):
                reopens.append(closes[0] + 1800)
                closes.append(reopens[0] + self.rng.randint(30, 120) * 60)
        return closes, reopens

    def _fact(self, number: int, t: int, raw: str, closes: list[int], reopens: list[int], provider: str
              ) -> None:
        self.repo.issues[number] = IssueFact(
            f"{STOREFRONT}#{provider}-{number}", number, f"Incident {number}", t, ["incident"],
            state="closed" if closes else "open", closes=closes, reopens=reopens,
            root_cause_mentions=[(t + 600, raw, "comment")], provider=provider,
        )

    def jira_incident(self, t: int, cause: str) -> None:
        self.jira_id += 1
        issue_id, raw = self.jira_id, cause[: self.rng.choice((7, 8, 12, 40))]
        closes, reopens = self._timeline(t, may_reopen=True)
        if reopens:
            self.plants["jira_reopened"].append(str(issue_id))
        note = jira_comment(issue_id * 10 + 1, f"Bisected it.\nroot cause: {raw}", t + 600)

        def send(event: str, at: int, status: str, resolved: int | None = None, comment: dict | None = None):
            issue = jira_issue(issue_id, t, at, status, COMPONENT, resolved=resolved,
                               comments=[note] if at >= t + 600 else [])
            self.emit("jira", event, jira_webhook(event, at, issue, comment), at)

        send("jira:issue_created", t, "To Do")
        send("jira:issue_updated", t + 600, "To Do", comment=note)
        for i, c in enumerate(closes):
            send("jira:issue_updated", c, "Done", resolved=c)
            if i < len(reopens):
                send("jira:issue_updated", reopens[i], "Reopened")
        self._fact(issue_id, t, raw, closes, reopens, "jira")

    def opsgenie_incident(self, t: int, cause: str) -> None:
        self.tiny += 1
        tiny, raw = self.tiny, cause[: self.rng.choice((7, 10, 40))]
        closes, _ = self._timeline(t, may_reopen=False)
        # The first alert names its repo in details (its team maps to no repo); the others by team.
        by_details = not self.plants["opsgenie_details"]
        if by_details:
            self.plants["opsgenie_details"].append(str(tiny))
        self.alert(tiny, t, self.rng.choice(("P1", "P2")), ["sre"] if by_details else [ONCALL_TEAM],
                   {"repo": STOREFRONT} if by_details else None, raw, closes)
        self._fact(tiny, t, raw, closes, [], "opsgenie")

    def alert(self, tiny: int, t: int, priority: str, teams: list[str], details: dict | None,
              raw: str | None, closes: list[int]) -> None:
        alert_id = hashlib.sha1(f"{self.seed}:alert:{tiny}".encode()).hexdigest()[:8] + f"-{tiny:04d}"
        steps = [("Create", t, None), ("Acknowledge", t + 300, None)]
        if raw is not None:
            steps.append(("AddNote", t + 600, f"Rolled forward.\nroot cause: {raw}"))
        steps += [("Close", c, None) for c in closes]
        for action, at, note in steps:
            body = opsgenie_alert(action, alert_id, tiny, t, at, priority=priority, teams=teams,
                                  details=details, note=note)
            self.emit("opsgenie", action, body, at, f"opsgenie:{alert_id}:{action}:{at * 1_000_000_000}")

    def not_incidents(self, t: int) -> None:
        """A CI run, a Jira Bug and a P3 alert: stored in Bronze, neither deployments nor incidents."""
        self.run(t, self.repo.mainline[-1], ["success"], CI_WORKFLOW)
        self.jira_id += 1
        bug = jira_issue(self.jira_id, t, t, "To Do", COMPONENT, issue_type="Bug")
        self.emit("jira", "jira:issue_created", jira_webhook("jira:issue_created", t, bug), t)
        self.tiny += 1
        self.alert(self.tiny, t + 60, "P3", [ONCALL_TEAM], None, None, [t + 3600])
        self.plants["not_incidents"] += [f"run:{self.run_id}", f"jira:{self.jira_id}",
                                         f"opsgenie:{self.tiny}"]

    # ------------------------------------------------------------------ the days
    def simulate(self, start_ts: int, days: int) -> None:
        for d in range(days - 2):  # the last two days stay quiet, like mixed_sim
            self.day = d
            t = start_ts + d * DAY + 9 * 3600 + self.rng.randint(0, 90) * 60
            for _ in range(self.rng.randint(1, 3)):
                t += self.rng.randint(20, 60) * 60
                self.push(t)
            if d == 1:
                self.not_incidents(t + 600)
                t += 2 * 3600
            if self.rng.random() < 0.85:
                self.release(t + 1200)
