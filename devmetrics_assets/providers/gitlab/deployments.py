"""GitLab Deployment Hook bodies → the normalised deployment shapes (normalised.py; contracts §4, §6).

One Deployment Hook arrives per status (running, success, failed, canceled); silver_deployments' rules
then run over them with every other provider's (providers.build_deployments).
- deployment id = `deployment_id` (older GitLab: `deployable_id`); the sha comes from `sha`, else
  `commit_url` (full), else `short_sha`.
- created_at = the earliest `status_changed_at` seen; states map to GitHub's: running → in_progress,
  success → success, failed → failure, canceled/skipped → inactive (neither a deployment nor a failure),
  created → pending, blocked → waiting.
- A status is identified by (deployment, state, time), so the webhook and API-pull copies of one status
  count once. Each status anchors on its own time, so Silver reads one day past the window for GitLab
  deployments (a deployment crossing midnight keeps its end).
"""

from __future__ import annotations

import re

import pandas as pd

from devmetrics_assets.transforms.normalised import (
    DEP_COLUMNS,
    STAT_COLUMNS,
    empty_deployments,
    parse_times,
    reason_series,
    stable_id,
)
from devmetrics_assets.transforms.payloads import blank_to_none, first_reason, json_fields, to_int

DEPLOY = "Deployment Hook"
DEPLOYMENT_EVENTS = (DEPLOY,)
STATE_MAP = {
    "running": "in_progress",
    "success": "success",
    "failed": "failure",
    "canceled": "inactive",
    "cancelled": "inactive",
    "skipped": "inactive",
    "created": "pending",
    "blocked": "waiting",
}
DEPLOY_PATHS = {
    "repo": "$.project.path_with_namespace",
    "dep_raw": "$.deployment_id",
    "deployable_raw": "$.deployable_id",
    "status": "$.status",
    "at_raw": "$.status_changed_at",
    "environment": "$.environment",
    "short_sha": "$.short_sha",
    "commit_url": "$.commit_url",
    "sha_raw": "$.sha",
}
_COMMIT_URL = re.compile(r"/commit/([0-9a-fA-F]{40})(?![0-9a-fA-F])")


def parse_deployments(deliveries: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(deps, stats, reasons) in the normalised shapes from Deployment Hook rows (one JSON pass)."""
    frame = deliveries.reset_index(drop=True)
    f = json_fields(frame["body"], DEPLOY_PATHS)
    for col in ("repo", "environment", "short_sha", "commit_url", "sha_raw", "status"):
        f[col] = blank_to_none(f[col])
    f["dep_id"] = to_int(f["dep_raw"]).fillna(to_int(f["deployable_raw"]))
    from_url = f["commit_url"].str.extract(_COMMIT_URL, expand=False)
    f["sha"] = f["sha_raw"].fillna(from_url).fillna(f["short_sha"]).str.strip().str.lower()
    f["state"] = f["status"].str.strip().str.lower().map(STATE_MAP)
    f["at"], bad_at = parse_times(f["at_raw"])
    reasons = first_reason(
        [
            (f["_error"].notna(), f["_error"]),
            (f["repo"].isna(), "project.path_with_namespace missing"),
            (f["dep_id"].isna(), "deployment_id (or deployable_id) missing"),
            (f["sha"].isna(), "deployment sha missing (commit_url / short_sha)"),
            (f["environment"].isna(), "deployment environment missing"),
            (f["state"].isna(), "unknown deployment status '" + f["status"].astype("str") + "'"),
            (f["at_raw"].isna(), "status_changed_at missing"),
            (bad_at, "status_changed_at is not a valid timestamp"),
        ],
        len(f),
    )
    ok = f[reasons.isna().to_numpy()].assign(row=lambda x: x.index.to_numpy())
    if ok.empty:
        deps, stats = empty_deployments()
        return deps, stats, reason_series(reasons.to_numpy(), deliveries.index)
    ok = ok.astype({"dep_id": "int64"})
    created = ok.groupby(["repo", "dep_id"])["at"].min().rename("created_at")
    deps = (
        ok.sort_values("row", kind="stable")
        .drop_duplicates(["repo", "dep_id"])
        .join(created, on=["repo", "dep_id"])
    )
    deps = deps.assign(is_event=True)[DEP_COLUMNS].reset_index(drop=True)
    stats = ok.assign(
        status_id=[
            stable_id(r, d, s, a)
            for r, d, s, a in zip(ok["repo"], ok["dep_id"], ok["state"], ok["at"], strict=True)
        ]
    )
    stats = stats.rename(columns={"at": "created_at"})[STAT_COLUMNS]
    stats = stats.drop_duplicates(["repo", "status_id"]).reset_index(drop=True)
    return deps, stats, reason_series(reasons.to_numpy(), deliveries.index)
