"""GitHub: webhooks and REST pulls of pushes, pull requests, reviews, deployments and issues.

Modules: webhook.py (X-Hub-Signature-256), pull.py / pull_issues.py (REST API), recorded_jsonl.py
(recorded deliveries as JSONL), anchors.py, mainline.py, changes.py, deployments.py, incidents.py (the
Silver mappings), lineage.py, realtime.py (failed deployments, rollbacks and incidents as they happen).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github import pull
from devmetrics_assets.providers.github.anchors import event_anchor_value
from devmetrics_assets.providers.github.changes import build_silver_changes
from devmetrics_assets.providers.github.deployments import parse_deployments
from devmetrics_assets.providers.github.incidents import build_silver_incidents, github_incident_keys
from devmetrics_assets.providers.github.lineage import lineage_keys
from devmetrics_assets.providers.github.mainline import mainline_from_deliveries
from devmetrics_assets.providers.github.realtime import GitHubClassifier
from devmetrics_assets.providers.github.recorded_jsonl import read_github_jsonl
from devmetrics_assets.providers.github.webhook import WEBHOOK
from devmetrics_assets.providers.interface import ApiPull, Provider, SilverContext, SilverMapping
from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.transforms.payloads import as_day
from devmetrics_assets.transforms.quarantine import bronze_rejects
from devmetrics_assets.transforms.reviews import GITHUB_REVIEW, github_reviews

MAINLINE = ("push", "pull_request")
NO_DELIVERIES = pd.DataFrame({"event_type": pd.Series([], dtype="str"), "body": pd.Series([], dtype="str")})


def _mainline(rows: pd.DataFrame, rules: DoraRules, known: frozenset[str]) -> pd.DataFrame:
    return mainline_from_deliveries(rows)


def _changes(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_silver_changes(rows, ctx.rules, ctx.start, ctx.end, ctx.incident_keys)


def _deployments(rows: pd.DataFrame, rules: DoraRules, end: pd.Timestamp):
    if "event_day" in rows:  # statuses anchor on their deployment's day: rows up to `end` suffice
        rows = rows[as_day(rows["event_day"]) < end].reset_index(drop=True)
    deps, stats, reasons = parse_deployments(rows)
    return deps, stats, bronze_rejects(rows, reasons)


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Root-cause shas resolve against GitHub's own main line (what the issue's repo pushed).
    mainline = ctx.mainline_rows.get("github")
    return build_silver_incidents(rows, NO_DELIVERIES if mainline is None else mainline, ctx.rules,
                                  ctx.start, ctx.end)


def _auth_headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _puller(client: HttpClient, options: Any) -> pull.GitHubPuller:
    return pull.GitHubPuller(client, options.base_url, per_page=options.page_size,
                             max_pages=options.max_pages,
                             deployment_lookback=timedelta(days=options.extra["deployment_lookback_days"]),
                             pull_commits=options.extra["pull_commits"])


PROVIDER = Provider(
    name="github",
    title="GitHub",
    webhook=WEBHOOK,
    anchor=event_anchor_value,
    silver=SilverMapping(
        events={"mainline": MAINLINE, "changes": (*MAINLINE, GITHUB_REVIEW),
                "deployments": ("deployment", "deployment_status"), "incidents": ("issues", "issue_comment")},
        mainline=_mainline,
        changes=_changes,
        deployments=_deployments,
        incidents=_incidents,
        incident_keys=github_incident_keys,
        reviews=github_reviews,
        review_events=(GITHUB_REVIEW,),
    ),
    lineage_keys=lineage_keys,
    scope_keys={"org": "str", "repos": "repo_list"},
    api=ApiPull(
        source_type="github_api", resources=pull.RESOURCES, base_url="https://api.github.com",
        token_env="GITHUB_TOKEN", auth_headers=_auth_headers, make_puller=_puller, scope_option="repos",
        group_option="org", extra={"deployment_lookback_days": 14, "pull_commits": True},
        required_scope=("org", "repos"),
    ),
    classifier=GitHubClassifier,
    issue_tracker=True,
    readers={"github_jsonl": read_github_jsonl},
)
