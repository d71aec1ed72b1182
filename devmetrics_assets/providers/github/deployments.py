"""silver_deployments: one row per GitHub deployment with its outcome and what it shipped.

Rules (contracts §2, §4, §5):
- A deployment is known from a `deployment` delivery or from the `deployment` object every
  `deployment_status` carries; deployments dedupe on (repo, deployment.id), statuses on
  (repo, deployment_status.id). deployment_id = `<repo>:<deployment.id>`; event_day = created_at day.
- final_status: the last of success|failure|error by (created_at, status id); a later `inactive`
  only marks a success superseded and does not change the outcome. With none of those, `inactive`
  when one exists, else `pending`. finished_at = created_at of the status that decided it (null if pending).
- Sequencing (transforms/releases.py): deployments are ordered by their START (created_at, then numeric
  id), never by their finish. previous_deployment_id is the last successful deployment that started
  before this one in its sequence (a repo's production deployments form ONE sequence with the default
  `deployment_unit: release`, one per production environment with `environment`; other environments
  one per (repo, lower-cased environment)).
- release_id groups the successful production deployments of one (repo, sha) reaching production
  (staggered regions are one release); is_rollback marks a release of an already released sha that is
  older on the main line than the sha running when it started, undoes_deployment_id the release that
  first shipped what it undoes; is_baseline marks a repo's first release with a main-line sha.
- Shipping: the release's first deployment row carries the main-line commits it brought to production
  for the first time (the baseline: all up to its sha; later releases: those above the highest position
  released before, up to their sha). Rollbacks, redeploys and releases of older never-released shas ship
  nothing; so do non-production, failed, pending and unknown-sha deployments.
- changes_known: the deployment's sha is a main-line commit of its repo (a unique short-sha prefix counts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.mainline import mainline_from_deliveries
from devmetrics_assets.transforms.normalised import final_status
from devmetrics_assets.transforms.payloads import (
    UTC_DTYPE,
    as_day,
    blank_to_none,
    conform,
    first_reason,
    json_fields,
    to_int,
    to_utc,
    utc_day,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects, in_window, quarantine_rows
from devmetrics_assets.transforms.releases import sequence
from devmetrics_assets.transforms.silver_contract import DEPLOYMENTS_DTYPES

ASSET = "silver_deployments"
STATES = {"pending", "in_progress", "queued", "success", "failure", "error", "inactive", "waiting"}


PATHS = {
    "repo": "$.repository.full_name",
    "dep_id_raw": "$.deployment.id",
    "sha": "$.deployment.sha",
    "environment": "$.deployment.environment",
    "created_raw": "$.deployment.created_at",
    "status_id_raw": "$.deployment_status.id",
    "state": "$.deployment_status.state",
    "status_created_raw": "$.deployment_status.created_at",
}
TYPE_PATHS = {"dep_type": "$.deployment", "status_type": "$.deployment_status"}


def parse_deployments(deliveries: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(deployments, statuses, reasons) from deployment / deployment_status Bronze rows (one JSON pass)."""
    f = json_fields(deliveries["body"], PATHS, TYPE_PATHS)
    n = len(f)
    etype = deliveries["event_type"].astype("str").reset_index(drop=True)
    is_status = (etype == "deployment_status").to_numpy()
    for col in ("repo", "sha", "environment", "state"):
        f[col] = blank_to_none(f[col])
    f["dep_id"], f["status_id"] = to_int(f["dep_id_raw"]), to_int(f["status_id_raw"])
    f["state"] = f["state"].str.lower()
    f["created_at"], bad_created = to_utc(f["created_raw"])
    f["status_created_at"], bad_status_created = to_utc(f["status_created_raw"])
    missing = pd.Series("", index=f.index)
    for name, col in (
        ("id", "dep_id"),
        ("sha", "sha"),
        ("environment", "environment"),
        ("created_at", "created_raw"),
    ):
        missing = missing.mask(f[col].isna(), missing + "/" + name)
    status_incomplete = f[["status_id", "state", "status_created_raw"]].isna().any(axis=1)
    reasons = first_reason(
        [
            (f["_error"].notna(), f["_error"]),
            (f["repo"].isna(), "repository.full_name missing"),
            (f["dep_type"] != "OBJECT", etype + " without deployment object"),
            (missing != "", "deployment." + missing.str.lstrip("/") + " missing"),
            (
                is_status & ((f["status_type"] != "OBJECT") | status_incomplete).to_numpy(),
                "deployment_status without id/state/created_at",
            ),
            (
                is_status & ~f["state"].isin(STATES).to_numpy(),
                "unknown deployment_status.state '" + f["state"].astype("str") + "'",
            ),
            (bad_created, "deployment.created_at is not a valid timestamp"),
            (is_status & bad_status_created, "deployment_status.created_at is not a valid timestamp"),
        ],
        n,
    )
    ok = reasons.isna().to_numpy()
    f["row"] = np.arange(n)
    f["is_event"] = ~is_status
    deps = f.loc[ok, ["row", "repo", "dep_id", "sha", "environment", "created_at", "is_event"]]
    deps = deps.sort_values(["is_event", "row"], ascending=[False, True], kind="stable")
    deps = deps.drop_duplicates(["repo", "dep_id"]).astype({"dep_id": "int64"})
    deps = deps.assign(sha=deps["sha"].str.strip()).reset_index(drop=True)
    stats = f.loc[ok & is_status, ["row", "repo", "dep_id", "status_id", "state", "status_created_at"]]
    stats = stats.rename(columns={"status_created_at": "created_at"}).drop_duplicates(["repo", "status_id"])
    stats = stats.astype({"dep_id": "int64", "status_id": "int64"}).reset_index(drop=True)
    reasons.index = deliveries.index
    return deps, stats, reasons


def build_silver_deployments(
    deliveries: pd.DataFrame,
    mainline_deliveries: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(deployments created in [start, end), quarantine rows for this window's unusable deliveries).

    `deliveries`: Bronze deployment + deployment_status rows with event_day < end (history decides the
    previous deployment and rollbacks); `mainline_deliveries`: Bronze push + pull_request rows with
    event_day < end. Push/PR problems are quarantined by silver_changes, not here.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    frame = deliveries.reset_index(drop=True)
    deps, stats, reasons = parse_deployments(frame)
    mainline = mainline_from_deliveries(mainline_deliveries)
    deps = final_status(deps, stats)
    deps["deployment_id"] = deps["repo"] + ":" + deps["dep_id"].astype("str")
    deps = sequence(deps, mainline, rules)
    deps["created_at"] = deps["created_at"].astype(UTC_DTYPE)
    deps["finished_at"] = pd.to_datetime(deps["finished_at"], utc=True).astype(UTC_DTYPE)
    deps["event_day"] = utc_day(deps["created_at"])
    out = deps[in_window(deps["event_day"], start, end)]
    out = conform(
        out.sort_values(["event_day", "created_at", "deployment_id"], kind="stable"), DEPLOYMENTS_DTYPES
    )

    rejects = bronze_rejects(frame, reasons)
    rejects = rejects[in_window(as_day(rejects["partition_day"]), start, end)]
    return out, quarantine_rows("silver", ASSET, rejects)
