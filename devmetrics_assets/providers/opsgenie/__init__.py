"""Opsgenie: outgoing-webhook alert actions and Alert API pulls (incidents only).

Modules: webhook.py (Authorization: Bearer shared token, derived delivery ids), pull.py (Alert API),
rules.py (`providers: {opsgenie: ...}`), incidents.py (the Silver mapping), lineage.py.
Opsgenie Incident Management incidents are read through their alerts (the Incident API is not pulled;
its `Reopen` action name is understood when a body carries it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.providers.interface import ApiPull, Provider, SilverContext, SilverMapping
from devmetrics_assets.providers.opsgenie import incidents, pull
from devmetrics_assets.providers.opsgenie.lineage import lineage_keys
from devmetrics_assets.providers.opsgenie.rules import parse_rules
from devmetrics_assets.providers.opsgenie.webhook import WEBHOOK
from devmetrics_assets.sources.pull.http import HttpClient


def _anchor(event_type: str, body: dict) -> Any:
    return incidents.anchor_value(event_type, body) if isinstance(body, dict) else None


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return incidents.build_incidents(rows, ctx.mainline(), ctx.rules, ctx.start, ctx.end)


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"GenieKey {token}"} if token else {}


def _puller(client: HttpClient, options: Any) -> pull.OpsgeniePuller:
    return pull.OpsgeniePuller(
        client,
        options.base_url,
        limit=min(options.page_size, 100),
        max_pages=options.max_pages,
        fetch_details=options.extra["fetch_details"],
        fetch_notes=options.extra["fetch_notes"],
    )


PROVIDER = Provider(
    name="opsgenie",
    title="Opsgenie",
    webhook=WEBHOOK,
    anchor=_anchor,
    # Every action carries the alert's createdAt: all of an alert's rows share its creation day.
    silver=SilverMapping(events={"incidents": incidents.EVENTS}, incidents=_incidents),
    lineage_keys=lineage_keys,
    scope_keys={"teams": "list"},
    api=ApiPull(
        source_type="opsgenie_api",
        resources=pull.RESOURCES,
        base_url="https://api.opsgenie.com",
        token_env="OPSGENIE_API_KEY",
        auth_headers=_auth_headers,
        make_puller=_puller,
        scope_option="teams",
        required_scope=("teams",),
        extra={"fetch_details": True, "fetch_notes": True},
    ),
    parse_rules=parse_rules,
)
