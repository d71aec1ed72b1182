"""GitHub issues, issue comments and issue events → `issues` / `issue_comment` deliveries.

A mixin of `github.GitHubPuller` (it uses the puller's client, URLs, pages and repository block).
- issues: `GET /repos/{r}/issues?state=all&since=&sort=updated` (PRs skipped) → `issues` opened
  (created_at), closed (closed_at), and edited carrying the latest snapshot (updated_at): Silver takes
  an incident's state, labels and body from its latest event.
- issue_comments: `GET /repos/{r}/issues/comments?since=` → `issue_comment` created or edited (the
  comment's updated_at), with the issue fetched once per run (ETag-revalidated).
- issue_events: `GET /repos/{r}/issues/events` (newest first, read until past the range) → `issues`
  closed / reopened / labeled / unlabeled at the event's time, the snapshot's state and times set as of
  that event (so reopen counts are exact, as webhooks give them).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from devmetrics_assets.sources.pull.pagination import page_items
from devmetrics_assets.sources.pull.records import Delivery, PullResult, as_int, delivery_id, iso, parse_time

PROVIDER = "github"
ISSUE_EVENTS = ("closed", "reopened", "labeled", "unlabeled")
_ISSUE_NUMBER = re.compile(r"/issues/(\d+)$")


class GitHubIssues:
    client: Any
    _issue_cache: dict[tuple[str, int], dict | None]

    def _issue_ok(self, issue: Any) -> bool:
        return (
            isinstance(issue, dict)
            and as_int(issue.get("id")) is not None
            and as_int(issue.get("number")) is not None
            and parse_time(issue.get("created_at")) is not None
            and parse_time(issue.get("updated_at")) is not None
        )

    def _issues(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        params = {"state": "all", "since": iso(lower), "sort": "updated", "direction": "asc"}
        for page in self._pages(self._url(repo, "/issues"), params):
            for issue in page_items(page, "issues"):
                if isinstance(issue, dict) and "pull_request" in issue:
                    continue
                if not self._issue_ok(issue):
                    out.rejects.append(
                        self._reject("issues", repo, issue, "issue without id/number/created_at/updated_at")
                    )
                    continue
                self._issue_cache[(repo, issue["number"])] = issue
                created, updated = parse_time(issue["created_at"]), parse_time(issue["updated_at"])
                closed = parse_time(issue.get("closed_at"))
                versions = [("opened", created, delivery_id(PROVIDER, "issues", issue["id"], "opened"))]
                if issue.get("state") == "closed" and closed is not None:
                    versions.append(
                        (
                            "closed",
                            closed,
                            delivery_id(PROVIDER, "issues", issue["id"], "closed", iso(closed)),
                        )
                    )
                versions.append(
                    ("edited", updated, delivery_id(PROVIDER, "issues", issue["id"], iso(updated)))
                )
                for action, at, ident in versions:
                    out.deliveries.append(
                        Delivery(
                            PROVIDER,
                            "issues",
                            ident,
                            at,
                            {
                                "action": action,
                                "issue": issue,
                                "repository": repository,
                                "sender": issue.get("user"),
                            },
                        )
                    )
        return out

    def _issue(self, repo: str, number: int) -> dict | None:
        key = (repo, number)
        if key not in self._issue_cache:
            data = self.client.get(self._url(repo, f"/issues/{number}"), use_cache=True).data
            self._issue_cache[key] = data if self._issue_ok(data) else None
        return self._issue_cache[key]

    def _issue_comments(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        params = {"since": iso(lower), "sort": "updated", "direction": "asc"}
        for page in self._pages(self._url(repo, "/issues/comments"), params):
            for comment in page_items(page, "issue comments"):
                updated = parse_time(comment.get("updated_at")) if isinstance(comment, dict) else None
                match = (
                    _ISSUE_NUMBER.search(comment.get("issue_url") or "")
                    if isinstance(comment, dict)
                    else None
                )
                if (
                    updated is None
                    or match is None
                    or as_int(comment.get("id")) is None
                    or parse_time(comment.get("created_at")) is None
                ):
                    out.rejects.append(
                        self._reject(
                            "issue_comments",
                            repo,
                            comment,
                            "comment without id/issue_url/created_at/updated_at",
                        )
                    )
                    continue
                if not lower <= updated < upper:
                    continue
                issue = self._issue(repo, int(match.group(1)))
                if issue is None:
                    out.rejects.append(
                        self._reject("issue_comments", repo, comment, "the comment's issue could not be read")
                    )
                    continue
                if "pull_request" in issue:
                    continue
                action = "created" if comment.get("created_at") == comment.get("updated_at") else "edited"
                out.deliveries.append(
                    Delivery(
                        PROVIDER,
                        "issue_comment",
                        delivery_id(PROVIDER, "issue_comment", comment["id"], iso(updated)),
                        updated,
                        {
                            "action": action,
                            "issue": issue,
                            "comment": comment,
                            "repository": repository,
                            "sender": comment.get("user"),
                        },
                    )
                )
        return out

    def _issue_events(self, repo: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        repository = self.repository(repo)
        for page in self._pages(self._url(repo, "/issues/events"), cache=True):
            past = False
            for event in page_items(page, "issue events"):
                at = parse_time(event.get("created_at")) if isinstance(event, dict) else None
                if at is None or as_int(event.get("id")) is None or not self._issue_ok(event.get("issue")):
                    out.rejects.append(
                        self._reject("issue_events", repo, event, "issue event without id/created_at/issue")
                    )
                    continue
                if at < lower:
                    past = True
                    continue
                kind = event.get("event")
                if at >= upper or kind not in ISSUE_EVENTS or "pull_request" in event["issue"]:
                    continue
                # The issue as a webhook at that moment would show it: state and times of the event.
                issue = {**event["issue"], "updated_at": event["created_at"]}
                if kind == "closed":
                    issue.update(state="closed", closed_at=event["created_at"])
                elif kind == "reopened":
                    issue.update(state="open", closed_at=None)
                body = {"action": kind, "issue": issue}
                if kind in ("labeled", "unlabeled") and isinstance(event.get("label"), dict):
                    body["label"] = event["label"]
                body.update(repository=repository, sender=event.get("actor"))
                out.deliveries.append(
                    Delivery(
                        PROVIDER, "issues", delivery_id(PROVIDER, "issue_event", event["id"], kind), at, body
                    )
                )
            if past:
                break
        return out
