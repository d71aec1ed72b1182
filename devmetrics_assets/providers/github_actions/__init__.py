"""GitHub Actions: deployments from CI workflow runs, for teams that never call the Deployments API.

Modules: webhook.py (X-Hub-Signature-256, like every GitHub webhook), rules.py (the `providers:
{github_actions: ...}` rules: which workflows deploy, production branches, conclusions), deployments.py
(workflow_run → the normalised deployment shapes), pull.py (REST `actions/runs`), lineage.py.
There is no main-line mapper: main line and changes come from the same repo's `github` pushes and pull
requests, and the shared rules (releases, rollbacks, shipped changes) run over both providers at once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github_actions import pull
from devmetrics_assets.providers.github_actions.deployments import WORKFLOW_JOB, WORKFLOW_RUN, parse_runs
from devmetrics_assets.providers.github_actions.lineage import lineage_keys
from devmetrics_assets.providers.github_actions.rules import parse_rules
from devmetrics_assets.providers.github_actions.webhook import WEBHOOK
from devmetrics_assets.providers.interface import ApiPull, Provider, SilverMapping
from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.transforms.normalised import normalise_time
from devmetrics_assets.transforms.payloads import as_day
from devmetrics_assets.transforms.quarantine import bronze_rejects

NAME = "github_actions"


def _anchor(event_type: str, body: dict) -> Any:
    """A run anchors on its created_at: every attempt and status of a run files under the same day."""
    if not isinstance(body, dict):
        return None
    obj = body.get(event_type) if event_type in (WORKFLOW_RUN, WORKFLOW_JOB) else None
    return normalise_time(obj.get("created_at")) if isinstance(obj, dict) else None


def _deployments(rows: pd.DataFrame, rules: DoraRules, end: pd.Timestamp):
    if "event_day" in rows:  # statuses anchor on their run's day: rows up to `end` suffice
        rows = rows[as_day(rows["event_day"]) < end].reset_index(drop=True)
    deps, stats, reasons = parse_runs(rows, rules, parse_rules(rules.provider_rules.get(NAME, {})))
    return deps, stats, bronze_rejects(rows, reasons)


def _auth_headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _puller(client: HttpClient, options: Any) -> pull.ActionsPuller:
    return pull.ActionsPuller(client, options.base_url, per_page=options.page_size,
                              max_pages=options.max_pages,
                              run_lookback=timedelta(days=options.extra["run_lookback_days"]))


PROVIDER = Provider(
    name=NAME,
    title="GitHub Actions",
    webhook=WEBHOOK,
    anchor=_anchor,
    silver=SilverMapping(events={"deployments": (WORKFLOW_RUN,)}, deployments=_deployments),
    lineage_keys=lineage_keys,
    scope_keys={"org": "str", "repos": "repo_list"},
    api=ApiPull(
        source_type="github_actions_api", resources=pull.RESOURCES, base_url="https://api.github.com",
        token_env="GITHUB_TOKEN", auth_headers=_auth_headers, make_puller=_puller, scope_option="repos",
        group_option="org", extra={"run_lookback_days": 14}, required_scope=("org", "repos"),
    ),
    parse_rules=parse_rules,
)
