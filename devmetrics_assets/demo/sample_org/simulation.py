"""Per-repository simulation primitives: pushes, pull requests and deployments.

Each primitive advances the repo's clock, emits the deliveries GitHub would send, and records the
resulting facts in the `RepoModel` only for what was emitted. Scenarios (`scenarios.py`) compose
these primitives; nothing here decides *when* a scenario happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random

from . import payloads as pl
from .catalog import DEPLOY_BOT, DIRECT_MESSAGES, OBJECTS, ORG, PEOPLE, VERBS, ZERO_SHA, Person
from .model import ChangeFact, DeploymentFact, RepoModel
from .outbox import Counters, SimContext
from .reviews import plant_github_reviews

__all__ = ["Counters", "PlannedPR", "RepoSim", "SimContext"]


@dataclass
class PlannedPR:
    """A pull request between being opened and being merged or closed."""

    number: int
    pr_id: int
    branch: str
    title: str
    body: str
    author: Person
    commits: list[tuple[str, int, str]]  # (sha, authored epoch, message)
    created_at: int
    method: str
    merge_day: int
    fixes: tuple[int, ...] = ()
    fork_owner: str | None = None
    pushed_ts: list[int] = field(default_factory=list)  # timestamps of commits pushed to the head branch
    merged_at: int | None = None

    @property
    def head_sha(self) -> str:
        return self.commits[-1][0]


class RepoSim:
    """Simulates one repository; holds its clock, open PRs and deployment state."""

    def __init__(self, repo: RepoModel, ctx: SimContext, rng: Random) -> None:
        self.repo = repo
        self.ctx = ctx
        self.rng = rng
        self.block = pl.repository_block(repo.repo_id, repo.spec.name)
        self.clock = ctx.start_ts
        self.day_index = 0
        self.next_number = 1
        self.open_prs: list[PlannedPR] = []
        self.people = rng.sample(PEOPLE, k=rng.randint(4, 7))
        self.main_head = self.sha()  # pre-existing history the stream never shows
        self.last_prod_sha: str | None = None  # last successful prod deploy with a main-line sha
        self.last_shipped: list[str] = []  # main-line commits the last successful prod deploy shipped
        self.last_new_shipped: list[str] = []  # ...of which never shipped before (no rollback re-ship)
        self.max_shipped_pos = -1
        self.pr_count = 0
        # Working hours start at 09:00 local time; in UTC that may be the evening.
        self.work_start_s = ((9 * 60 - repo.tz_offset_min) % 1440) * 60

    # ------------------------------------------------------------------ helpers
    def sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def wait(self, lo_s: int, hi_s: int) -> int:
        self.clock += self.rng.randint(lo_s, hi_s)
        return self.clock

    def can(self, need_s: int) -> bool:
        return self.clock + need_s < self.ctx.hard_end

    def anyone(self) -> Person:
        return self.rng.choice(self.people)

    def take_number(self) -> int:
        number = self.next_number
        self.next_number += 1
        return number

    def emit(self, event_type: str, ts: int, anchor: int, body: dict) -> str:
        return self.ctx.out.emit(event_type, ts, anchor, body)

    @property
    def has_pending(self) -> bool:
        return bool(self.repo.mainline) and self.main_head != self.last_prod_sha

    # ------------------------------------------------------------------ git
    def push_branch(
        self, branch: str, commits: list[tuple[str, int, str]], author: Person, before: str
    ) -> None:
        """A push to a non-default branch (feature branch or release branch)."""
        blocks = [pl.commit_block(s, m, t, self.repo.tz_offset_min, author, True) for s, t, m in commits]
        body = pl.push_body(
            self.block,
            ref=f"refs/heads/{branch}",
            before=before,
            after=commits[-1][0],
            created=before == ZERO_SHA,
            deleted=False,
            commits=blocks,
            pusher=author,
            pushed_at=self.clock,
        )
        self.emit("push", self.clock, self.clock, body)

    def delete_branch(self, branch: str, head: str, who: Person) -> None:
        body = pl.push_body(
            self.block,
            ref=f"refs/heads/{branch}",
            before=head,
            after=ZERO_SHA,
            created=False,
            deleted=True,
            commits=[],
            pusher=who,
            pushed_at=self.clock,
        )
        self.repo.branch_deletion_deliveries.append(self.emit("push", self.clock, self.clock, body))

    def _pr_event(
        self, pr: PlannedPR, action: str, sender: Person, *, merged: str | None = None, closed: bool = False
    ) -> None:
        t = self.clock
        body = pl.pull_request_body(
            self.block,
            action=action,
            pr=pr,
            state="closed" if closed else "open",
            updated_at=t,
            closed_at=t if closed else None,
            merged_at=t if merged else None,
            merge_commit_sha=merged,
            base_sha=self.main_head,
            sender=sender,
        )
        self.emit("pull_request", t, t, body)

    def open_pr(
        self,
        *,
        title: str | None = None,
        body: str | None = None,
        fixes: tuple[int, ...] = (),
        fork_owner: str | None = None,
        method: str | None = None,
        merge_in_days: int = 0,
        n_commits: int | None = None,
    ) -> PlannedPR | None:
        """Feature-branch pushes (unless from a fork), then the PR `opened` event."""
        if not self.can(4 * 3600):
            return None
        rng = self.rng
        author = self.anyone()
        number = self.take_number()
        verb, obj = rng.choice(VERBS), rng.choice(OBJECTS)
        title = title or f"{verb} {obj}"
        body = body if body is not None else f"{verb} {obj}. Part of the ongoing {obj.split()[0]} work."
        n = n_commits or rng.choice((1, 1, 2, 2, 3, 4))
        t = self.clock - rng.randint(1800, 30 * 3600)
        commits = []
        for i in range(n):
            t = min(t + rng.randint(300, 4 * 3600), self.clock - 60 * (n - i))
            commits.append((self.sha(), t, f"{verb} {obj} ({i + 1}/{n})" if n > 1 else f"{verb} {obj}"))
        if method is None:
            self.pr_count += 1
            method = (
                ("merge", "squash", "rebase")[self.pr_count - 1]
                if self.pr_count <= 3
                else rng.choices(("merge", "squash", "rebase"), (0.35, 0.5, 0.15))[0]
            )
        branch = f"patch-{number}" if fork_owner else f"feature/{verb.lower()}-{obj.split()[0]}-{number}"
        pr = PlannedPR(
            number,
            self.ctx.counters.take("pull", rng),
            branch,
            title,
            body,
            author,
            commits,
            0,
            method,
            self.day_index + merge_in_days,
            fixes,
            fork_owner,
        )
        if not fork_owner:
            split = rng.randint(1, n) if n > 1 and rng.random() < 0.4 else n
            self.push_branch(branch, commits[:split], author, ZERO_SHA)
            if split < n:
                self.wait(300, 2400)
                self.push_branch(branch, commits[split:], author, commits[split - 1][0])
            pr.pushed_ts = [c[1] for c in commits]
            self.wait(60, 900)
        pr.created_at = self.clock
        self._pr_event(pr, "opened", author)
        self.open_prs.append(pr)
        self.wait(60, 300)
        return pr

    def merge_pr(self, pr: PlannedPR, *, review_push: bool | None = None) -> ChangeFact | None:
        """Merge with the PR's method: the `closed` event, the main push, maybe the branch deletion."""
        if not self.can(3 * 3600) or pr.merged_at is not None:
            return None
        rng = self.rng
        self.clock = max(self.clock, pr.created_at + 60)
        if review_push is None:
            review_push = rng.random() < 0.25
        if review_push and not pr.fork_owner:
            sha, ts = self.sha(), self.clock - rng.randint(60, 1800)
            before = pr.head_sha
            pr.commits.append((sha, ts, "Address review comments"))
            pr.pushed_ts.append(ts)
            self.push_branch(pr.branch, [pr.commits[-1]], pr.author, before)
            self.wait(5, 30)
            self._pr_event(pr, "synchronize", pr.author)
            self.wait(600, 3600)
        merger = self.anyone()
        off, full = self.repo.tz_offset_min, self.repo.full_name
        merged_at = self.clock
        if pr.method == "merge":
            m = (
                self.sha(),
                merged_at,
                f"Merge pull request #{pr.number} from {ORG}/{pr.branch}\n\n{pr.title}",
            )
            blocks = [pl.commit_block(s, msg, t, off, pr.author, False) for s, t, msg in pr.commits]
            blocks.append(pl.commit_block(m[0], m[2], m[1], off, merger, True))
            shas = [c[0] for c in pr.commits] + [m[0]]
        elif pr.method == "squash":
            shas = [self.sha()]
            blocks = [pl.commit_block(shas[0], f"{pr.title} (#{pr.number})", merged_at, off, pr.author, True)]
        else:  # rebase: new shas, author timestamps preserved
            shas = [self.sha() for _ in pr.commits]
            blocks = [
                pl.commit_block(n, msg, t, off, pr.author, True)
                for n, (_, t, msg) in zip(shas, pr.commits, strict=True)
            ]
        first_review = plant_github_reviews(self, pr, merged_at)
        self._pr_event(pr, "closed", merger, merged=shas[-1], closed=True)
        pr.merged_at = merged_at
        change_id = f"{full}#{pr.number}"
        self._main_push(blocks, shas, [change_id] * len(shas), merger)
        fact = ChangeFact(
            change_id,
            pr.method,
            pr.number,
            shas[-1],
            shas,
            min(pr.pushed_ts) if pr.pushed_ts else pr.created_at,
            self.clock,
            pr.fixes,
            from_fork=pr.fork_owner is not None,
            opened_at=pr.created_at,
            first_review_at=first_review,
            merged_at=merged_at,
        )
        self.repo.changes[change_id] = fact
        self.open_prs.remove(pr)
        if not pr.fork_owner and rng.random() < 0.7:
            self.wait(5, 120)
            self.delete_branch(pr.branch, pr.head_sha, merger)
        self.wait(60, 300)
        return fact

    def abandon_pr(self, pr: PlannedPR) -> None:
        if not self.can(3600):
            return
        self._pr_event(pr, "closed", self.anyone(), closed=True)
        self.repo.abandoned_prs.append(f"{self.repo.full_name}#{pr.number}")
        self.open_prs.remove(pr)
        self.wait(60, 600)

    def _main_push(self, blocks: list[dict], shas: list[str], change_ids: list[str], who: Person) -> None:
        last = self.repo.main_pushed_at[-1] if self.repo.main_pushed_at else 0
        self.clock = max(self.clock + self.rng.randint(1, 3), last + 1)
        body = pl.push_body(
            self.block,
            ref="refs/heads/main",
            before=self.main_head,
            after=shas[-1],
            created=False,
            deleted=False,
            commits=blocks,
            pusher=who,
            pushed_at=self.clock,
        )
        self.emit("push", self.clock, self.clock, body)
        self.repo.add_main_push(self.clock, shas, change_ids)
        self.main_head = shas[-1]

    def direct_push(self, n: int = 1, skew_s: int = 0) -> list[ChangeFact]:
        """Commits pushed straight to main; each is its own change. `skew_s` > 0 plants a fast clock."""
        if not self.can(3 * 3600):
            return []
        who = self.anyone()
        t = self.clock - self.rng.randint(120, 3 * 3600)
        commits = []
        for _ in range(n):
            t = min(t + self.rng.randint(60, 1800), self.clock - 30)
            commits.append((self.sha(), t + skew_s, self.rng.choice(DIRECT_MESSAGES)))
        full = self.repo.full_name
        blocks = [pl.commit_block(s, m, ts, self.repo.tz_offset_min, who, True) for s, ts, m in commits]
        ids = [f"{full}@{s}" for s, _, _ in commits]
        self._main_push(blocks, [c[0] for c in commits], ids, who)
        facts = []
        for (s, ts, _), cid in zip(commits, ids, strict=True):
            facts.append(ChangeFact(cid, "direct", None, s, [s], ts, self.clock))
            self.repo.changes[cid] = facts[-1]
        self.wait(60, 600)
        return facts

    # ------------------------------------------------------------------ deployments
    def deploy(
        self,
        env: str,
        sha: str,
        *,
        outcome: str = "success",
        ref: str = "main",
        description: str | None = None,
        fast: bool = False,
    ) -> DeploymentFact | None:
        """A deployment and its statuses: pending, in_progress (usually), then the terminal state."""
        if not self.can(3600):
            return None
        rng, counters = self.rng, self.ctx.counters
        gh_id = counters.take("deployment", rng)
        dep = DeploymentFact(
            f"{self.repo.full_name}:{gh_id}",
            gh_id,
            env,
            sha,
            ref,
            self.clock,
            description or f"Deploy {sha[:7]} to {env}",
            DEPLOY_BOT,
        )
        self.emit("deployment", dep.created_at, dep.created_at, pl.deployment_body(self.block, dep))
        t = dep.created_at
        states = ["pending"] if outcome == "error" and rng.random() < 0.5 else ["pending", "in_progress"]
        for state in [*states, outcome]:
            if state == "pending":
                t += rng.randint(2, 20)
            elif state == "in_progress":
                t += rng.randint(20, 120)
            else:
                t += rng.randint(60, 240) if fast else rng.randint(180, 900)
            body = pl.deployment_status_body(
                self.block, dep, status_id=counters.take("status", rng), state=state, ts=t
            )
            self.emit("deployment_status", t, dep.created_at, body)
            dep.statuses.append((state, t))
        self.clock = t + rng.randint(1, 60)
        self.repo.deployments.append(dep)
        if env == self.repo.prod_env and outcome == "success" and sha in self.repo.mainline_pos:
            prev = self.repo.mainline_pos[self.last_prod_sha] if self.last_prod_sha else -1
            pos = self.repo.mainline_pos[sha]
            self.last_shipped = self.repo.mainline[prev + 1 : pos + 1] if pos > prev else []
            self.last_new_shipped = self.repo.mainline[max(prev, self.max_shipped_pos) + 1 : pos + 1]
            self.max_shipped_pos = max(self.max_shipped_pos, pos)
            self.last_prod_sha = sha
        return dep

    def release(self, *, staging: bool | None = None, outcome: str = "success") -> DeploymentFact | None:
        """Deploy the main head: to staging first (often), then to production."""
        if not self.repo.mainline or not self.can(2 * 3600):
            return None
        if staging is None:
            staging = self.rng.random() < self.repo.staging_share
        sha = self.main_head
        if staging and self.deploy("staging", sha) is not None:
            self.wait(300, 2400)
        return self.deploy(self.repo.prod_env, sha, outcome=outcome)
