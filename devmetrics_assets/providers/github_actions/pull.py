"""GitHub Actions REST → webhook-shaped `workflow_run` deliveries, one repository at a time.

`GET /repos/{owner}/{repo}/actions/runs?created=>=<since>&per_page=&exclude_pull_requests=true` (Link
pagination; the body is `{"total_count", "workflow_runs": [...]}`, newest first).
https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-repository
The list filters on the run's CREATION time while a run changes later (it completes, it is re-run), so a
range is listed from `since - run_lookback` and a run is kept when its `updated_at` (its version) falls in
the range. Each completed run lands as the `completed` action a webhook would have sent:
`{"action": "completed", "workflow_run": <run>, "workflow": {id, name, path}, "repository": <GET /repos/{r}>}`
with delivery id `api:github_actions:workflow_run:<id>:<attempt>:completed:<updated_at>`. A re-run lists its
latest attempt only, so earlier attempts are read from `.../actions/runs/{id}/attempts/{n}` (their own
conclusion and start). Runs not completed yet are left for a later pull (their updated_at moves when they
complete). Every run lands, deploying or not: rules.py decides in Silver which runs deploy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.sources.pull.pagination import PaginationError, iter_link_pages, page_items
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

PROVIDER = "github_actions"
RESOURCES = ("workflow_runs",)
_REPO_KEYS = ("id", "node_id", "name", "full_name", "private", "owner", "html_url", "description", "fork",
              "url", "default_branch", "visibility")


class ActionsPuller:
    def __init__(self, client: HttpClient, base_url: str, *, per_page: int = 100, max_pages: int = 1000,
                 run_lookback: timedelta = timedelta(days=14)) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.per_page = min(per_page, 100)  # the documented maximum
        self.max_pages = max_pages
        self.run_lookback = run_lookback
        self._repos: dict[str, dict] = {}

    def members(self, org: str) -> list[str]:
        """Repositories of an organisation (`GET /orgs/{org}/repos`), archived ones left out."""
        url = f"{self.base_url}/orgs/{quote(org, safe='')}/repos"
        repos = []
        for page in iter_link_pages(self.client, url, {"per_page": self.per_page, "type": "all"},
                                    max_pages=self.max_pages):
            for item in page_items(page, "repositories"):
                if isinstance(item, dict) and text(item.get("full_name")) and not item.get("archived"):
                    repos.append(item["full_name"])
        return repos

    def pull(self, resource: str, repo: str, lower: datetime, upper: datetime) -> PullResult:
        if resource != "workflow_runs":
            raise ValueError(f"github_actions: unknown resource {resource!r}")
        out = PullResult()
        since = iso(lower - self.run_lookback)
        params = {"created": f">={since}", "per_page": self.per_page, "exclude_pull_requests": "true"}
        for page in iter_link_pages(self.client, self._url(repo, "/actions/runs"), params,
                                    max_pages=self.max_pages):
            data = page.data
            if not isinstance(data, dict) or not isinstance(data.get("workflow_runs"), list):
                raise PaginationError(f"{page.url}: response has no 'workflow_runs' list")
            for run in data["workflow_runs"]:
                self._run(repo, run, lower, upper, out)
        return out

    # ------------------------------------------------------------------ helpers
    def _url(self, repo: str, path: str = "") -> str:
        return f"{self.base_url}/repos/{quote(repo, safe='/')}{path}"

    def repository(self, repo: str) -> dict:
        """The webhook `repository` block (the run's own `repository` lacks default_branch)."""
        if repo not in self._repos:
            data = self.client.get(self._url(repo), use_cache=True).data
            if not isinstance(data, dict) or not text(data.get("full_name")):
                raise PullDataError(f"GET {self._url(repo)}: not a repository object")
            block = {k: data[k] for k in _REPO_KEYS if k in data}
            owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
            block["owner"] = {k: owner[k] for k in ("login", "id", "type") if k in owner}
            self._repos[repo] = block
        return self._repos[repo]

    def _run(self, repo: str, run: Any, lower: datetime, upper: datetime, out: PullResult) -> None:
        updated = parse_time(run.get("updated_at")) if isinstance(run, dict) else None
        if (updated is None or as_int(run.get("id")) is None or not text(run.get("head_sha"))
                or parse_time(run.get("created_at")) is None):
            out.rejects.append(reject_for(PROVIDER, "workflow_runs", repo, run,
                                          "workflow run without id/head_sha/created_at/updated_at"))
            return
        if run.get("status") != "completed" or not lower <= updated < upper:
            return
        out.deliveries.append(self._delivery(repo, run, updated))
        attempt = as_int(run.get("run_attempt")) or 1
        for n in range(1, attempt):
            url = self._url(repo, f"/actions/runs/{run['id']}/attempts/{n}")
            earlier = self.client.get(url, {"exclude_pull_requests": "true"}, use_cache=True).data
            at = parse_time(earlier.get("updated_at")) if isinstance(earlier, dict) else None
            if at is None or earlier.get("status") != "completed":
                out.rejects.append(reject_for(PROVIDER, "workflow_runs", repo, earlier,
                                              f"attempt {n} of run {run['id']} is not a completed run"))
                continue
            out.deliveries.append(self._delivery(repo, earlier, at))

    def _delivery(self, repo: str, run: dict, updated: datetime) -> Delivery:
        attempt = as_int(run.get("run_attempt")) or 1
        body = {
            "action": "completed",
            "workflow_run": run,
            "workflow": {"id": run.get("workflow_id"), "name": run.get("name"), "path": run.get("path")},
            "repository": self.repository(repo),
            "sender": run.get("triggering_actor") or run.get("actor"),
        }
        ident = delivery_id(PROVIDER, "workflow_run", run["id"], attempt, "completed", iso(updated))
        # The reader keeps a delivery whose version is in the pulled range: an earlier attempt keeps its own
        # updated_at (before the range it was landed by the pull that saw it complete).
        return Delivery(PROVIDER, "workflow_run", ident, updated, body)
