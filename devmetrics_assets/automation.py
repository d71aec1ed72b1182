"""Freshness policies and declarative automation per layer (filled in by the trust layer, issue 4).

The layers ask this module for their policy and condition, so the rules live in one place.
`None` means "none declared".
"""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.sources.registry import SourceSpec


def bronze_freshness_policy(spec: SourceSpec) -> dg.FreshnessPolicy | None:
    return None


def freshness_policy(layer: str) -> dg.FreshnessPolicy | None:
    return None


def automation_condition(layer: str) -> dg.AutomationCondition | None:
    return None
