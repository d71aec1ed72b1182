"""Jira Cloud: issues as incidents, from `jira:issue_*` webhooks and REST pulls (incidents only).

Modules: webhook.py (X-Hub-Signature), pull.py (REST search), rules.py (`providers: {jira: ...}`),
incidents.py (the Silver mapping), lineage.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.providers.interface import ApiPull, Provider, SilverContext, SilverMapping
from devmetrics_assets.providers.jira import incidents, pull
from devmetrics_assets.providers.jira.lineage import lineage_keys
from devmetrics_assets.providers.jira.rules import parse_rules
from devmetrics_assets.providers.jira.webhook import WEBHOOK
from devmetrics_assets.transforms.normalised import normalise_time


def _anchor(event_type: str, body: dict) -> Any:
    return normalise_time(incidents.anchor_value(event_type, body)) if isinstance(body, dict) else None


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return incidents.build_incidents(rows, ctx.mainline(), ctx.rules, ctx.start, ctx.end)


PROVIDER = Provider(
    name="jira",
    title="Jira",
    webhook=WEBHOOK,
    anchor=_anchor,
    # Every delivery carries the issue's created time: all of an incident's rows share its opening day.
    silver=SilverMapping(events={"incidents": incidents.EVENTS}, incidents=_incidents),
    lineage_keys=lineage_keys,
    scope_keys={"projects": "list"},
    api=ApiPull(
        source_type="jira_api", resources=pull.RESOURCES, base_url=pull.PLACEHOLDER_URL,
        token_env="JIRA_API_TOKEN", auth_headers=pull.auth_headers, make_puller=pull.make_puller,
        scope_option="projects", required_scope=("projects",),
    ),
    # Issue ids are not what a `Closes #N` names: incident ids are `<repo>#jira-<issue id>`.
    issue_tracker=False,
    parse_rules=parse_rules,
)
