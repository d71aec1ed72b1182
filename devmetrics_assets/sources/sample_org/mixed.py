"""A small seeded mixed organisation: GitLab projects, PagerDuty incidents and generic webhook deployments.

`generate_mixed_org(out_dir)` writes landing envelopes (docs/contracts.md §6) to
`<out>/landing/{gitlab,pagerduty,generic}/<received day>.jsonl`, the rules fragment for its repos
(`rules_mixed.yaml`) and `truth/` in the GitHub generator's format (truth_daily.csv, truth_lead_times.csv,
truth_recoveries.csv), computed by the same independent `truth.repo_truth` from facts, never from files.

Repos (each exercises another provider combination):
- acme-gitlab/billing: GitLab pushes and merge requests (merge commit, squash, fast-forward), GitLab
  Deployment Hooks (failed, canceled, retried, rolled back, one crossing midnight), GitLab incident issues
  (type Incident or label) with `root cause:` notes, reopen, hotfix MRs (`Closes #N`).
- acme-gitlab/ledger: GitLab code, generic deployments (env `prod`, text ids), PagerDuty incidents
  (triggered / acknowledged / annotated / resolved / reopened) linked by service name or by the `repo`
  custom field, root cause in notes or the `root_cause` custom field.
- acme-ext/search: generic deployments listing their `changes` (its only main line) and generic incidents
  naming only the service.
Plants: a GitLab redelivery (same UUID), API-pull copies of a GitLab status and a PagerDuty trigger, a
late main-branch push, and a PagerDuty incident of an unmapped service (quarantined: not in the truth).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import yaml

from devmetrics_assets.config import rules_from_mapping
from devmetrics_assets.transforms.generic import id_number

from .model import ChangeFact, DeploymentFact, IssueFact, OrgModel
from .truth import repo_truth, write_truth_tables

BILLING, LEDGER, SEARCH = "acme-gitlab/billing", "acme-gitlab/ledger", "acme-ext/search"
SERVICES = {BILLING: "Billing Service", LEDGER: "Ledger Service", SEARCH: "Search Service"}
SOURCES = ("gitlab", "pagerduty", "generic")
DAY = 86_400


@dataclass
class MixedRepo:
    """The facts `truth.repo_truth` reads (duck-types sample_org.model.RepoModel) plus simulation state."""

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


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def gitlab_time(ts: float) -> str:
    """GitLab's older hook format, `2025-01-03 10:00:00 UTC`."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


