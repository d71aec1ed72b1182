"""Releases as Gold counts them: one row per (repo, sha) reaching production, from silver_deployments.

silver_deployments groups a release's deployments under `release_id` (transforms/releases.py); the row
whose deployment_id is the release_id carries what the release shipped. Here a release takes:
- created_at / event_day of its first deployment (the day it is counted on);
- finished_at = the earliest finish among its deployments: lead time and recovery are measured at the
  first environment that runs it;
- live_at: when its shipped changes first ran in production. Usually its own finish, but a release
  started later in the same sequence that ships newer commits contains these too, and may finish first
  (pipelines overlapping, a late approval): then that earlier finish counts.
Frames written before releases existed (no release_id column) are read as one release per deployment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules

SUCCESS = "success"
RELEASE_COLUMNS = [
    "deployment_id",
    "repo",
    "sha",
    "environment",
    "sequence",
    "event_day",
    "created_at",
    "finished_at",
    "live_at",
    "is_rollback",
    "is_baseline",
    "undoes_deployment_id",
    "commit_shas",
    "change_ids",
    "ships",
]


def utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.as_unit("us")


def day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.as_unit("us")


def with_release_columns(deployments: pd.DataFrame) -> pd.DataFrame:
    """silver_deployments with release_id / is_baseline / undoes_deployment_id, defaulted when absent."""
    out = deployments.copy()
    ok = out["is_production"].astype(bool) & (out["final_status"].astype(str).str.lower() == SUCCESS)
    if "release_id" not in out:
        out["release_id"] = out["deployment_id"].where(ok)
    if "is_baseline" not in out:
        out["is_baseline"] = False
    if "undoes_deployment_id" not in out:
        out["undoes_deployment_id"] = None
    out["release_id"] = out["release_id"].where(ok)
    return out


def release_rows(deployments: pd.DataFrame, rules: DoraRules | None = None) -> pd.DataFrame:
    """One row per release (RELEASE_COLUMNS), in start order (created_at, deployment_id)."""
    rules = rules or DoraRules()
    deps = with_release_columns(deployments)
    members = deps[deps["release_id"].notna()].copy()
    if members.empty:
        return _empty_releases()
    members["finished_at"] = utc(members["finished_at"])
    members["created_at"] = utc(members["created_at"])
    finish = members.groupby("release_id")["finished_at"].min()
    first = members.sort_values(["created_at", "deployment_id"], kind="stable")
    # The release row itself when present (it carries the shipped commits), else its earliest member.
    first = first.assign(_own=first["deployment_id"] == first["release_id"])
    first = first.sort_values("_own", ascending=False, kind="stable").drop_duplicates("release_id")
    rel = first.assign(
        deployment_id=first["release_id"].astype(str),
        finished_at=finish.reindex(first["release_id"]).to_numpy(),
        event_day=day(first["event_day"]),
        is_rollback=first["is_rollback"].fillna(False).astype(bool),
        is_baseline=first["is_baseline"].fillna(False).astype(bool),
        commit_shas=first["commit_shas"].fillna("").astype(str).where(first["_own"], ""),
        change_ids=first["change_ids"].fillna("").astype(str).where(first["_own"], ""),
    )
    env = rel["environment"].astype(str).str.strip().str.lower()
    per_env = rules.deployment_unit == "environment"
    rel["sequence"] = rel["repo"].astype(str) + ("\x00" + env if per_env else "")
    rel["ships"] = (rel["commit_shas"] != "") | (rel["change_ids"] != "")
    rel["sha"] = rel["sha"].astype(str).str.strip().str.lower()
    rel = rel.sort_values(["created_at", "deployment_id"], kind="stable").reset_index(drop=True)
    rel["live_at"] = _live_at(rel)
    return rel[RELEASE_COLUMNS]


def _empty_releases() -> pd.DataFrame:
    """No releases, typed (boolean masks over an untyped empty frame would select columns)."""
    kinds = {"is_rollback": "bool", "is_baseline": "bool", "ships": "bool", "event_day": "datetime64[us]"}
    kinds |= dict.fromkeys(("created_at", "finished_at", "live_at"), "datetime64[us, UTC]")
    return pd.DataFrame({c: pd.Series(dtype=kinds.get(c, "str")) for c in RELEASE_COLUMNS})


def _live_at(rel: pd.DataFrame) -> pd.Series:
    """min(own finish, finish of any later-started shipping release of the same sequence)."""
    out = rel["finished_at"].copy()
    for _, group in rel.groupby("sequence", sort=False):
        naive = group["finished_at"].dt.tz_convert("UTC").dt.tz_localize(None)
        finishes = naive.where(group["ships"]).to_numpy(dtype="datetime64[us]")
        later = np.full(len(group), np.datetime64("NaT", "us"))
        running = np.datetime64("NaT", "us")
        for k in range(len(group) - 1, -1, -1):
            later[k] = running
            f = finishes[k]
            if not np.isnat(f) and (np.isnat(running) or f < running):
                running = f
        own = naive.to_numpy(dtype="datetime64[us]")
        best = np.where(np.isnat(later) | (~np.isnat(own) & (own <= later)), own, later)
        out.loc[group.index] = pd.to_datetime(best).tz_localize("UTC")
    return utc(out)
