"""GitHub REST → webhook-shaped deliveries (contracts §2, §6), one repository resource at a time.

Resources (deliveries and the version time that places them in a pull range):
- deployments: `GET /repos/{r}/deployments` (newest first) and `.../deployments/{id}/statuses` →
  `deployment` (created_at) and `deployment_status` (the status's created_at).
- pulls: `GET /repos/{r}/pulls?state=closed&sort=updated&direction=desc` → `pull_request` action
  closed (updated_at); for a merged PR also `.../pulls/{n}/commits` → a `push` of its commits to its
  head branch (Silver takes the PR's first-commit time, for lead time, from such pushes).
- commits: `GET /repos/{r}/commits?sha=<default branch>&since=` → one default-branch `push` per
  first-parent commit (committer date); commits of the same second are grouped into one push, as a
  rebase merge pushes them; a merge commit carries the commits it brought (`.../compare/{p1}...{p2}`,
  distinct=false) before itself, as GitHub's push payload does.
- issues: `GET /repos/{r}/issues?state=all&since=&sort=updated` (PRs skipped) → `issues` opened
  (created_at), closed (closed_at) and edited with the latest snapshot (updated_at).
- issue_comments: `GET /repos/{r}/issues/comments?since=` (+ the issue) → `issue_comment` created or
  edited (the comment's updated_at).
- issue_events: `GET /repos/{r}/issues/events` (newest first) → `issues` closed / reopened / labeled /
  unlabeled at the event's time, with the snapshot's state and times set as of that event (exact
  reopen counts).

Listings without a `since` filter are read newest first and stop once past the range; unchanged
pages come back as 304 from the ETag cache. A deployment's statuses are re-read for deployments
created up to `deployment_lookback` before the range (statuses arrive after creation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from devmetrics_assets.providers.github.pull_issues import GitHubIssues
from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.sources.pull.pagination import iter_link_pages, page_items
from devmetrics_assets.sources.pull.records import (
    ZERO_SHA,
    Delivery,
    PullDataError,
    PullResult,
    as_int,
    delivery_id,
    iso,
    parse_time,
    reject_for,
    text,
)

PROVIDER = "github"
RESOURCES = ("deployments", "pulls", "commits", "issues", "issue_comments", "issue_events")
_REPO_KEYS = (
    "id",
    "node_id",
    "name",
    "full_name",
    "private",
    "owner",
    "html_url",
    "description",
    "fork",
    "url",
    "default_branch",
    "visibility",
)


class GitHubPuller(GitHubIssues):
    def __init__(
        self,
        client: HttpClient,
        base_url: str,
        *,
        per_page: int = 100,
        max_pages: int = 1000,
        deployment_lookback: timedelta = timedelta(days=14),
        pull_commits: bool = True,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.per_page = per_page
        self.max_pages = max_pages
        self.deployment_lookback = deployment_lookback
        self.pull_commits = pull_commits
        self._repos: dict[str, dict] = {}
        self._issue_cache: dict[tuple[str, int], dict | None] = {}

    def pull(self, resource: str, repo: str, lower: datetime, upper: datetime) -> PullResult:
        handler: Callable[[str, datetime, datetime], PullResult] = getattr(self, f"_{resource}")
        return handler(repo, lower, upper)

    def members(self, org: str) -> list[str]:
        """Repositories of an organisation (`GET /orgs/{org}/repos`), archived ones left out."""
        repos: list[str] = []
        url = f"{self.base_url}/orgs/{quote(org, safe='')}/repos"
        for page in self._pages(url, {"type": "all", "sort": "full_name"}):
            for item in page_items(page, "repositories"):
                if isinstance(item, dict) and text(item.get("full_name")) and not item.get("archived"):
                    repos.append(item["full_name"])
        return repos

    # ------------------------------------------------------------------ helpers
    def _url(self, repo: str, path: str = "") -> str:
        return f"{self.base_url}/repos/{quote(repo, safe='/')}{path}"

    def _pages(self, url: str, params: dict | None = None, *, cache: bool = False):
        return iter_link_pages(
            self.client,
            url,
            {"per_page": self.per_page, **(params or {})},
            max_pages=self.max_pages,
            use_cache=cache,
        )

    def repository(self, repo: str) -> dict:
        """The webhook `repository` block (GET /repos/{r}, revalidated by ETag)."""
        if repo not in self._repos:
            data = self.client.get(self._url(repo), use_cache=True).data
            if not isinstance(data, dict) or not text(data.get("full_name")):
                raise PullDataError(f"GET {self._url(repo)}: not a repository object")
            block = {k: data[k] for k in _REPO_KEYS if k in data}
            owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
            block["owner"] = {k: owner[k] for k in ("login", "id", "type") if k in owner}
            self._repos[repo] = block
        return self._repos[repo]

    def _reject(self, resource: str, repo: str, item: Any, reason: str):
        return reject_for(PROVIDER, resource, repo, item, reason)

    # ------------------------------------------------------------------ deployments
    def _deployments(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        oldest = lower - self.deployment_lookback
        for page in self._pages(self._url(repo, "/deployments"), cache=True):
            items = page_items(page, "deployments")
            past = False
            for dep in items:
                created = parse_time(dep.get("created_at")) if isinstance(dep, dict) else None
                if (
                    not isinstance(dep, dict)
                    or as_int(dep.get("id")) is None
                    or created is None
                    or not text(dep.get("sha"))
                    or not text(dep.get("environment"))
                ):
                    out.rejects.append(
                        self._reject(
                            "deployments", repo, dep, "deployment without id/created_at/sha/environment"
                        )
                    )
                    continue
                if created < oldest:
                    past = True
                    continue
                if created >= upper:
                    continue
                out.deliveries.append(
                    Delivery(
                        PROVIDER,
                        "deployment",
                        delivery_id(PROVIDER, "deployment", dep["id"], iso(created)),
                        created,
                        {
                            "action": "created",
                            "deployment": dep,
                            "repository": repository,
                            "sender": dep.get("creator"),
                        },
                    )
                )
                out.extend(self._statuses(repo, dep, lower, upper))
            if past:
                break
        return out

    def _statuses(self, repo: str, dep: dict, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        url = self._url(repo, f"/deployments/{dep['id']}/statuses")
        for page in self._pages(url, cache=True):
            for status in page_items(page, "deployment statuses"):
                created = parse_time(status.get("created_at")) if isinstance(status, dict) else None
                if (
                    not isinstance(status, dict)
                    or as_int(status.get("id")) is None
                    or created is None
                    or not text(status.get("state"))
                ):
                    out.rejects.append(
                        self._reject(
                            "deployment_statuses",
                            repo,
                            status,
                            "deployment status without id/state/created_at",
                        )
                    )
                    continue
                if not lower <= created < upper:
                    continue
                out.deliveries.append(
                    Delivery(
                        PROVIDER,
                        "deployment_status",
                        delivery_id(PROVIDER, "deployment_status", status["id"], iso(created)),
                        created,
                        {
                            "action": "created",
                            "deployment_status": status,
                            "deployment": dep,
                            "repository": repository,
                            "sender": status.get("creator"),
                        },
                    )
                )
        return out

    # ------------------------------------------------------------------ pull requests
    def _pulls(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        params = {"state": "closed", "sort": "updated", "direction": "desc"}
        for page in self._pages(self._url(repo, "/pulls"), params, cache=True):
            past = False
            for pr in page_items(page, "pull requests"):
                updated = parse_time(pr.get("updated_at")) if isinstance(pr, dict) else None
                if (
                    not isinstance(pr, dict)
                    or as_int(pr.get("id")) is None
                    or as_int(pr.get("number")) is None
                    or updated is None
                ):
                    out.rejects.append(
                        self._reject("pulls", repo, pr, "pull request without id/number/updated_at")
                    )
                    continue
                if updated < lower:
                    past = True
                    continue
                if updated >= upper:
                    continue
                pr = {**pr, "merged": pr.get("merged_at") is not None}
                out.deliveries.append(
                    Delivery(
                        PROVIDER,
                        "pull_request",
                        delivery_id(PROVIDER, "pull_request", pr["id"], iso(updated)),
                        updated,
                        {
                            "action": "closed",
                            "number": pr["number"],
                            "pull_request": pr,
                            "repository": repository,
                            "sender": pr.get("user"),
                        },
                    )
                )
                if self.pull_commits and pr["merged"]:
                    out.extend(self._pr_commits(repo, pr, updated))
            if past:
                break
        return out

    def _pr_commits(self, repo: str, pr: dict, version: datetime) -> PullResult:
        """The PR's commits as a push to its head branch: Silver takes the PR's first-commit time
        (lead time) from pushes to that branch."""
        out = PullResult()
        head = pr.get("head") if isinstance(pr.get("head"), dict) else {}
        base = pr.get("base") if isinstance(pr.get("base"), dict) else {}
        if not text(head.get("ref")) or not text(head.get("sha")):
            out.rejects.append(
                self._reject("pull_commits", repo, pr, "merged pull request without head ref/sha")
            )
            return out
        commits: list[dict] = []
        for page in self._pages(self._url(repo, f"/pulls/{pr['number']}/commits")):
            for item in page_items(page, "pull request commits"):
                block = _commit_block(item, distinct=True)
                if block is None:
                    out.rejects.append(self._reject("pull_commits", repo, item, "commit without sha/dates"))
                    continue
                commits.append(block)
        if not commits:
            return out
        last = _committed_at(commits[-1])
        body = _push_body(
            self.repository(repo),
            ref=f"refs/heads/{head['ref']}",
            before=text(base.get("sha")) or ZERO_SHA,
            after=commits[-1]["id"],
            commits=commits,
            pushed_at=last,
            sender=pr.get("user"),
        )
        out.deliveries.append(
            Delivery(
                PROVIDER, "push", delivery_id(PROVIDER, "pull_commits", pr["id"], head["sha"]), version, body
            )
        )
        return out

    # ------------------------------------------------------------------ main-line commits
    def _commits(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        branch = repository.get("default_branch") or "main"
        listed: list[dict] = []
        for page in self._pages(self._url(repo, "/commits"), {"sha": branch, "since": iso(lower)}):
            for item in page_items(page, "commits"):
                if _commit_block(item, distinct=True) is None or not isinstance(item.get("parents"), list):
                    out.rejects.append(
                        self._reject("commits", repo, item, "commit without sha/dates/parents")
                    )
                    continue
                listed.append(item)
        by_sha = {c["sha"]: c for c in listed}
        chain: list[dict] = []
        seen: set[str] = set()
        current = listed[0] if listed else None  # the branch head: walk its first parents
        while current is not None and current["sha"] not in seen:
            seen.add(current["sha"])
            chain.append(current)
            parents = current["parents"]
            first_parent = parents[0].get("sha") if parents and isinstance(parents[0], dict) else None
            current = by_sha.get(first_parent)
        chain.reverse()
        groups: list[list[dict]] = []
        for item in chain:  # commits of one second (a rebase merge) form one push, as GitHub sends it
            stamp = item["commit"]["committer"]["date"]
            if groups and groups[-1][-1]["commit"]["committer"]["date"] == stamp:
                groups[-1].append(item)
            else:
                groups.append([item])
        for group in groups:
            pushed = parse_time(group[-1]["commit"]["committer"]["date"])
            if pushed is None or not lower <= pushed < upper:
                continue
            commits: list[dict] = []
            for item in group:
                parents = [p.get("sha") for p in item["parents"] if isinstance(p, dict)]
                if len(parents) >= 2:
                    commits.extend(self._side_commits(repo, parents[0], parents[1], out))
                commits.append(_commit_block(item, distinct=True))
            first_parents = group[0]["parents"]
            before = (
                first_parents[0].get("sha") if first_parents and isinstance(first_parents[0], dict) else None
            )
            body = _push_body(
                repository,
                ref=f"refs/heads/{branch}",
                before=before or ZERO_SHA,
                after=group[-1]["sha"],
                commits=commits,
                pushed_at=pushed,
                sender=group[-1].get("committer") or group[-1].get("author"),
            )
            out.deliveries.append(
                Delivery(
                    PROVIDER,
                    "push",
                    delivery_id(PROVIDER, "push", group[-1]["sha"], iso(pushed)),
                    pushed,
                    body,
                )
            )
        return out

    def _side_commits(self, repo: str, base: str, head: str, out: PullResult) -> list[dict]:
        """Commits a merge brought in (reachable from its second parent only), oldest first."""
        data = self.client.get(self._url(repo, f"/compare/{base}...{head}"), use_cache=True).data
        items = data.get("commits") if isinstance(data, dict) else None
        if not isinstance(items, list):
            out.rejects.append(
                self._reject("commits", repo, data, f"compare {base}...{head} has no commits list")
            )
            return []
        blocks = []
        for item in items:
            block = _commit_block(item, distinct=False)
            if block is None:
                out.rejects.append(self._reject("commits", repo, item, "commit without sha/dates"))
            else:
                blocks.append(block)
        return blocks


def _committed_at(block: dict) -> datetime:
    return parse_time(block.get("_committed_at")) or parse_time(block["timestamp"])


def _commit_block(item: Any, *, distinct: bool) -> dict | None:
    """A push payload's commit entry from a REST commit (timestamp = author date, as pushes carry it)."""
    if not isinstance(item, dict) or not text(item.get("sha")) or not isinstance(item.get("commit"), dict):
        return None
    commit = item["commit"]
    author = commit.get("author") if isinstance(commit.get("author"), dict) else {}
    committer = commit.get("committer") if isinstance(commit.get("committer"), dict) else {}
    if parse_time(author.get("date")) is None or parse_time(committer.get("date")) is None:
        return None
    login = item.get("author").get("login") if isinstance(item.get("author"), dict) else None
    block = {
        "id": item["sha"],
        "tree_id": (commit.get("tree") or {}).get("sha"),
        "distinct": distinct,
        "message": commit.get("message") or "",
        "timestamp": author["date"],
        "url": item.get("html_url"),
        "author": {"name": author.get("name"), "email": author.get("email"), "username": login},
        "committer": {"name": committer.get("name"), "email": committer.get("email")},
        "_committed_at": committer["date"],
    }
    return block


def _push_body(
    repository: dict,
    *,
    ref: str,
    before: str,
    after: str,
    commits: list[dict],
    pushed_at: datetime,
    sender: Any,
) -> dict:
    commits = [{k: v for k, v in c.items() if not k.startswith("_")} for c in commits]
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": {**repository, "pushed_at": int(pushed_at.timestamp())},
        "pusher": {"name": (sender or {}).get("login") if isinstance(sender, dict) else None},
        "sender": sender if isinstance(sender, dict) else None,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"{repository.get('html_url', '')}/compare/{before[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
    }
