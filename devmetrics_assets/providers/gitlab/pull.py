"""GitLab REST (v4) → webhook-shaped deliveries (contracts §6), one project resource at a time.

Resources (`X-Gitlab-Event` of the deliveries, and the version time that places them in a range):
- deployments: `GET /projects/:id/deployments?updated_after=&updated_before=&order_by=updated_at` →
  `Deployment Hook` with status created (the deployment's created_at) and with its current status
  (updated_at); the id suffix is the status, one delivery per status as GitLab's hooks fire.
- merge_requests: `GET /projects/:id/merge_requests?updated_after=&updated_before=&scope=all&state=all`
  → `Merge Request Hook`, action merge / close / open / update from the state (updated_at).
- issues: `GET /projects/:id/issues?updated_after=&updated_before=&scope=all` (incidents included) →
  `Issue Hook` open (created_at), close (closed_at), update with the latest snapshot (updated_at).

Bodies follow the webhook payloads of GitLab's "Webhook events" documentation: `object_kind`,
`project`, `repository`, `user`, `object_attributes` (with `action`) and top-level `labels`; a
deployment hook has `status`, `status_changed_at` (hook format `YYYY-MM-DD HH:MM:SS +0000`),
`deployment_id`, `deployable_id/url`, `environment`, `short_sha` and `commit_url` (ending in the full
sha). API list timestamps stay ISO 8601. Reopen counts are not recoverable from the issue list (the API
keeps no reopen time on the issue): a pulled reopened issue shows its latest state only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.sources.pull.pagination import iter_link_pages, page_items
from devmetrics_assets.sources.pull.records import (
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

PROVIDER = "gitlab"
RESOURCES = ("deployments", "merge_requests", "issues")
_USER_KEYS = ("id", "name", "username", "avatar_url", "email")


def hook_time(value: datetime) -> str:
    """GitLab hook timestamp style: `2021-04-28 19:50:00 +0000`."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def _user(user: Any) -> dict | None:
    return {k: user.get(k) for k in _USER_KEYS if k in user} if isinstance(user, dict) else None


def _deployment_hook(dep: dict, status: str, at: datetime, block: dict) -> dict:
    env = dep.get("environment") if isinstance(dep.get("environment"), dict) else {}
    deployable = dep.get("deployable") if isinstance(dep.get("deployable"), dict) else {}
    commit = deployable.get("commit") if isinstance(deployable.get("commit"), dict) else {}
    user = dep.get("user") if isinstance(dep.get("user"), dict) else {}
    return {
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": hook_time(at),
        "deployment_id": dep["id"],
        "deployable_id": deployable.get("id"),
        "deployable_url": deployable.get("web_url"),
        "environment": env.get("name"),
        "environment_tier": env.get("tier"),
        "environment_slug": env.get("slug"),
        "environment_external_url": env.get("external_url"),
        "project": block,
        "short_sha": dep["sha"][:8],
        "user": _user(user),
        "user_url": user.get("web_url"),
        "commit_url": f"{block.get('web_url')}/-/commit/{dep['sha']}",
        "commit_title": commit.get("title"),
    }


def _labels(labels: Any) -> list[dict]:
    """Hook labels are objects with `title`; the list API gives names (or objects with details)."""
    out = []
    for label in labels if isinstance(labels, list) else []:
        if isinstance(label, str):
            out.append({"title": label})
        elif isinstance(label, dict) and text(label.get("name") or label.get("title")):
            out.append({**label, "title": label.get("title") or label.get("name")})
    return out


