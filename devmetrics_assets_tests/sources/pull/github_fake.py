"""A fake GitHub REST API for one repository, with payloads shaped after GitHub's REST documentation.

Scenario (day D = 2025-03-10, acme/api, default branch main):
- main line c0 (D-1) ← c1 (direct, 09:00) ← m1 (merge of PR #11 = f1, f2, 10:00) ← s1 (squash of PR #12,
  11:00) ← r1 ← r2 (rebase merge of PR #13, both committed 12:00:00); PR #14 closed unmerged.
- deployments: 501 production m1 (in_progress 10:31, success 10:40), 502 staging s1 (failure 11:15),
  503 production r2 (success 12:40), 400 production from February (beyond the lookback), and 777
  without a sha (malformed: a reject).
- issues: #20 incident opened 10:50, closed 12:00, reopened 12:30, closed 14:00, comment
  "root cause: <m1 short>" at 13:00; #21 a plain issue; PR #11 also appears in the issues list.
Listings honour `since` (issues, comments, commits) and are paginated with small pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devmetrics_assets_tests.sources.pull.fake_api import FakeApi, Request, json_reply

REPO = "acme/api"
D = datetime(2025, 3, 10, tzinfo=UTC)
USER = {"login": "octocat", "id": 1, "type": "User", "site_admin": False}
BOT = {"login": "deploy-bot[bot]", "id": 99, "type": "Bot", "site_admin": False}


def at(hours: float, day: datetime = D) -> str:
    return (day + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha(name: str) -> str:
    return (name.encode().hex() * 40)[:40]


C0, C1, F1, F2, M1, S1, R1, R2 = (sha(x) for x in ("c0", "c1", "f1", "f2", "m1", "s1", "r1", "r2"))
G1, H1, H2 = sha("g1"), sha("h1"), sha("h2")


def commit(name_sha: str, message: str, authored: str, committed: str, parents: list[str]) -> dict:
    return {
        "sha": name_sha,
        "node_id": "C_" + name_sha[:8],
        "commit": {
            "author": {"name": "Octo Cat", "email": "octo@example.com", "date": authored},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": committed},
            "message": message,
            "tree": {"sha": sha("tree" + name_sha[:4])},
            "comment_count": 0,
        },
        "url": f"https://api.github.com/repos/{REPO}/commits/{name_sha}",
        "html_url": f"https://github.com/{REPO}/commit/{name_sha}",
        "author": USER,
        "committer": {"login": "web-flow", "id": 19864447, "type": "User"},
        "parents": [{"sha": p, "url": f"https://api.github.com/repos/{REPO}/commits/{p}"} for p in parents],
    }


COMMITS = {
    c["sha"]: c
    for c in [
        commit(C0, "Initial", at(-9), at(-9), []),
        commit(F1, "Add endpoint", at(8), at(8), [C0]),
        commit(F2, "Test endpoint", at(8.5), at(8.5), [F1]),
        commit(C1, "Fix typo", at(9), at(9), [C0]),
        commit(M1, "Merge pull request #11 from acme/feature-a\n\nAdd endpoint", at(10), at(10), [C1, F2]),
        commit(S1, "Add cache (#12)", at(6), at(11), [M1]),
        commit(R1, "Refactor part 1", at(5), at(12), [S1]),
        commit(R2, "Refactor part 2", at(5.5), at(12), [R1]),
    ]
}
MAIN_ORDER = [R2, R1, S1, M1, C1, F2, F1, C0]  # git log order from the branch head (newest first)
PR_COMMITS = {11: [F1, F2], 12: [G1], 13: [H1, H2]}
EXTRA = {
    G1: commit(G1, "Add cache", at(6), at(6), [M1]),
    H1: commit(H1, "Refactor part 1", at(5), at(5), [S1]),
    H2: commit(H2, "Refactor part 2", at(5.5), at(5.5), [H1]),
}


def repository() -> dict:
    return {
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": "api",
        "full_name": REPO,
        "owner": {"login": "acme", "id": 7, "type": "Organization"},
        "private": True,
        "html_url": f"https://github.com/{REPO}",
        "description": "The API",
        "fork": False,
        "url": f"https://api.github.com/repos/{REPO}",
        "default_branch": "main",
        "visibility": "private",
        "pushed_at": at(12),
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": at(12),
        "size": 108,
        "stargazers_count": 3,
        "open_issues_count": 1,
        "topics": ["api"],
    }


def deployment(dep_id: int, dep_sha: str | None, env: str, created: str) -> dict:
    dep = {
        "url": f"https://api.github.com/repos/{REPO}/deployments/{dep_id}",
        "id": dep_id,
        "node_id": f"DE_{dep_id}",
        "sha": dep_sha,
        "ref": "main",
        "task": "deploy",
        "payload": {},
        "original_environment": env,
        "environment": env,
        "description": f"Deploy {dep_id}",
        "creator": BOT,
        "created_at": created,
        "updated_at": created,
        "statuses_url": f"https://api.github.com/repos/{REPO}/deployments/{dep_id}/statuses",
        "repository_url": f"https://api.github.com/repos/{REPO}",
        "transient_environment": False,
        "production_environment": env == "production",
    }
    if dep_sha is None:
        del dep["sha"]
    return dep


def status(status_id: int, dep_id: int, state: str, created: str, env: str) -> dict:
    return {
        "url": f"https://api.github.com/repos/{REPO}/deployments/{dep_id}/statuses/{status_id}",
        "id": status_id,
        "node_id": f"DES_{status_id}",
        "state": state,
        "creator": BOT,
        "description": f"Deployment {state}",
        "environment": env,
        "target_url": "",
        "log_url": "",
        "created_at": created,
        "updated_at": created,
        "deployment_url": f"https://api.github.com/repos/{REPO}/deployments/{dep_id}",
        "repository_url": f"https://api.github.com/repos/{REPO}",
        "environment_url": "",
    }


DEPLOYMENTS = [  # newest first, as GitHub lists them
    deployment(503, R2, "production", at(12.5)),
    deployment(502, S1, "staging", at(11.1)),
    deployment(501, M1, "production", at(10.5)),
    deployment(777, None, "production", at(9)),
    deployment(400, C0, "production", "2025-02-01T10:00:00Z"),
]
STATUSES = {
    503: [status(9004, 503, "success", at(12 + 40 / 60), "production")],
    502: [status(9003, 502, "failure", at(11.25), "staging")],
    501: [
        status(9002, 501, "success", at(10 + 40 / 60), "production"),
        status(9001, 501, "in_progress", at(10 + 31 / 60), "production"),
    ],
    400: [status(8000, 400, "success", "2025-02-01T10:05:00Z", "production")],
}


def pull(
    number: int,
    title: str,
    created: str,
    updated: str,
    merged: str | None,
    merge_sha: str | None,
    head_ref: str,
    head_sha: str,
    body: str = "",
) -> dict:
    return {
        "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
        "id": 1000 + number,
        "node_id": f"PR_{number}",
        "html_url": f"https://github.com/{REPO}/pull/{number}",
        "number": number,
        "state": "closed",
        "locked": False,
        "title": title,
        "user": USER,
        "body": body,
        "labels": [],
        "created_at": created,
        "updated_at": updated,
        "closed_at": updated,
        "merged_at": merged,
        "merge_commit_sha": merge_sha,
        "draft": False,
        "head": {"label": f"acme:{head_ref}", "ref": head_ref, "sha": head_sha, "user": USER},
        "base": {"label": "acme:main", "ref": "main", "sha": C0, "user": USER},
        "author_association": "MEMBER",
        "auto_merge": None,
        "active_lock_reason": None,
    }


PULLS = [  # sorted by updated, newest first
    pull(14, "Abandoned", at(1), at(13), None, None, "abandoned", sha("zz")),
    pull(13, "Refactor", at(4), at(12), at(12), R2, "refactor", H2),
    pull(12, "Add cache", at(5), at(11), at(11), S1, "cache", G1, "Fixes #20"),
    pull(11, "Add endpoint", at(7.8), at(10), at(10), M1, "feature-a", F2),
]


def issue(
    number: int,
    title: str,
    labels: list[str],
    state: str,
    created: str,
    updated: str,
    closed: str | None,
    body: str = "",
    is_pr: bool = False,
) -> dict:
    item = {
        "url": f"https://api.github.com/repos/{REPO}/issues/{number}",
        "id": 5000 + number,
        "node_id": f"I_{number}",
        "number": number,
        "title": title,
        "user": USER,
        "labels": [
            {"id": 10 + i, "name": n, "color": "d73a4a", "default": False} for i, n in enumerate(labels)
        ],
        "state": state,
        "state_reason": "completed" if state == "closed" else None,
        "locked": False,
        "assignees": [],
        "comments": 1,
        "created_at": created,
        "updated_at": updated,
        "closed_at": closed,
        "author_association": "MEMBER",
        "body": body,
    }
    if is_pr:
        item["pull_request"] = {
            "url": f"https://api.github.com/repos/{REPO}/pulls/{number}",
            "merged_at": at(10),
        }
    return item


ISSUES = [
    issue(
        20, "Checkout errors", ["incident"], "closed", at(10 + 50 / 60), at(14), at(14), "Errors on checkout"
    ),
    issue(21, "Docs typo", ["docs"], "open", at(9.5), at(9.6), None),
    issue(11, "Add endpoint", [], "closed", at(7.8), at(10), at(10), is_pr=True),
]
COMMENTS = [
    {
        "id": 7001,
        "node_id": "IC_7001",
        "url": f"https://api.github.com/repos/{REPO}/issues/comments/7001",
        "html_url": f"https://github.com/{REPO}/issues/20#issuecomment-7001",
        "issue_url": f"https://api.github.com/repos/{REPO}/issues/20",
        "user": USER,
        "created_at": at(13),
        "updated_at": at(13),
        "body": f"root cause: {M1[:8]}",
        "author_association": "MEMBER",
    }
]


def issue_event(event_id: int, kind: str, created: str, label: str | None = None) -> dict:
    event = {
        "id": event_id,
        "node_id": f"IE_{event_id}",
        "url": f"https://api.github.com/repos/{REPO}/issues/events/{event_id}",
        "actor": USER,
        "event": kind,
        "commit_id": None,
        "commit_url": None,
        "created_at": created,
        "issue": ISSUES[0],
    }
    if label:
        event["label"] = {"name": label, "color": "d73a4a"}
    return event


ISSUE_EVENTS = [  # newest first
    issue_event(8004, "closed", at(14)),
    issue_event(8003, "reopened", at(12.5)),
    issue_event(8002, "closed", at(12)),
    issue_event(8001, "labeled", at(10 + 50 / 60), "incident"),
    issue_event(7000, "closed", "2025-02-01T00:00:00Z"),
]


def _since(request: Request, items: list[dict], key: Callable[[dict], str]) -> list[dict]:
    since = request.arg("since")
    return [i for i in items if since is None or key(i) >= since]


def _updated(item: dict) -> str:
    return item["updated_at"]


class FakeGitHub:
    """Installs the routes of the scenario on a FakeApi; `page_size` forces pagination."""

    def __init__(self, api: FakeApi, page_size: int = 2) -> None:
        self.api = api
        base = f"/repos/{REPO}"
        api.route(base, lambda req: json_reply(repository(), etag=True, request=req))
        api.link_pages(f"{base}/deployments", lambda req: DEPLOYMENTS, page_size=page_size, etag=True)
        for dep_id, items in STATUSES.items():
            api.link_pages(
                f"{base}/deployments/{dep_id}/statuses",
                lambda req, items=items: items,
                page_size=page_size,
                etag=True,
            )
        api.route(f"{base}/deployments/777/statuses", lambda req: json_reply([]))
        api.link_pages(f"{base}/pulls", lambda req: PULLS, page_size=page_size, etag=True)
        for number, shas in PR_COMMITS.items():
            items = [COMMITS.get(s) or EXTRA[s] for s in shas]
            api.link_pages(f"{base}/pulls/{number}/commits", lambda req, items=items: items, page_size=100)
        api.link_pages(f"{base}/commits", self._commits, page_size=page_size)
        api.route(
            f"{base}/compare/{C1}...{F2}",
            lambda req: json_reply(
                {
                    "status": "diverged",
                    "ahead_by": 2,
                    "behind_by": 1,
                    "total_commits": 2,
                    "commits": [COMMITS[F1], COMMITS[F2]],
                    "files": [],
                },
                etag=True,
                request=req,
            ),
        )
        api.link_pages(
            f"{base}/issues",
            lambda req: _since(req, sorted(ISSUES, key=lambda i: i["updated_at"]), _updated),
            page_size=page_size,
        )
        api.link_pages(
            f"{base}/issues/comments", lambda req: _since(req, COMMENTS, _updated), page_size=page_size
        )
        api.route(f"{base}/issues/20", lambda req: json_reply(ISSUES[0], etag=True, request=req))
        api.link_pages(f"{base}/issues/events", lambda req: ISSUE_EVENTS, page_size=page_size, etag=True)

    def _commits(self, request: Request) -> list[dict]:
        assert request.arg("sha") == "main"
        return _since(request, [COMMITS[s] for s in MAIN_ORDER], lambda c: c["commit"]["committer"]["date"])

    @staticmethod
    def options(api: FakeApi, **extra: Any) -> dict:
        return {
            "base_url": api.base_url,
            "repos": [REPO],
            "retry": {
                "max_attempts": 3,
                "base_delay": 0.01,
                "max_delay": 0.05,
                "max_total_delay": 5,
                "timeout": 2,
            },
            **extra,
        }
