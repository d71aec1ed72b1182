"""GitLab: webhooks (Push, Merge Request, Deployment, Issue and Note Hooks) and REST pulls.

Modules: webhook.py (X-Gitlab-Token), pull.py (REST API), silver.py (event types and anchors),
mainline.py, changes.py, deployments.py, incidents.py (the Silver mappings), lineage.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.gitlab import pull, silver
from devmetrics_assets.providers.gitlab.lineage import lineage_keys
from devmetrics_assets.providers.gitlab.webhook import WEBHOOK
from devmetrics_assets.providers.interface import ApiPull, Provider, SilverContext, SilverMapping
from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.transforms.payloads import utc_day
from devmetrics_assets.transforms.quarantine import bronze_rejects
from devmetrics_assets.transforms.reviews import GITLAB_NOTE, GITLAB_REVIEW_EVENTS, gitlab_reviews


def _mainline(rows: pd.DataFrame, rules: DoraRules, known: frozenset[str]) -> pd.DataFrame:
    return silver.load_mainline(rows)[2]


def _changes(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return silver.build_changes(rows, ctx.start, ctx.end, ctx.incident_keys)


def _deployments(rows: pd.DataFrame, rules: DoraRules, end: pd.Timestamp):
    # Statuses anchor on their own time, so rows run one day past `end`; deployments are cut on created_at.
    deps, stats, reasons = silver.parse_deployments(rows)
    return deps[utc_day(deps["created_at"]) < end], stats, bronze_rejects(rows, reasons)


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return silver.build_incidents(rows, ctx.mainline(), ctx.rules, ctx.start, ctx.end)


def _incident_keys(rows: pd.DataFrame, rules: DoraRules) -> set[tuple[str, int]]:
    events, _ = silver.parse_incident_events(rows.reset_index(drop=True), rules)
    return {(r, int(n)) for r, n in zip(events["repo"], events["number"], strict=True)}


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"PRIVATE-TOKEN": token} if token else {}


def _puller(client: HttpClient, options: Any) -> pull.GitLabPuller:
    return pull.GitLabPuller(client, options.base_url, per_page=options.page_size,
                             max_pages=options.max_pages)


PROVIDER = Provider(
    name="gitlab",
    title="GitLab",
    webhook=WEBHOOK,
    anchor=silver.anchor_value,
    silver=SilverMapping(
        # Approvals are Merge Request Hooks (main-line events already); notes on merge requests are reviews.
        events={"mainline": silver.MAINLINE_EVENTS, "changes": (*silver.MAINLINE_EVENTS, GITLAB_NOTE),
                "deployments": silver.DEPLOYMENT_EVENTS, "incidents": silver.INCIDENT_EVENTS},
        mainline=_mainline,
        changes=_changes,
        deployments=_deployments,
        incidents=_incidents,
        incident_keys=_incident_keys,
        reviews=gitlab_reviews,
        review_events=GITLAB_REVIEW_EVENTS,
    ),
    lineage_keys=lineage_keys,
    scope_keys={"group": "str", "projects": "list"},
    api=ApiPull(
        source_type="gitlab_api", resources=pull.RESOURCES, base_url="https://gitlab.com/api/v4",
        token_env="GITLAB_TOKEN", auth_headers=_auth_headers, make_puller=_puller, scope_option="projects",
        group_option="group", required_scope=("group", "projects"),
    ),
    issue_tracker=True,
)