class GitLabPuller:
    def __init__(
        self, client: HttpClient, base_url: str, *, per_page: int = 100, max_pages: int = 1000
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.per_page = per_page
        self.max_pages = max_pages
        self._projects: dict[str, tuple[dict, dict]] = {}

    def pull(self, resource: str, project: str, lower: datetime, upper: datetime) -> PullResult:
        handler: Callable[[str, datetime, datetime], PullResult] = getattr(self, f"_{resource}")
        return handler(project, lower, upper)

    def members(self, group: str) -> list[str]:
        """Projects of a group and its subgroups (`GET /groups/:id/projects`), archived ones left out."""
        url = f"{self.base_url}/groups/{quote(str(group), safe='')}/projects"
        query = {
            "include_subgroups": "true",
            "archived": "false",
            "per_page": self.per_page,
            "order_by": "id",
            "sort": "asc",
        }
        projects = []
        for page in iter_link_pages(self.client, url, query, max_pages=self.max_pages):
            for item in page_items(page, "projects"):
                if isinstance(item, dict) and text(item.get("path_with_namespace")):
                    projects.append(item["path_with_namespace"])
        return projects

    def _url(self, project: str, path: str = "") -> str:
        return f"{self.base_url}/projects/{quote(str(project), safe='')}{path}"

    def project(self, project: str) -> tuple[dict, dict]:
        """(`project`, `repository`) hook blocks from GET /projects/:id (revalidated by ETag)."""
        if project not in self._projects:
            data = self.client.get(self._url(project), use_cache=True).data
            if not isinstance(data, dict) or as_int(data.get("id")) is None:
                raise PullDataError(f"GET {self._url(project)}: not a project object")
            namespace = data.get("namespace") if isinstance(data.get("namespace"), dict) else {}
            block = {
                "id": data["id"],
                "name": data.get("name"),
                "description": data.get("description"),
                "web_url": data.get("web_url"),
                "avatar_url": data.get("avatar_url"),
                "git_ssh_url": data.get("ssh_url_to_repo"),
                "git_http_url": data.get("http_url_to_repo"),
                "namespace": namespace.get("name"),
                "visibility_level": data.get("visibility_level"),
                "path_with_namespace": data.get("path_with_namespace"),
                "default_branch": data.get("default_branch"),
                "homepage": data.get("web_url"),
                "url": data.get("ssh_url_to_repo"),
                "ssh_url": data.get("ssh_url_to_repo"),
                "http_url": data.get("http_url_to_repo"),
            }
            repository = {
                "name": data.get("name"),
                "url": data.get("ssh_url_to_repo"),
                "description": data.get("description"),
                "homepage": data.get("web_url"),
            }
            self._projects[project] = (block, repository)
        return self._projects[project]

    def _listing(self, project: str, path: str, lower: datetime, upper: datetime, **params: Any):
        query = {
            "updated_after": iso(lower),
            "updated_before": iso(upper),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": self.per_page,
            **params,
        }
        for page in iter_link_pages(self.client, self._url(project, path), query, max_pages=self.max_pages):
            yield from page_items(page, path.strip("/"))

    # ------------------------------------------------------------------ deployments
    def _deployments(self, project: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        block, _ = self.project(project)
        for dep in self._listing(project, "/deployments", lower, upper):
            updated = parse_time(dep.get("updated_at")) if isinstance(dep, dict) else None
            created = parse_time(dep.get("created_at")) if isinstance(dep, dict) else None
            if (
                updated is None
                or created is None
                or as_int(dep.get("id")) is None
                or not text(dep.get("status"))
                or not text(dep.get("sha"))
            ):
                out.rejects.append(
                    reject_for(
                        PROVIDER,
                        "deployments",
                        str(project),
                        dep,
                        "deployment without id/status/sha/created_at/updated_at",
                    )
                )
                continue
            # One hook per status, as GitLab sends them: its creation, then the current status.
            versions = [("created", created)]
            if dep["status"] != "created":
                versions.append((dep["status"], max(updated, created)))
            for status, at in versions:
                if lower <= at < upper:
                    out.deliveries.append(
                        Delivery(
                            PROVIDER,
                            "Deployment Hook",
                            delivery_id(PROVIDER, "deployment", dep["id"], status),
                            at,
                            _deployment_hook(dep, status, at, block),
                        )
                    )
        return out

    # ------------------------------------------------------------------ merge requests
    def _merge_requests(self, project: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        block, repository = self.project(project)
        for mr in self._listing(project, "/merge_requests", lower, upper, scope="all", state="all"):
            updated = parse_time(mr.get("updated_at")) if isinstance(mr, dict) else None
            if (
                updated is None
                or as_int(mr.get("id")) is None
                or as_int(mr.get("iid")) is None
                or parse_time(mr.get("created_at")) is None
            ):
                out.rejects.append(
                    reject_for(
                        PROVIDER,
                        "merge_requests",
                        str(project),
                        mr,
                        "merge request without id/iid/created_at/updated_at",
                    )
                )
                continue
            if not lower <= updated < upper:
                continue
            state = mr.get("state")
            action = {"merged": "merge", "closed": "close"}.get(state) or (
                "open" if mr.get("created_at") == mr.get("updated_at") else "update"
            )
            labels = _labels(mr.get("labels"))
            attrs = {
                "id": mr["id"],
                "iid": mr["iid"],
                "target_branch": mr.get("target_branch"),
                "source_branch": mr.get("source_branch"),
                "source_project_id": mr.get("source_project_id"),
                "target_project_id": mr.get("target_project_id"),
                "author_id": (mr.get("author") or {}).get("id")
                if isinstance(mr.get("author"), dict)
                else None,
                "title": mr.get("title"),
                "description": mr.get("description"),
                "created_at": mr.get("created_at"),
                "updated_at": mr.get("updated_at"),
                "merged_at": mr.get("merged_at"),
                "closed_at": mr.get("closed_at"),
                "state": state,
                "merge_status": mr.get("merge_status"),
                "merge_commit_sha": mr.get("merge_commit_sha"),
                "squash_commit_sha": mr.get("squash_commit_sha"),
                "url": mr.get("web_url"),
                "last_commit": {"id": mr.get("sha")},
                "labels": labels,
                "action": action,
            }
            body = {
                "object_kind": "merge_request",
                "event_type": "merge_request",
                "user": _user(mr.get("merged_by") or mr.get("author")),
                "project": block,
                "repository": repository,
                "object_attributes": attrs,
                "labels": labels,
            }
            out.deliveries.append(
                Delivery(
                    PROVIDER,
                    "Merge Request Hook",
                    delivery_id(PROVIDER, "merge_request", mr["id"], iso(updated)),
                    updated,
                    body,
                )
            )
        return out

    # ------------------------------------------------------------------ issues / incidents
    def _issues(self, project: str, lower: datetime, upper: datetime) -> PullResult:
        out = PullResult()
        block, repository = self.project(project)
        for issue in self._listing(project, "/issues", lower, upper, scope="all"):
            updated = parse_time(issue.get("updated_at")) if isinstance(issue, dict) else None
            created = parse_time(issue.get("created_at")) if isinstance(issue, dict) else None
            if (
                updated is None
                or created is None
                or as_int(issue.get("id")) is None
                or as_int(issue.get("iid")) is None
            ):
                out.rejects.append(
                    reject_for(
                        PROVIDER, "issues", str(project), issue, "issue without id/iid/created_at/updated_at"
                    )
                )
                continue
            labels = _labels(issue.get("labels"))
            kind = str(issue.get("issue_type") or issue.get("type") or "issue").lower()
            closed = parse_time(issue.get("closed_at"))
            versions = [("open", created, delivery_id(PROVIDER, "issue", issue["id"], "opened"))]
            if issue.get("state") == "closed" and closed is not None:
                versions.append(
                    ("close", closed, delivery_id(PROVIDER, "issue", issue["id"], "closed", iso(closed)))
                )
            versions.append(("update", updated, delivery_id(PROVIDER, "issue", issue["id"], iso(updated))))
            for action, at, ident in versions:
                attrs = {
                    "id": issue["id"],
                    "iid": issue["iid"],
                    "title": issue.get("title"),
                    "description": issue.get("description"),
                    "project_id": issue.get("project_id"),
                    "author_id": (issue.get("author") or {}).get("id")
                    if isinstance(issue.get("author"), dict)
                    else None,
                    "created_at": issue.get("created_at"),
                    "updated_at": issue.get("updated_at"),
                    "closed_at": issue.get("closed_at"),
                    "state": issue.get("state"),
                    "type": "Incident" if kind == "incident" else "Issue",
                    "url": issue.get("web_url"),
                    "confidential": issue.get("confidential"),
                    "severity": issue.get("severity"),
                    "labels": labels,
                    "action": action,
                }
                out.deliveries.append(
                    Delivery(
                        PROVIDER,
                        "Issue Hook",
                        ident,
                        at,
                        {
                            "object_kind": "issue",
                            "event_type": "issue",
                            "user": _user(issue.get("author")),
                            "project": block,
                            "repository": repository,
                            "object_attributes": attrs,
                            "labels": labels,
                        },
                    )
                )
        return out
