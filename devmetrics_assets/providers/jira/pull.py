"""Jira Cloud REST (v3) issues → `jira:issue_updated` webhook-shaped deliveries.

`GET /rest/api/3/search/jql?jql=&nextPageToken=&maxResults=&fields=*all&expand=changelog`
(https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get):
the enhanced search, paginated by `nextPageToken` (absent or `isLast: true` on the last page; the old
`startAt` search is retired). One unit per project key (sources.yaml `scope: {projects: [OPS, ...]}`):
`project = "<KEY>" AND updated >= "<lower>" AND updated < "<upper>" ORDER BY updated ASC`.
JQL dates have minute precision and are read in the API user's time zone, which the query cannot name,
so the range is widened by a day on both sides and each issue is kept by its exact `fields.updated`
(the reader keeps deliveries whose version time is in the range).

Each issue becomes one delivery, as a webhook would have carried it: `{"timestamp": <updated, epoch
ms>, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic", "issue": <issue
with fields and changelog>}`, delivery id `api:jira:issue:<id>:<updated>` (the same version pulled twice
is stored once). `fields=*all` because the enhanced search returns only ids by default; `changelog`
gives the status transitions between pulls (reopens; incidents.py).

Auth (Jira Cloud basic auth with an API token,
https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/): the variable named by
`token_env` (default JIRA_API_TOKEN) holds the API token and JIRA_EMAIL the account's email; the token
variable may instead hold `email:api-token` (one variable per source). Neither is ever logged.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import datetime, timedelta
from typing import Any

from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.sources.pull.pagination import PaginationError
from devmetrics_assets.sources.pull.records import (
    Delivery,
    PullDataError,
    PullResult,
    delivery_id,
    iso,
    parse_time,
    reject_for,
)

PROVIDER = "jira"
RESOURCES = ("issues",)
SEARCH_PATH = "/rest/api/3/search/jql"
EMAIL_ENV = "JIRA_EMAIL"
PLACEHOLDER_URL = "https://your-site.atlassian.net"
# Jira caps a page of issues with all fields at 100.
MAX_PAGE = 100
# JQL dates are in the API user's time zone (at most 14 h from UTC) and minute-truncated.
SLACK = timedelta(days=1)
PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def auth_headers(token: str | None) -> dict[str, str]:
    """Basic auth with `email:api-token` (module docstring); no token: anonymous (public sites)."""
    if not token:
        return {}
    if ":" in token:
        credentials = token
    else:
        email = os.environ.get(EMAIL_ENV, "").strip()
        if not email:
            raise ValueError(f"jira_api: set {EMAIL_ENV} to the Atlassian account's email (the API token "
                             "authenticates together with it), or put 'email:api-token' in the token "
                             "variable")
        credentials = f"{email}:{token}"
    encoded = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {encoded}", "Accept": "application/json"}


def jql_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def query(project: str, lower: datetime, upper: datetime) -> str:
    return (f'project = "{project}" AND updated >= "{jql_time(lower - SLACK)}" '
            f'AND updated < "{jql_time(upper + SLACK)}" ORDER BY updated ASC')


def as_delivery(issue: Any, project: str, out: PullResult) -> Delivery | None:
    """The webhook-shaped delivery of one issue, or None with a reject in `out`."""
    fields = issue.get("fields") if isinstance(issue, dict) else None
    issue_id = str(issue.get("id", "")).strip() if isinstance(issue, dict) else ""
    updated = parse_time(fields.get("updated")) if isinstance(fields, dict) else None
    if not issue_id.isdigit() or updated is None or not fields.get("created"):
        out.rejects.append(reject_for(PROVIDER, "issues", project, issue,
                                      "issue without a numeric id, fields.created or fields.updated"))
        return None
    body = {
        "timestamp": int(updated.timestamp() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "issue": issue,
    }
    ident = delivery_id(PROVIDER, "issue", issue_id, iso(updated))
    return Delivery(PROVIDER, "jira:issue_updated", ident, updated, body)


class JiraPuller:
    def __init__(self, client: HttpClient, base_url: str, *, page_size: int = MAX_PAGE,
                 max_pages: int = 1000) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.max_pages = max_pages

    def members(self, group: str) -> list[str]:
        return []

    def pull(self, resource: str, scope: str, lower: datetime, upper: datetime) -> PullResult:
        if resource != "issues":
            raise ValueError(f"jira: unknown resource {resource!r}")
        out = PullResult()
        url = f"{self.base_url}{SEARCH_PATH}"
        params: dict[str, Any] = {"jql": query(scope, lower, upper), "maxResults": self.page_size,
                                  "fields": "*all", "expand": "changelog"}
        seen: set[str] = set()
        for _ in range(self.max_pages):
            response = self.client.get(url, params)
            data = response.data
            if not isinstance(data, dict) or not isinstance(data.get("issues"), list):
                raise PullDataError(f"{response.url}: response has no 'issues' list")
            for issue in data["issues"]:
                delivery = as_delivery(issue, scope, out)
                if delivery is not None:
                    out.deliveries.append(delivery)
            token = data.get("nextPageToken")
            if data.get("isLast") is True or not isinstance(token, str) or not token:
                return out
            if token in seen:
                raise PaginationError(f"{url}: nextPageToken repeats; refusing to loop")
            seen.add(token)
            params = {**params, "nextPageToken": token}
        raise PaginationError(f"{url}: more than max_pages={self.max_pages} pages; raise max_pages or "
                              "pull a shorter range")


def make_puller(client: HttpClient, options: Any) -> JiraPuller:
    if options.base_url.rstrip("/") == PLACEHOLDER_URL:
        raise ValueError("jira_api: set options.base_url to your Jira site (https://<site>.atlassian.net)")
    bad = [s for s in options.scopes if not PROJECT_KEY.match(s)]
    if bad:
        raise ValueError(f"jira_api: projects must be Jira project keys (letters, digits, _), got {bad}")
    return JiraPuller(client, options.base_url, page_size=options.page_size, max_pages=options.max_pages)
