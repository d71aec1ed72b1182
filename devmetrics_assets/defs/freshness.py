"""Freshness policies per source tier: how stale each layer may get before the UI and the checks say so.

Freshness: Bronze gets a time-window policy from its source's tier (near_real_time fails after 15 min,
hourly after 1 h, daily after 26 h; warns at half). Silver and Gold inherit the strictest tier of their
inputs plus processing slack. The freshness daemon is not partition-aware and cannot be driven by a test
clock, so Bronze also carries a `freshness` asset check (checks/bronze_checks.py) the notifier acts on.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import timedelta

import dagster as dg

from devmetrics_assets.checks.validations import TIER_FAIL_WINDOWS, tier_windows
from devmetrics_assets.sources.registry import SourceSpec

DEFAULT_TIER = "daily"  # SourceSpec's default: used until the definitions pass the real sources
# Processing slack on top of the strictest input tier, cumulative: Silver waits for Bronze, Gold for Silver.
PROCESSING_SLACK = {"silver": timedelta(minutes=30), "gold": timedelta(hours=1)}
GRAIN_PERIOD = {"day": timedelta(0), "week": timedelta(days=7), "month": timedelta(days=31)}


def _policy(fail: timedelta) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=fail / 2)


def strictest_tier(tiers: Iterable[str]) -> str:
    """The tier with the shortest fail window (near_real_time < hourly < daily)."""
    given = list(tiers) or [DEFAULT_TIER]
    for tier in given:
        tier_windows(tier)  # unknown tiers fail loudly
    return min(given, key=lambda t: TIER_FAIL_WINDOWS[t])


def layer_fail_window(layer: str, tiers: Iterable[str] = (), grain: str = "day") -> timedelta:
    """Fail window of a layer: its strictest input tier plus the processing slack up to that layer.

    A weekly / monthly Gold asset is only rebuilt once its period has closed (or late data touches
    it), so its window adds the period length to the daily one.
    """
    fail, _ = tier_windows(strictest_tier(tiers))
    if layer == "bronze":
        return fail
    if layer == "silver":
        return fail + PROCESSING_SLACK["silver"]
    if layer == "gold":
        if grain not in GRAIN_PERIOD:
            raise ValueError(f"unknown Gold grain {grain!r}; known: {list(GRAIN_PERIOD)}")
        return fail + PROCESSING_SLACK["silver"] + PROCESSING_SLACK["gold"] + GRAIN_PERIOD[grain]
    raise ValueError(f"unknown layer {layer!r}")


def bronze_freshness_policy(spec: SourceSpec) -> dg.FreshnessPolicy | None:
    return _policy(layer_fail_window("bronze", [spec.tier]))


def freshness_policy(
    layer: str, tiers: Iterable[str] | None = None, grain: str | None = None
) -> dg.FreshnessPolicy | None:
    """Silver/Gold policy from the strictest tier of `tiers` (default: the default source tier).

    The layers call this with the layer only. Silver gets its policy right away; Gold gets None there
    because its window depends on the grain, which the hook is not told: `with_tier_freshness(defs,
    sources)` applies every Silver and Gold policy with the real sources' tiers and each Gold grain.
    """
    if layer == "gold" and grain is None:
        return None
    return _policy(layer_fail_window(layer, tiers or [DEFAULT_TIER], grain or "day"))


def with_tier_freshness(defs: dg.Definitions, sources: Sequence[SourceSpec]) -> dg.Definitions:
    """`defs` with Silver and Gold freshness derived from the configured sources' tiers (and Gold grain)."""
    tiers = [s.tier for s in sources]

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        grain = str(spec.metadata.get("grain", "day"))
        policy = freshness_policy(spec.group_name or "", tiers, grain=grain)
        return spec.replace_attributes(freshness_policy=policy)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # map_resolved_asset_specs is marked preview
        return defs.map_resolved_asset_specs(func=apply, selection=dg.AssetSelection.groups("silver", "gold"))
