"""Silver references: what one Silver table says about another must resolve (pure, no Dagster).

A deployment lists the changes it shipped and an incident may name the commit that caused it; Gold's
lead times and change-failure attribution join on those ids, so an id that resolves to nothing makes
a metric silently wrong rather than failing. These validations count and sample the dangling ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation

FULL_SHA_LEN = 40


def split_list(values: pd.Series) -> pd.Series:
    """Comma lists exploded to one value per row (index kept), empty lists dropped."""
    parts = values.fillna("").astype(str).str.split(",").explode()
    return parts[parts != ""]


def deployment_change_refs(deployments: pd.DataFrame, change_ids: Iterable[str]) -> Validation:
    """Every change a deployment says it shipped exists in silver_changes.

    `change_ids`: the ids stored in silver_changes up to the window's end (any partition: a change
    lands days before it ships). A dangling id means Gold computes a lead time it cannot find.
    """
    known = set(change_ids)
    refs = split_list(deployments["change_ids"]) if len(deployments) else pd.Series(dtype="str")
    missing = refs[~refs.isin(known)]
    ids = deployments.loc[missing.index, "deployment_id"].astype(str) if len(missing) else missing
    owners = ids.unique().tolist()
    sample = [f"{d} -> {c}" for d, c in zip(ids, missing, strict=True)][:SAMPLE]
    passed = missing.empty
    summary = (
        f"all {len(refs)} change reference(s) of {len(deployments)} deployment(s) resolve" if passed else
        f"{len(missing)} change reference(s) of {len(owners)} deployment(s) not in silver_changes: "
        "re-materialise silver_changes for the days they landed, then this window"
    )
    return Validation("change_refs", passed, summary,
                      {"references": int(len(refs)), "missing": int(len(missing)),
                       "deployments_affected": len(owners)},
                      {"missing": 0}, sample, failed_days=_days_of(deployments, missing.index))


def incident_root_cause_links(incidents: pd.DataFrame, deployments: pd.DataFrame) -> Validation:
    """Incidents whose root cause is a full sha should name a commit a production deployment shipped.

    `deployments`: silver_deployments rows up to the window's end. Short shas that could not be
    resolved are counted, not judged. A miss is a warning, not an error: a root cause may predate
    tracking, or the deployment may be in a partition not yet loaded.
    """
    sha = incidents["root_cause_sha"] if len(incidents) else pd.Series(dtype="str")
    full = sha.notna() & (sha.astype(str).str.len() == FULL_SHA_LEN)
    shipped_rows = deployments
    if len(deployments):
        ok = deployments["is_production"].astype(bool) & (deployments["final_status"] == "success")
        shipped_rows = deployments[ok]
    shipped = set(split_list(shipped_rows["commit_shas"]) if len(shipped_rows) else [])
    linked = sha[full].isin(shipped)
    unlinked = incidents.loc[linked[~linked].index] if len(incidents) else incidents
    pairs = zip(unlinked.get("incident_id", []), unlinked.get("root_cause_sha", []), strict=True)
    sample = [f"{i} -> {s[:12]}" for i, s in pairs][:SAMPLE]
    n_unlinked = int((~linked).sum())
    passed = n_unlinked == 0
    summary = (f"{int(linked.sum())} root cause(s) link to a production deployment" if passed else
               f"{n_unlinked} incident root cause(s) not shipped by any successful production deployment: "
               "a wrong sha in the incident, or deployments not loaded yet")
    return Validation("root_cause_links", passed, summary,
                      {"incidents": int(len(incidents)), "full_sha_root_causes": int(full.sum()),
                       "unlinked": n_unlinked, "unresolved_short_shas": int((sha.notna() & ~full).sum())},
                      {"unlinked": 0}, sample, failed_days=_days_of(incidents, unlinked.index))


def _days_of(rows: pd.DataFrame, index: pd.Index) -> tuple[Any, ...] | None:
    """The event days of the rows at `index` (None when there are none or no event_day column)."""
    if not len(index) or "event_day" not in rows:
        return None
    return tuple(rows.loc[index, "event_day"].tolist())
