"""silver_deployments: one row per GitHub deployment with its outcome and what it shipped.

Rules (contracts §2, §4, §5):
- A deployment is known from a `deployment` delivery or from the `deployment` object every
  `deployment_status` carries; deployments dedupe on (repo, deployment.id), statuses on
  (repo, deployment_status.id). deployment_id = `<repo>:<deployment.id>`; event_day = created_at day.
- final_status: the last of success|failure|error by (created_at, status id); a later `inactive`
  only marks a success superseded and does not change the outcome. With none of those, `inactive`
  when one exists, else `pending`. finished_at = created_at of the status that decided it (null if pending).
- Ordering (previous deployment, rollback) is by (finished_at, numeric deployment id); a deployment
  without a final status sorts at its created_at. Production deployments of a repo form ONE sequence
  whatever the production environment's spelling (§5 says "of that repo"); other environments form
  one sequence per (repo, lower-cased environment).
- previous_deployment_id: the last successful deployment before this one in its sequence.
- Only successful production deployments ship. Baseline = the last earlier successful production
  deployment whose sha is on the main line (unknown shas are skipped). A sha strictly older on the
  main line than the baseline's is a rollback and ships nothing; otherwise it ships the main-line commits
  after the baseline's sha up to its own (all up to it when there is no baseline).
- Non-production, failed, pending and unknown-sha deployments ship nothing (change_ids/commit_shas "").
  is_rollback is only ever true for successful production deployments.
- changes_known: the deployment's sha is a main-line commit of its repo (a unique short-sha prefix counts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.github_payloads import (
    UTC_DTYPE,
    ShaIndex,
    as_day,
    blank_to_none,
    conform,
    first_reason,
    json_fields,
    to_int,
    to_utc,
    utc_day,
)
from devmetrics_assets.transforms.mainline import mainline_from_deliveries
from devmetrics_assets.transforms.quarantine import bronze_rejects, in_window, quarantine_rows

ASSET = "silver_deployments"
DEPLOYMENTS_DTYPES: dict[str, str] = {
    "deployment_id": "str",
    "repo": "str",
    "environment": "str",
    "is_production": "bool",
    "sha": "str",
    "created_at": UTC_DTYPE,
    "finished_at": UTC_DTYPE,
    "final_status": "str",
    "status_count": "int64",
    "is_rollback": "bool",
    "previous_deployment_id": "str",
    "change_ids": "str",
    "commit_shas": "str",
    "changes_known": "bool",
    "event_day": "datetime64[us]",
}
DEPLOYMENTS_COLUMNS = list(DEPLOYMENTS_DTYPES)
STATES = {"pending", "in_progress", "queued", "success", "failure", "error", "inactive", "waiting"}
OUTCOMES = ("success", "failure", "error")


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


def _parse(deliveries: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
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


def _final_status(deps: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    key = ["repo", "dep_id"]
    stats = stats.sort_values(["created_at", "status_id"], kind="stable")
    count = stats.groupby(key).size().rename("status_count")
    outcome = stats[stats["state"].isin(OUTCOMES)].drop_duplicates(key, keep="last")
    inactive = stats[stats["state"] == "inactive"].drop_duplicates(key, keep="last")
    final = pd.concat([outcome, inactive]).drop_duplicates(key, keep="first").set_index(key)
    out = deps.join(count, on=key).join(
        final[["state", "created_at"]].rename(columns={"state": "final_status", "created_at": "finished_at"}),
        on=key,
    )
    out["status_count"] = out["status_count"].fillna(0).astype("int64")
    out["final_status"] = out["final_status"].fillna("pending")
    return out


def _ship(deps: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules) -> pd.DataFrame:
    """previous_deployment_id, is_rollback, change_ids, commit_shas, changes_known for every deployment."""
    envs = deps["environment"].unique()
    prod_of = {e: rules.is_production(e) for e in envs}
    deps["is_production"] = deps["environment"].map(prod_of).astype(bool)
    deps["_seq_key"] = np.where(deps["is_production"], "\x00production", deps["environment"].str.lower())
    index = ShaIndex(mainline["repo"], mainline["sha"])
    pos = {(r, s): q for r, s, q in zip(mainline["repo"], mainline["sha"], mainline["seq"], strict=True)}
    full = [
        s.lower() if (r, s.lower()) in pos else index.resolve(r, s)
        for r, s in zip(deps["repo"], deps["sha"], strict=True)
    ]
    deps["_seq"] = [pos.get((r, f), np.nan) if f else np.nan for r, f in zip(deps["repo"], full, strict=True)]
    deps["changes_known"] = deps["_seq"].notna()

    deps["_order_at"] = deps["finished_at"].fillna(deps["created_at"])
    deps = deps.sort_values(["repo", "_seq_key", "_order_at", "dep_id"], kind="stable").reset_index(drop=True)
    group = [deps["repo"], deps["_seq_key"]]
    ok = deps["final_status"] == "success"
    deps["previous_deployment_id"] = (
        deps["deployment_id"].where(ok).groupby(group).ffill().groupby(group).shift(1)
    )
    base = deps["_seq"].where(ok & deps["changes_known"]).groupby(group).ffill().groupby(group).shift(1)
    shipping = ok & deps["is_production"] & deps["changes_known"]
    deps["is_rollback"] = shipping & base.notna() & (deps["_seq"] < base)

    by_repo = {repo: (g["sha"].to_numpy(), g["change_id"].to_numpy()) for repo, g in mainline.groupby("repo")}
    change_ids = [""] * len(deps)
    commit_shas = [""] * len(deps)
    todo = shipping & ~deps["is_rollback"]
    for i, repo, hi, lo in zip(
        np.flatnonzero(todo), deps.loc[todo, "repo"], deps.loc[todo, "_seq"], base[todo], strict=True
    ):
        shas, cids = by_repo[repo]
        a = 0 if pd.isna(lo) else int(lo) + 1
        b = int(hi) + 1
        if b > a:
            commit_shas[i] = ",".join(shas[a:b])
            change_ids[i] = ",".join(dict.fromkeys(cids[a:b]))
    deps["change_ids"] = change_ids
    deps["commit_shas"] = commit_shas
    return deps


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
    deps, stats, reasons = _parse(frame)
    mainline = mainline_from_deliveries(mainline_deliveries)
    deps = _final_status(deps, stats)
    deps["deployment_id"] = deps["repo"] + ":" + deps["dep_id"].astype("str")
    deps = _ship(deps, mainline, rules)
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
