"""Generic: deployments and incidents from any tool that posts our documented JSON (docs/sources.md).

Modules: webhook.py (HMAC or bearer), schema.py (the body contract), silver.py (the Silver mappings and
the synthetic main line of a deployment's `changes`), lineage.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.generic import silver
from devmetrics_assets.providers.generic.lineage import lineage_keys
from devmetrics_assets.providers.generic.webhook import WEBHOOK
from devmetrics_assets.providers.interface import Provider, SilverContext, SilverMapping
from devmetrics_assets.transforms.changes_model import direct_changes, finish_changes
from devmetrics_assets.transforms.normalised import normalise_time
from devmetrics_assets.transforms.payloads import as_day, utc_day
from devmetrics_assets.transforms.quarantine import bronze_rejects, empty_rejects, in_window


def _anchor(event_type: str, body: dict) -> Any:
    """generic deployment → created_at; generic incident → opened_at (created_at accepted)."""
    if not isinstance(body, dict):
        return None
    if event_type == "deployment":
        return normalise_time(body.get("created_at"))
    if event_type == "incident":
        return normalise_time(body.get("opened_at") or body.get("created_at"))
    return None


def _mainline(rows: pd.DataFrame, rules: DoraRules, known: frozenset[str]) -> pd.DataFrame:
    """Deployments listing `changes` act as pushes, for repos no other provider knows."""
    deps, _, _, changes = silver.parse_deployments(rows, rules)
    return silver.synthetic_mainline(deps, changes, set(known))


def _changes(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    known = ctx.known_repos("generic") if ctx.known_repos else set()
    ml = _mainline(rows, ctx.rules, frozenset(known))
    direct = direct_changes(ml[in_window(utc_day(ml["pushed_at"]), ctx.start, ctx.end)])
    # A generic tool has no issue tracker: its `Fixes #N` can name no incident (never a hotfix here).
    return finish_changes(direct, ml, set(), ctx.start, ctx.end), empty_rejects()


def _deployments(rows: pd.DataFrame, rules: DoraRules, end: pd.Timestamp):
    if "event_day" in rows:
        rows = rows[as_day(rows["event_day"]) < end].reset_index(drop=True)
    deps, stats, reasons, _ = silver.parse_deployments(rows, rules)
    return deps, stats, bronze_rejects(rows, reasons)


def _incidents(rows: pd.DataFrame, ctx: SilverContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    return silver.build_incidents(rows, ctx.mainline(), ctx.rules, ctx.start, ctx.end)


PROVIDER = Provider(
    name="generic",
    title="generic JSON",
    webhook=WEBHOOK,
    anchor=_anchor,
    silver=SilverMapping(
        events={"mainline": ("deployment",), "changes": ("deployment",), "deployments": ("deployment",),
                "incidents": ("incident",)},
        mainline=_mainline,
        changes=_changes,
        deployments=_deployments,
        incidents=_incidents,
        deployments_are_mainline=True,
    ),
    lineage_keys=lineage_keys,
    scope_keys={"repos": "list", "services": "list"},
)