class Landing:
    """Envelopes per (source, received day); lines sorted by received time when written."""

    def __init__(self, root: Path, start_ts: int, days: int, rng: Random) -> None:
        self.root, self.start_ts, self.end_ts, self.rng = root, start_ts, start_ts + days * DAY, rng
        self.buckets: dict[tuple[str, str], list[tuple[float, int, str]]] = defaultdict(list)
        self.count = 0

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def emit(
        self,
        source: str,
        event_type: str,
        body: dict,
        at: float,
        delivery_id: str | None = None,
        *,
        late_s: float = 0.0,
    ) -> str:
        received = at + self.rng.uniform(0.5, 4.0) + late_s
        if received >= self.end_ts:
            raise ValueError(f"{source} {event_type} received after the generated range")
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        delivery_id = delivery_id or self.uuid()
        headers = {"Content-Type": "application/json"}
        if source == "gitlab":
            headers |= {"X-Gitlab-Event": event_type, "X-Gitlab-Event-UUID": delivery_id}
        elif source == "pagerduty":
            headers |= {"X-Webhook-Id": delivery_id, "User-Agent": "PagerDuty-Webhook/V3.0"}
        envelope = {
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(received))
            + f".{int(received % 1 * 1e6):06d}Z",
            "delivery_id": delivery_id,
            "provider": source,
            "event_type": event_type,
            "signature_status": "verified",
            "headers": headers,
            "body_raw": text,
        }
        day = time.strftime("%Y-%m-%d", time.gmtime(received))
        self.buckets[(source, day)].append(
            (received, self.count, json.dumps(envelope, separators=(",", ":")))
        )
        self.count += 1
        return delivery_id

    def write(self) -> None:
        """Write every day file; stale day files of an earlier generation in these folders are removed."""
        for source in SOURCES:
            for stale in (self.root / source).glob("????-??-??.jsonl"):
                stale.unlink()
        for (source, day), lines in sorted(self.buckets.items()):
            folder = self.root / source
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{day}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
                fh.writelines(line + "\n" for _, _, line in sorted(lines))


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
        return {
            "id": 40 + list(self.repos).index(repo),
            "name": repo.split("/")[1],
            "path_with_namespace": repo,
            "default_branch": "main",
            "web_url": f"https://gitlab.example.com/{repo}",
        }

    def commit(self, repo: str, sha: str, ts: float, message: str) -> dict[str, Any]:
        return {
            "id": sha,
            "message": message,
            "title": message.split("\n")[0],
            "timestamp": iso(ts),
            "url": f"https://gitlab.example.com/{repo}/-/commit/{sha}",
            "author": {"name": "Dev", "email": "dev@example.com"},
        }

    def push(
        self, repo: str, branch: str, before: str, commits: list[dict], at: float, late_s: float = 0
    ) -> None:
        body = {
            "object_kind": "push",
            "event_name": "push",
            "before": before,
            "after": commits[-1]["id"],
            "ref": f"refs/heads/{branch}",
            "checkout_sha": commits[-1]["id"],
            "user_name": "Dev",
            "project_id": self.project(repo)["id"],
            "project": self.project(repo),
            "commits": commits,
            "total_commits_count": len(commits),
        }
        self.out.emit("gitlab", "Push Hook", body, at, late_s=late_s)

    def head(self, repo: str) -> str:
        r = self.repos[repo]
        return r.mainline[-1] if r.mainline else "0" * 40

    def mr_event(
        self,
        repo: str,
        iid: int,
        action: str,
        state: str,
        at: float,
        created: float,
        branch: str,
        title: str,
        description: str,
        last: str,
        merge: str | None = None,
        squash: str | None = None,
    ) -> None:
        attrs = {
            "id": 5000 + iid,
            "iid": iid,
            "target_branch": "main",
            "source_branch": branch,
            "title": title,
            "description": description,
            "state": state,
            "action": action,
            "created_at": gitlab_time(created),
            "updated_at": gitlab_time(at),
            "merge_commit_sha": merge,
            "squash_commit_sha": squash,
            "squash": squash is not None,
            "last_commit": {"id": last, "timestamp": iso(at)},
        }
        body = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "project": self.project(repo),
            "object_attributes": attrs,
            "labels": [],
        }
        self.out.emit("gitlab", "Merge Request Hook", body, at)

    def merge_request(self, repo: str, t: float, fixes: tuple[int, ...] = ()) -> float:
        r, rng = self.repos[repo], self.rng
        iid, branch = r.next_mr, f"feature-{r.next_mr}"
        r.next_mr += 1
        method = rng.choice(("merge", "squash", "squash_merge", "rebase"))
        k = rng.randint(1, 3)
        times = sorted(t - rng.randint(20, 600) * 60 for _ in range(k))
        feature = [
            self.commit(repo, self.sha(repo), ts, f"work {i} on {branch}") for i, ts in enumerate(times)
        ]
        self.push(repo, branch, "0" * 40, feature, t)
        title = f"Change {iid}" + (" (hotfix)" if fixes else "")
        description = " ".join(f"Closes #{n}" for n in fixes) or "Routine change."
        self.mr_event(
            repo, iid, "open", "opened", t + 60, t + 60, branch, title, description, feature[-1]["id"]
        )
        merged = t + rng.randint(20, 90) * 60
        merge_sha = squash_sha = None
        if method == "merge":
            main = [
                *feature,
                self.commit(
                    repo,
                    self.sha(repo),
                    merged,
                    f"Merge branch '{branch}' into 'main'\n\nSee merge request {repo}!{iid}",
                ),
            ]
            merge_sha = main[-1]["id"]
        elif method in ("squash", "squash_merge"):
            main = [self.commit(repo, self.sha(repo), merged, title)]
            squash_sha = main[0]["id"]
            if method == "squash_merge":
                main.append(self.commit(repo, self.sha(repo), merged, f"Merge branch '{branch}' into 'main'"))
                merge_sha = main[-1]["id"]
        else:  # fast-forward after a rebase: new shas, the source branch is force-pushed first
            main = [
                self.commit(repo, self.sha(repo), ts, c["message"])
                for ts, c in zip(times, feature, strict=True)
            ]
            self.push(repo, branch, feature[-1]["id"], main, merged - 30)
        self.push(repo, "main", self.head(repo), main, merged + 2)
        self.mr_event(
            repo,
            iid,
            "merge",
            "merged",
            merged,
            t + 60,
            branch,
            title,
            description,
            main[-1]["id"] if method == "rebase" else feature[-1]["id"],
            merge_sha,
            squash_sha,
        )
        cid = f"{repo}#{iid}"
        shas = [c["id"] for c in main]
        r.land(shas, [cid] * len(shas))
        r.changes[cid] = ChangeFact(
            cid, method.split("_")[0], iid, shas[-1], shas, int(min(times)), int(merged), fixes=fixes
        )
        return merged + 120

    def direct_push(self, repo: str, t: float, late: bool = False) -> float:
        r = self.repos[repo]
        times = sorted(t - self.rng.randint(2, 40) * 60 for _ in range(self.rng.randint(1, 2)))
        commits = [self.commit(repo, self.sha(repo), ts, f"direct change {i}") for i, ts in enumerate(times)]
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
            words = {"success": "success", "failure": "failed", "inactive": "canceled"}
            for status, at in (("running", t), (words[final], end)):
                body = {
                    "object_kind": "deployment",
                    "status": status,
                    "status_changed_at": time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(at)),
                    "deployment_id": num,
                    "deployable_id": 9000 + num,
                    "environment": env,
                    "environment_tier": "production" if env == "production" else "staging",
                    "project": self.project(repo),
                    "short_sha": sha[:8],
                    "commit_title": "deploy",
                    "commit_url": f"https://gitlab.example.com/{repo}/-/commit/{sha}",
                }
                self.out.emit("gitlab", "Deployment Hook", body, at)
                if status == "success" and not self.plants["api_status"]:
                    self.plants["api_status"].append(fact.deployment_id)
                    self.out.emit(
                        "gitlab", "Deployment Hook", body, at + 600, f"api:gitlab:deployment:{num}:success"
                    )
        else:
            words = {"success": "success", "failure": "failed", "inactive": "canceled"}
            ident = f"ledger-{n}" if repo == LEDGER else n
            for status, at in (("running", t), (words[final], end)):
                body = {
                    "type": "deployment",
                    "id": ident,
                    "environment": env,
                    "sha": sha,
                    "status": status,
                    "created_at": iso(t),
                    "updated_at": iso(at),
                }
                body |= {"repo": repo} if repo == LEDGER else {"service": SERVICES[repo]}
                if status != "running":
                    body["finished_at"] = iso(end)
                if changes:
                    body["changes"] = changes
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
        # No rollback of a deployment that caused an incident: the redeploy after it would ship the root
        # cause again, which truth.repo_truth counts as a second cause (contracts §5 says it is not).
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
        )

    def gitlab_incident(
        self, repo: str, iid: int, t: float, raw: str, closes: list[float], reopens: list[float]
    ) -> None:
        typed = self.rng.random() < 0.5

        def issue(action: str, state: str, at: float, closed: float | None = None) -> dict[str, Any]:
            labels = [] if typed else [{"id": 1, "title": self.rng.choice(("incident", "Incident"))}]
            attrs = {
                "id": 800 + iid,
                "iid": iid,
                "title": f"Incident {iid}",
                "description": "Customers see errors",
                "type": "Incident" if typed else "Issue",
                "state": state,
                "action": action,
                "created_at": iso(t),
                "updated_at": iso(at),
                "closed_at": iso(closed) if closed else None,
                "labels": labels,
            }
            return {
                "object_kind": "work_item" if typed else "issue",
                "project": self.project(repo),
                "object_attributes": attrs,
                "labels": labels,
            }

        self.out.emit("gitlab", "Issue Hook", issue("open", "opened", t), t)
        note = {
            "object_kind": "note",
            "project": self.project(repo),
            "object_attributes": {
                "id": 9100 + iid,
                "note": f"Found it.\nroot cause: {raw}",
                "noteable_type": "Issue",
                "created_at": gitlab_time(t + 600),
                "updated_at": gitlab_time(t + 600),
                "action": "create",
            },
            "issue": {
                "iid": iid,
                "title": f"Incident {iid}",
                "created_at": gitlab_time(t),
                "state": "opened",
                "type": "Incident" if typed else "Issue",
                "labels": issue("open", "opened", t)["labels"],
            },
        }
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

        def event(kind: str, at: float, status: str, event_id: str | None = None) -> dict[str, Any]:
            data = {
                "id": pd_id,
                "type": "incident",
                "number": number,
                "status": status,
                "created_at": iso(t),
                "title": f"Incident {number}",
                "urgency": "high",
                "service": {
                    "id": "PSVC1",
                    "summary": "Shared Platform" if custom else SERVICES[LEDGER],
                    "type": "service_reference",
                },
            }
            if custom:
                data["custom_fields"] = [
                    {"name": "repo", "value": LEDGER},
                    {"name": "root_cause", "value": raw},
                ]
            return {
                "event": {
                    "id": event_id or f"{pd_id}-{kind}-{int(at)}",
                    "event_type": f"incident.{kind}",
                    "resource_type": "incident",
                    "occurred_at": iso(at),
                    "data": data,
                }
            }

        self.out.emit("pagerduty", "incident.triggered", event("triggered", t, "triggered"), t, f"{pd_id}-t")
        if not self.plants["api_incident"]:
            self.plants["api_incident"].append(pd_id)
            self.out.emit(
                "pagerduty",
                "incident.triggered",
                event("triggered", t, "triggered"),
                t + 900,
                f"api:pagerduty:incident:{pd_id}:triggered:{iso(t)}",
            )
        self.out.emit(
            "pagerduty", "incident.acknowledged", event("acknowledged", t + 300, "acknowledged"), t + 300
        )
        if not custom:
            note = {
                "event": {
                    "id": f"{pd_id}-note",
                    "event_type": "incident.annotated",
                    "resource_type": "incident",
                    "occurred_at": iso(t + 600),
                    "data": {
                        "incident": {"id": pd_id, "type": "incident_reference"},
                        "id": f"N{number}",
                        "content": f"root cause: {raw}",
                        "type": "incident_note",
                    },
                }
            }
            self.out.emit("pagerduty", "incident.annotated", note, t + 600)
        for i, c in enumerate(closes):
            self.out.emit("pagerduty", "incident.resolved", event("resolved", c, "resolved"), c)
            if i < len(reopens):
                self.out.emit(
                    "pagerduty", "incident.reopened", event("reopened", reopens[i], "triggered"), reopens[i]
                )

    def generic_incident(
        self, ident: str, t: float, raw: str, closes: list[float], reopens: list[float]
    ) -> None:
        def snap(status: str, at: float, resolved: float | None = None) -> dict[str, Any]:
            body = {
                "type": "incident",
                "id": ident,
                "service": SERVICES[SEARCH],
                "title": f"Incident {ident}",
                "status": status,
                "opened_at": iso(t),
                "updated_at": iso(at),
                "root_cause_sha": raw,
            }
            return body | ({"resolved_at": iso(resolved)} if resolved else {})

        timeline = [("triggered", t, None)]
        for i, c in enumerate(closes):
            timeline.append(("resolved", c, c))
            if i < len(reopens):
                timeline.append(("open", reopens[i], None))
        for status, at, resolved in timeline:
            body = snap(status, at, resolved)
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
        body = {
            "event": {
                "id": "Q9999PD-t",
                "event_type": "incident.triggered",
                "resource_type": "incident",
                "occurred_at": iso(t),
                "data": {
                    "id": "Q9999PD",
                    "type": "incident",
                    "number": 9999,
                    "status": "triggered",
                    "created_at": iso(t),
                    "title": "Printer on fire",
                    "service": {"id": "PX", "summary": "Office Printers"},
                },
            }
        }
        self.out.emit("pagerduty", "incident.triggered", body, t, "Q9999PD-t")


