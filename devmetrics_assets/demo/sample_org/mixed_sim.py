"""What happens to the mixed organisation's three repos, day by day, and the facts its truth is computed from.

`Sim` decides every event from one seeded `Random` (merge requests, direct pushes, releases with failed,
canceled and rolled-back attempts, incidents caused by a shipped commit), emits each provider's body
(mixed_payloads) through the landing writer (mixed_landing), and records the same events as facts
(`MixedRepo`) for `truth.org_truth`, never reading back what it wrote. The order of random draws is part
of the output: the same seed gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from random import Random
from typing import Any

from devmetrics_assets.transforms.normalised import id_number

from .mixed_landing import DAY, Landing
from .mixed_payloads import (
    generic_deployment,
    generic_incident,
    gitlab_commit,
    gitlab_deployment,
    gitlab_issue,
    gitlab_merge_request,
    gitlab_note,
    gitlab_project,
    gitlab_push,
    iso,
    pagerduty_incident,
    pagerduty_note,
    pagerduty_unmapped_incident,
)
from .model import ChangeFact, DeploymentFact, IssueFact
from .reviews import plant_gitlab_reviews

BILLING, LEDGER, SEARCH = "acme-gitlab/billing", "acme-gitlab/ledger", "acme-ext/search"
SERVICES = {BILLING: "Billing Service", LEDGER: "Ledger Service", SEARCH: "Search Service"}
_STATUS_WORDS = {"success": "success", "failure": "failed", "inactive": "canceled"}


@dataclass
class MixedRepo:
    """The facts `truth.org_truth` reads (duck-types sample_org.model.RepoModel) plus simulation state."""

    full_name: str
    prod_env: str
    mainline: list[str] = field(default_factory=list)
    mainline_pos: dict[str, int] = field(default_factory=dict)
    commit_change: dict[str, str] = field(default_factory=dict)
    changes: dict[str, ChangeFact] = field(default_factory=dict)
    deployments: list[DeploymentFact] = field(default_factory=list)
    issues: dict[int, IssueFact] = field(default_factory=dict)
    planned_rollbacks: list[str] = field(default_factory=list)
    successes: list[DeploymentFact] = field(default_factory=list)
    pending: list[tuple[str, int]] = field(default_factory=list)  # search: commits not yet listed
    next_iid: int = 1
    next_mr: int = 1
    next_dep: int = 1

    def land(self, shas: list[str], change_ids: list[str]) -> None:
        for sha, cid in zip(shas, change_ids, strict=True):
            if sha not in self.mainline_pos:
                self.mainline_pos[sha] = len(self.mainline)
                self.mainline.append(sha)
                self.commit_change[sha] = cid


class Sim:
    """Emits what happens to the three repos and records the facts the truth is computed from."""

    def __init__(self, landing: Landing, rng: Random, seed: int) -> None:
        self.out, self.rng, self.seed = landing, rng, seed
        self.repos = {
            BILLING: MixedRepo(BILLING, "production"),
            LEDGER: MixedRepo(LEDGER, "prod"),
            SEARCH: MixedRepo(SEARCH, "production"),
        }
        self.pd_number = 7000
        self.sha_n = 0
        self.plants: dict[str, list[str]] = defaultdict(list)

    def sha(self, repo: str) -> str:
        self.sha_n += 1
        return hashlib.sha1(f"{self.seed}:{repo}:{self.sha_n}".encode()).hexdigest()

    # ------------------------------------------------------------------ GitLab code
    def project(self, repo: str) -> dict[str, Any]:
        return gitlab_project(repo, 40 + list(self.repos).index(repo))

    def push(
        self, repo: str, branch: str, before: str, commits: list[dict], at: float, late_s: float = 0
    ) -> None:
        body = gitlab_push(self.project(repo), branch, before, commits)
        self.out.emit("gitlab", "Push Hook", body, at, late_s=late_s)

    def head(self, repo: str) -> str:
        r = self.repos[repo]
        return r.mainline[-1] if r.mainline else "0" * 40

    def merge_request(self, repo: str, t: float, fixes: tuple[int, ...] = ()) -> float:
        r, rng = self.repos[repo], self.rng
        iid, branch = r.next_mr, f"feature-{r.next_mr}"
        r.next_mr += 1
        method = rng.choice(("merge", "squash", "squash_merge", "rebase"))
        k = rng.randint(1, 3)
        times = sorted(t - rng.randint(20, 600) * 60 for _ in range(k))
        feature = [
            gitlab_commit(repo, self.sha(repo), ts, f"work {i} on {branch}") for i, ts in enumerate(times)
        ]
        self.push(repo, branch, "0" * 40, feature, t)
        title = f"Change {iid}" + (" (hotfix)" if fixes else "")
        description = " ".join(f"Closes #{n}" for n in fixes) or "Routine change."

        def mr_body(action: str, state: str, at: float, last: str, *shas: str | None) -> dict[str, Any]:
            attrs = (iid, action, state, at, t + 60, branch, title, description, last, *shas)
            return gitlab_merge_request(self.project(repo), *attrs)

        opened = mr_body("open", "opened", t + 60, feature[-1]["id"])
        self.out.emit("gitlab", "Merge Request Hook", opened, t + 60)
        merged = t + rng.randint(20, 90) * 60  # reviews: their own Random, between opening and merge
        reviewed = plant_gitlab_reviews(self.out, self.project(repo), iid, title, t + 60, merged, self.seed,
                                        lambda at: mr_body("approval", "opened", at, feature[-1]["id"]))
        merge_sha = squash_sha = None
        if method == "merge":
            main = [
                *feature,
                gitlab_commit(
                    repo,
                    self.sha(repo),
                    merged,
                    f"Merge branch '{branch}' into 'main'\n\nSee merge request {repo}!{iid}",
                ),
            ]
            merge_sha = main[-1]["id"]
        elif method in ("squash", "squash_merge"):
            main = [gitlab_commit(repo, self.sha(repo), merged, title)]
            squash_sha = main[0]["id"]
            if method == "squash_merge":
                main.append(
                    gitlab_commit(repo, self.sha(repo), merged, f"Merge branch '{branch}' into 'main'")
                )
                merge_sha = main[-1]["id"]
        else:  # fast-forward after a rebase: new shas, the source branch is force-pushed first
            main = [
                gitlab_commit(repo, self.sha(repo), ts, c["message"])
                for ts, c in zip(times, feature, strict=True)
            ]
            self.push(repo, branch, feature[-1]["id"], main, merged - 30)
        self.push(repo, "main", self.head(repo), main, merged + 2)
        last = main[-1]["id"] if method == "rebase" else feature[-1]["id"]
        self.out.emit("gitlab", "Merge Request Hook", mr_body("merge", "merged", merged, last, merge_sha,
                                                              squash_sha), merged)
        cid = f"{repo}#{iid}"
        shas = [c["id"] for c in main]
        r.land(shas, [cid] * len(shas))
        r.changes[cid] = ChangeFact(cid, method.split("_")[0], iid, shas[-1], shas, int(min(times)),
                                    int(merged), fixes, opened_at=int(t + 60), first_review_at=reviewed,
                                    merged_at=int(merged))
        return merged + 120

    def direct_push(self, repo: str, t: float, late: bool = False) -> float:
        r = self.repos[repo]
        times = sorted(t - self.rng.randint(2, 40) * 60 for _ in range(self.rng.randint(1, 2)))
        commits = [
            gitlab_commit(repo, self.sha(repo), ts, f"direct change {i}") for i, ts in enumerate(times)
        ]
        self.push(repo, "main", self.head(repo), commits, t, late_s=DAY + 3600 if late else 0)
        if late:
            self.plants["late_push"].append(commits[-1]["id"])
        for c, ts in zip(commits, times, strict=True):
            cid = f"{repo}@{c['id']}"
            r.land([c["id"]], [cid])
            r.changes[cid] = ChangeFact(cid, "direct", None, c["id"], [c["id"]], int(ts), int(t))
        return t + 300

    # ------------------------------------------------------------------ deployments
    def dep_id(self, repo: str, n: int) -> int:
        return n + 300 if repo == BILLING else id_number(f"ledger-{n}") if repo == LEDGER else n

    def deploy(
        self,
        repo: str,
        t: float,
        sha: str,
        final: str,
        *,
        env: str | None = None,
        changes: list[dict] | None = None,
        duration: float | None = None,
    ) -> DeploymentFact:
        """One deployment attempt: in progress at t, `final` (success|failure|inactive) at its end."""
        r = self.repos[repo]
        n, env = r.next_dep, env or r.prod_env
        r.next_dep += 1
        num = self.dep_id(repo, n)
        end = t + (duration or self.rng.randint(3, 12) * 60)
        fact = DeploymentFact(
            f"{repo}:{num}",
            num,
            env,
            sha,
            "main",
            int(t),
            statuses=[("in_progress", int(t)), (final, int(end))],
        )
        if repo == BILLING:
            for status, at in (("running", t), (_STATUS_WORDS[final], end)):
                body = gitlab_deployment(self.project(repo), num, status, at, env, sha)
                self.out.emit("gitlab", "Deployment Hook", body, at)
                if status == "success" and not self.plants["api_status"]:
                    self.plants["api_status"].append(fact.deployment_id)
                    self.out.emit(
                        "gitlab", "Deployment Hook", body, at + 600, f"api:gitlab:deployment:{num}:success"
                    )
        else:
            ident = f"ledger-{n}" if repo == LEDGER else n
            target = {"repo": repo} if repo == LEDGER else {"service": SERVICES[repo]}
            for status, at in (("running", t), (_STATUS_WORDS[final], end)):
                body = generic_deployment(ident, env, sha, status, t, at, end, target, changes)
                self.out.emit(
                    "generic", "deployment", body, at, f"generic:deployment:{ident}:{status}:{iso(at)}"
                )
        r.deployments.append(fact)
        if final == "success" and env == r.prod_env:
            r.successes.append(fact)
        return fact

    def release(self, repo: str, t: float) -> float:
        """Deploy the head to production (maybe after a failed or canceled attempt); maybe roll back and
        maybe open an incident caused by a commit it shipped. Returns the next free time."""
        r, rng = self.repos[repo], self.rng
        changes = None
        if repo == SEARCH:
            if not r.pending and not r.mainline:
                return t
            listed = [{"sha": s, "timestamp": iso(ts), "message": "change"} for s, ts in r.pending]
            for s, ts in r.pending:
                r.land([s], [f"{repo}@{s}"])
                r.changes[f"{repo}@{s}"] = ChangeFact(f"{repo}@{s}", "direct", None, s, [s], ts, int(t))
            r.pending.clear()
            changes = listed or None
        sha = r.mainline[-1]
        if repo == BILLING and rng.random() < 0.3:
            t = self.deploy(repo, t, sha, "success", env="staging").statuses[-1][1] + 120
        while (roll := rng.random()) < 0.22:
            t = (
                self.deploy(repo, t, sha, "failure" if roll < 0.15 else "inactive", changes=changes).statuses[
                    -1
                ][1]
                + 300
            )
        prev_pos = max((r.mainline_pos[d.sha] for d in r.successes), default=-1)
        ok = self.deploy(repo, t, sha, "success", changes=changes)
        t = ok.statuses[-1][1] + 600
        fresh = r.mainline[prev_pos + 1 : r.mainline_pos[sha] + 1]
        caused = bool(fresh) and rng.random() < 0.35
        if caused:
            self.incident(repo, t + rng.randint(10, 60) * 60, rng.choice(fresh))
        # No rollback of a deployment that caused an incident (that rollback would be the incident's
        # recovery; the plain rollbacks below are rollback-only failures).
        if not caused and len(r.successes) >= 2 and rng.random() < 0.18:
            a, b = r.successes[-2], r.successes[-1]
            if r.mainline_pos[a.sha] < r.mainline_pos[b.sha] and b.deployment_id not in r.planned_rollbacks:
                back = self.deploy(repo, t + rng.randint(20, 60) * 60, a.sha, "success")
                r.planned_rollbacks.append(back.deployment_id)
                t = back.statuses[-1][1] + 600
        return t

    # ------------------------------------------------------------------ incidents
    def incident(self, repo: str, t: float, cause: str) -> None:
        r, rng = self.repos[repo], self.rng
        closes, reopens = [], []
        if t + 9 * 3600 < self.out.end_ts - DAY and rng.random() < 0.8:
            closes.append(t + rng.randint(60, 300) * 60)
            # every repo reopens its first closed incident, then about one in three
            if rng.random() < 0.3 or not any(i.reopens for i in r.issues.values()):
                reopens.append(closes[0] + 1800)
                closes.append(reopens[0] + rng.randint(30, 120) * 60)
        raw = cause[: rng.choice((7, 8, 10, 40))]
        if repo == BILLING:
            number = r.next_iid
            r.next_iid += 1
            self.gitlab_incident(repo, number, t, raw, closes, reopens)
            if rng.random() < 0.5:
                self.hotfixes.append(number)
        elif repo == LEDGER:
            self.pd_number += 1
            number = self.pd_number
            self.pagerduty_incident(number, t, raw, closes, reopens, custom=rng.random() < 0.4)
        else:
            number = id_number(f"SRCH-{len(r.issues) + 1}")
            self.generic_incident(f"SRCH-{len(r.issues) + 1}", t, raw, closes, reopens)
        r.issues[number] = IssueFact(
            f"{repo}#{number}",
            number,
            f"Incident {number}",
            int(t),
            ["incident"],
            state="closed" if closes else "open",
            closes=[int(c) for c in closes],
            reopens=[int(x) for x in reopens],
            root_cause_mentions=[(int(t + 600), raw, "comment")],
            provider={BILLING: "gitlab", LEDGER: "pagerduty"}.get(repo, "generic"),
        )

    def gitlab_incident(
        self, repo: str, iid: int, t: float, raw: str, closes: list[float], reopens: list[float]
    ) -> None:
        typed = self.rng.random() < 0.5

        def issue(action: str, state: str, at: float, closed: float | None = None) -> dict[str, Any]:
            labels = [] if typed else [{"id": 1, "title": self.rng.choice(("incident", "Incident"))}]
            return gitlab_issue(self.project(repo), iid, t, typed, labels, action, state, at, closed)

        self.out.emit("gitlab", "Issue Hook", issue("open", "opened", t), t)
        note = gitlab_note(self.project(repo), iid, t, raw, typed, issue("open", "opened", t)["labels"])
        self.out.emit("gitlab", "Note Hook", note, t + 600)
        for i, c in enumerate(closes):
            body = issue("close", "closed", c, c)
            uuid = self.out.emit("gitlab", "Issue Hook", body, c)
            if not self.plants["redelivery"]:
                self.plants["redelivery"].append(uuid)
                self.out.emit("gitlab", "Issue Hook", body, c + 900, uuid)
            if i < len(reopens):
                self.out.emit("gitlab", "Issue Hook", issue("reopen", "opened", reopens[i]), reopens[i])

    def pagerduty_incident(
        self, number: int, t: float, raw: str, closes: list[float], reopens: list[float], *, custom: bool
    ) -> None:
        pd_id = f"Q{number}PD"
        service = "Shared Platform" if custom else SERVICES[LEDGER]
        fields = [{"name": "repo", "value": LEDGER}, {"name": "root_cause", "value": raw}] if custom else None

        def event(kind: str, at: float, status: str, event_id: str | None = None) -> dict[str, Any]:
            return pagerduty_incident(pd_id, number, t, kind, at, status, service, fields, event_id)

        trigger = event("triggered", t, "triggered")
        self.out.emit("pagerduty", "incident.triggered", trigger, t, f"{pd_id}-t")
        if not self.plants["api_incident"]:  # the plant: an API-pull copy of the same trigger
            self.plants["api_incident"].append(pd_id)
            api_id = f"api:pagerduty:incident:{pd_id}:triggered:{iso(t)}"
            self.out.emit("pagerduty", "incident.triggered", trigger, t + 900, api_id)
        self.out.emit(
            "pagerduty", "incident.acknowledged", event("acknowledged", t + 300, "acknowledged"), t + 300
        )
        if not custom:
            self.out.emit(
                "pagerduty", "incident.annotated", pagerduty_note(pd_id, number, t + 600, raw), t + 600
            )
        for i, c in enumerate(closes):
            self.out.emit("pagerduty", "incident.resolved", event("resolved", c, "resolved"), c)
            if i < len(reopens):
                self.out.emit(
                    "pagerduty", "incident.reopened", event("reopened", reopens[i], "triggered"), reopens[i]
                )

    def generic_incident(
        self, ident: str, t: float, raw: str, closes: list[float], reopens: list[float]
    ) -> None:
        timeline = [("triggered", t, None)]
        for i, c in enumerate(closes):
            timeline.append(("resolved", c, c))
            if i < len(reopens):
                timeline.append(("open", reopens[i], None))
        for status, at, resolved in timeline:
            body = generic_incident(ident, SERVICES[SEARCH], t, raw, status, at, resolved)
            self.out.emit("generic", "incident", body, at, f"generic:incident:{ident}:{status}:{iso(at)}")

    # ------------------------------------------------------------------ the days
    hotfixes: list[int]

    def run(self, start_ts: int, days: int) -> None:
        self.hotfixes = []
        for d in range(days - 2):  # the last two days stay quiet: late deliveries still fit the range
            day0 = start_ts + d * DAY
            for repo in self.repos:
                t = day0 + 8 * 3600 + self.rng.randint(0, 90) * 60
                if repo == SEARCH:
                    for _ in range(self.rng.randint(1, 3)):
                        t += self.rng.randint(10, 60) * 60
                        self.repos[repo].pending.append((self.sha(repo), int(t)))
                    t += 1800
                else:
                    for _ in range(self.rng.randint(1, 3)):
                        if self.rng.random() < 0.6:
                            fixes = (self.hotfixes.pop(0),) if repo == BILLING and self.hotfixes else ()
                            t = self.merge_request(repo, t + 1800, fixes)
                        else:
                            t = self.direct_push(repo, t + 900, late=(repo == LEDGER and d == 2))
                if repo == BILLING and d == 4:  # a deployment that crosses midnight
                    self.deploy(
                        repo, day0 + DAY - 240, self.repos[repo].mainline[-1], "success", duration=540
                    )
                elif self.rng.random() < 0.85:
                    self.release(repo, t + 1200)
        self.unmapped_pagerduty(start_ts + 3 * DAY + 12 * 3600)

    def unmapped_pagerduty(self, t: float) -> None:
        self.out.emit("pagerduty", "incident.triggered", pagerduty_unmapped_incident(t), t, "Q9999PD-t")
