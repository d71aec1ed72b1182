"""PagerDuty: v3 webhooks and REST pulls of incidents and their notes (incidents only).

Modules: webhook.py (X-PagerDuty-Signature), pull.py (REST API), incidents.py (the Silver mapping),
lineage.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from devmetrics_assets.providers.interface import ApiPull, Provider, SilverContext, SilverMapping
from devmetrics_assets.providers.pagerduty import incidents, pull
from devmetrics_assets.providers.pagerduty.lineage import lineage_keys
from devmetrics_assets.providers.pagerduty.webhook import WEBHOOK
from devmetrics_assets.sources.pull.http import HttpClient
from devmetrics_assets.transforms.normalised import normalise_time


def _anchor(event_type: str, body: dict) -> Any:
    return normalise_time(incidents.anchor_value(event_type, body)) if isinstance(body, dict) else None


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return incidents.build_incidents(rows, ctx.mainline(), ctx.rules, ctx.start, ctx.end)


def _auth_headers(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/vnd.pagerduty+json;version=2"}
    if token:
        headers["Authorization"] = f"Token token={token}"
    return headers


def _puller(client: HttpClient, options: Any) -> pull.PagerDutyPuller:
    return pull.PagerDutyPuller(
        client, options.base_url, limit=min(options.page_size, 100), max_pages=options.max_pages,
        incident_lookback=timedelta(days=options.extra["incident_lookback_days"]),
        service_ids=options.extra["service_ids"], team_ids=options.extra["team_ids"],
    )


PROVIDER = Provider(
    name="pagerduty",
    title="PagerDuty",
    webhook=WEBHOOK,
    anchor=_anchor,
    # Notes carry no incident time and anchor on their received day: Silver reads them from the window on.
    silver=SilverMapping(events={"incidents": incidents.EVENTS}, incidents=_incidents,
                         incidents_open_ended=True),
    lineage_keys=lineage_keys,
    scope_keys={"services": "list"},
    api=ApiPull(
        source_type="pagerduty_api", resources=pull.RESOURCES, base_url="https://api.pagerduty.com",
        token_env="PAGERDUTY_TOKEN", auth_headers=_auth_headers, make_puller=_puller,
        extra={"incident_lookback_days": 30, "service_ids": [], "team_ids": []},
        extra_from_scope={"service_ids": "services"},
    ),
)