@dataclass(frozen=True)
class MixedOrg:
    """What was written."""

    root: Path
    landing_dir: Path
    truth_dir: Path
    rules_path: Path
    rules: dict[str, Any]
    start: date
    days: int
    repos: tuple[str, ...]
    delivery_count: int
    plants: dict[str, list[str]]


def rules_mapping() -> dict[str, Any]:
    teams = {BILLING: "payments", LEDGER: "payments", SEARCH: "growth"}
    return {
        "production_environments": ["production", "prod"],
        "incident_labels": ["incident"],
        "repos": {r: {"team": teams[r], "service": SERVICES[r]} for r in (BILLING, LEDGER, SEARCH)},
    }


def generate_mixed_org(
    out_dir: Path, *, days: int = 21, start: date = date(2025, 1, 1), seed: int = 3
) -> MixedOrg:
    """Write the mixed organisation's landing files, rules fragment and truth. Same arguments, same bytes."""
    if days < 8:
        raise ValueError("days must be at least 8 (the plants need them)")
    root = Path(out_dir)
    landing_dir, truth_dir = root / "landing", root / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    start_ts = OrgModel(start, days, []).start_ts
    rng = Random(seed * 7_727 + 1)
    landing = Landing(landing_dir, start_ts, days, rng)
    sim = Sim(landing, rng, seed)
    sim.run(start_ts, days)
    landing.write()
    rules = rules_mapping()
    rules_path = root / "rules_mixed.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    dora_rules = rules_from_mapping(rules, origin=str(rules_path))
    write_truth_tables([repo_truth(r, dora_rules) for r in sim.repos.values()], truth_dir)  # type: ignore[arg-type]
    return MixedOrg(
        root,
        landing_dir,
        truth_dir,
        rules_path,
        rules,
        start,
        days,
        tuple(sim.repos),
        landing.count,
        dict(sim.plants),
    )


__all__ = [
    "BILLING",
    "LEDGER",
    "SEARCH",
    "SERVICES",
    "SOURCES",
    "MixedOrg",
    "generate_mixed_org",
    "rules_mapping",
]
