"""Row-level DORA facts from Silver: one row per release or failed attempt, per shipped change, per incident.

Gold aggregates are sums and quantiles over these rows, so team and org rollups pool the rows instead of
averaging per-repo statistics. The rules are docs/metrics.md's; the pieces live in their own modules:
gold_releases.py (what one deployment is: a release), gold_links.py (which release caused an incident),
gold_episodes.py (one change failure per incident or rollback, and its recovery). The facts are computed
over the whole history handed in (a change's first shipping and an incident opened later both reach back
in time), and the caller decides which periods to report.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers import issue_trackers
from devmetrics_assets.transforms.gold_episodes import failure_episodes, recoveries
from devmetrics_assets.transforms.gold_links import (
    MIN_SHA_PREFIX,
    explode_list,
    incident_links,
    root_cause_matches,
)
from devmetrics_assets.transforms.gold_releases import SUCCESS, day, release_rows, utc, with_release_columns

FAILED_STATES = ("failure", "error")
# Lead-time stages (docs/metrics.md "Lead-time stages"): (column, from, to) in the change's life.
STAGES = (
    ("coding_h", "first_commit_at", "opened_at"),
    ("pickup_h", "opened_at", "first_review_at"),
    ("review_h", "first_review_at", "merged_at"),
    ("deploy_h", "merged_at", "shipped_at"),
)
STAGE_COLUMNS = [name for name, _, _ in STAGES]

DEPLOYMENT_FACT_COLUMNS = [
    "deployment_id",
    "repo",
    "event_day",
    "finished_at",
    "final_status",
    "is_success",
    "is_failed_attempt",
    "is_rollback",
    "is_baseline",
    "ships",
    "failure_kinds",
    "is_change_failure",
    "is_change_failure_inferred_only",
    "failure_start_at",
    "recovered_at",
    "recovery_h",
    "is_unrecovered",
    "is_hotfix_deploy",
    "is_revert_deploy",
    "reverted_deployment_ids",
    "is_rework",
]
LEAD_TIME_FACT_COLUMNS = [
    "change_id",
    "repo",
    "deployment_id",
    "event_day",
    "first_commit_at",
    "shipped_at",
    "lead_time_h",
    "lead_time_status",
    "opened_at",
    "first_review_at",
    "merged_at",
    *STAGE_COLUMNS,
]
# Why a shipped change has (or has no) lead time.
LEAD_TIME_STATUSES = ("measured", "baseline", "negative", "no_first_commit")
INCIDENT_FACT_COLUMNS = ["incident_id", "repo", "event_day"]


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def successful_production(deployments: pd.DataFrame, rules: DoraRules | None = None) -> pd.DataFrame:
    """Releases (one row per (repo, sha) reaching production) in start order (gold_releases.py)."""
    return release_rows(deployments, rules)


def hotfix_change_ids(changes: pd.DataFrame, incidents: pd.DataFrame) -> set[str]:
    """Changes whose fixes_issues names an incident issue (by number) of the same repo.

    Only issue trackers' incidents (GitHub, GitLab) have the numbers a `Closes #N` names: a PagerDuty or
    generic incident number never matches.
    """
    if changes.empty or incidents.empty:
        return set()
    fixes = explode_list(changes, "fixes_issues", ["change_id", "repo"], "number")
    fixes["number"] = pd.to_numeric(fixes["number"].str.lstrip("#"), errors="coerce")
    if "provider" in incidents:
        incidents = incidents[incidents["provider"].isin(issue_trackers())]
    known = incidents[["repo", "number"]].copy()
    known["number"] = pd.to_numeric(known["number"], errors="coerce")
    hits = fixes.dropna(subset=["number"]).merge(known.dropna().drop_duplicates(), on=["repo", "number"])
    return set(hits["change_id"].astype(str))


def _rework(releases: pd.DataFrame, changes: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Per release: is_hotfix_deploy, is_revert_deploy, reverted_deployment_ids (index deployment_id)."""
    shipped = explode_list(releases, "change_ids", ["deployment_id", "created_at"], "change_id")
    first = shipped.sort_values(["created_at", "deployment_id"], kind="stable").drop_duplicates("change_id")
    first_shipper = first.set_index("change_id")["deployment_id"]
    out = pd.DataFrame(index=pd.Index(releases["deployment_id"], name="deployment_id"))
    hotfix = shipped.loc[shipped["change_id"].isin(hotfix_change_ids(changes, incidents)), "deployment_id"]
    out["is_hotfix_deploy"] = out.index.isin(hotfix)
    out["is_revert_deploy"] = False
    out["reverted_deployment_ids"] = ""
    if "reverted_change_ids" in changes and len(changes) and len(shipped):
        reverts = explode_list(changes, "reverted_change_ids", ["change_id"], "reverted")
        links = shipped[["deployment_id", "change_id"]].merge(reverts, on="change_id")
        links["reverted_deployment"] = first_shipper.reindex(links["reverted"]).to_numpy()
        out["is_revert_deploy"] = out.index.isin(links["deployment_id"])
        named = links.dropna(subset=["reverted_deployment"]).drop_duplicates(
            ["deployment_id", "reverted_deployment"]
        )
        joined = named.groupby("deployment_id")["reverted_deployment"].agg(",".join)
        out["reverted_deployment_ids"] = joined.reindex(out.index).fillna("").to_numpy()
    return out


def deployment_facts(
    deployments: pd.DataFrame,
    changes: pd.DataFrame,
    incidents: pd.DataFrame,
    rules: DoraRules | None = None,
) -> pd.DataFrame:
    """One row per release and per unsuccessful production deployment, with its stability facts.

    - is_success: a release (final status success); is_failed_attempt: final status failure|error.
    - failure_kinds: root_cause / inferred / rollback evidence blaming it (gold_episodes.py);
      is_change_failure when any; is_change_failure_inferred_only when the only evidence is inferred.
    - failure_start_at / recovered_at / recovery_h: the recovery measured by gold_episodes.py (clamped at
      0 when clocks disagree); is_unrecovered: a change failure without recovery.
    - is_rework: a rollback, or a release shipping a hotfix (closes an incident issue of its repo) or a
      revert (reverted_deployment_ids: the releases that first shipped what it reverts).
    """
    rules = rules or DoraRules()
    deps = with_release_columns(deployments)
    prod = deps[deps["is_production"].astype(bool)]
    status = prod["final_status"].astype(str).str.lower()
    releases = release_rows(deps, rules)
    others = prod[status != SUCCESS]
    facts = pd.concat(
        [
            pd.DataFrame(
                {
                    "deployment_id": releases["deployment_id"].astype(str),
                    "repo": releases["repo"].astype(str),
                    "event_day": day(releases["event_day"]),
                    "finished_at": utc(releases["finished_at"]),
                    "final_status": SUCCESS,
                    "is_rollback": releases["is_rollback"].astype(bool),
                    "is_baseline": releases["is_baseline"].astype(bool),
                    "ships": releases["ships"].astype(bool),
                }
            ),
            pd.DataFrame(
                {
                    "deployment_id": others["deployment_id"].astype(str),
                    "repo": others["repo"].astype(str),
                    "event_day": day(others["event_day"]),
                    "finished_at": utc(others["finished_at"]),
                    "final_status": status[status != SUCCESS],
                    "is_rollback": False,
                    "is_baseline": False,
                    "ships": False,
                }
            ),
        ],
        ignore_index=True,
    )
    facts = facts.drop_duplicates("deployment_id").set_index("deployment_id", drop=False)
    facts["is_success"] = facts["final_status"] == SUCCESS
    facts["is_failed_attempt"] = facts["final_status"].isin(FAILED_STATES)

    links, _ = incident_links(releases, incidents, rules)
    rec = recoveries(failure_episodes(releases, links)).reindex(facts.index)
    facts["failure_kinds"] = rec["failure_kinds"].fillna("").astype(str)
    facts["is_change_failure"] = (facts["failure_kinds"] != "") & facts["is_success"]
    facts["is_change_failure_inferred_only"] = facts["failure_kinds"] == "inferred"
    facts["failure_start_at"] = utc(rec["failure_start_at"])
    facts["recovered_at"] = utc(rec["recovered_at"])
    facts["recovery_h"] = _hours(facts["recovered_at"] - facts["failure_start_at"]).clip(lower=0.0)
    facts["is_unrecovered"] = facts["is_change_failure"] & facts["recovered_at"].isna()

    rework = _rework(releases, changes, incidents).reindex(facts.index)
    facts["is_hotfix_deploy"] = rework["is_hotfix_deploy"].fillna(False).astype(bool)
    facts["is_revert_deploy"] = rework["is_revert_deploy"].fillna(False).astype(bool)
    facts["reverted_deployment_ids"] = rework["reverted_deployment_ids"].fillna("").astype(str)
    facts["is_rework"] = facts["is_success"] & (
        facts["is_rollback"] | facts["is_hotfix_deploy"] | facts["is_revert_deploy"]
    )
    return facts.reset_index(drop=True)[DEPLOYMENT_FACT_COLUMNS]


def lead_time_facts(
    deployments: pd.DataFrame, changes: pd.DataFrame, rules: DoraRules | None = None
) -> pd.DataFrame:
    """One row per change shipped to production, attributed to the release that first shipped it.

    shipped_at: when the change first ran in production (the release's live_at, gold_releases.py).
    lead_time_status: `measured` (lead_time_h = shipped_at - first_commit_at), `baseline` (shipped by a
    repo's first observed release: it predates what was observed, no lead time), `negative` (a commit
    clock ahead of the deployment: excluded and counted, never clamped) or `no_first_commit` (the change's
    first commit time is unknown).
    Stages (pull requests): opened_at, first_review_at, merged_at and coding_h / pickup_h / review_h /
    deploy_h (`_with_stages`).
    """
    releases = release_rows(deployments, rules)
    keep = ["deployment_id", "repo", "event_day", "created_at", "live_at", "is_baseline"]
    shipped = explode_list(releases, "change_ids", keep, "change_id")
    if shipped.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LEAD_TIME_FACT_COLUMNS})
    live = shipped.groupby("change_id")["live_at"].min()
    first = shipped.sort_values(["created_at", "deployment_id"], kind="stable").drop_duplicates("change_id")
    known = changes[["change_id", "first_commit_at"]].drop_duplicates("change_id")
    known = known.assign(
        change_id=known["change_id"].astype(str), first_commit_at=utc(known["first_commit_at"])
    )
    out = first.merge(known, on="change_id", how="left")
    out["shipped_at"] = utc(live.reindex(out["change_id"]).reset_index(drop=True))
    out["event_day"] = day(out["event_day"])
    raw = _hours(out["shipped_at"] - out["first_commit_at"])
    status = pd.Series("measured", index=out.index, dtype=object)
    status[raw < 0] = "negative"
    status[out["first_commit_at"].isna()] = "no_first_commit"
    status[out["is_baseline"].astype(bool)] = "baseline"
    out["lead_time_status"] = status.astype(str)
    out["lead_time_h"] = raw.where(status == "measured")
    return _with_stages(out, changes)[LEAD_TIME_FACT_COLUMNS].reset_index(drop=True)


def _with_stages(out: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """opened_at, first_review_at, merged_at and the stage hours of each shipped change.

    Pull requests only (merged_at = landed_at; direct and generic commits have no stages). A stage is null
    when either end is unknown, when it is negative (clocks that disagree: excluded, never clamped) and
    for baseline changes (shipped before anything was observed, like their lead time).
    """
    cols = ["change_id", "opened_at", "first_review_at", "landed_at", "kind"]
    known = changes.reindex(columns=cols).drop_duplicates("change_id")
    is_pr = known["kind"].astype(str) == "pull_request"
    known = pd.DataFrame(
        {
            "change_id": known["change_id"].astype(str),
            "opened_at": utc(known["opened_at"]).where(is_pr),
            "first_review_at": utc(known["first_review_at"]).where(is_pr),
            "merged_at": utc(known["landed_at"]).where(is_pr),
        }
    )
    out = out.merge(known, on="change_id", how="left")
    for col in ("opened_at", "first_review_at", "merged_at"):
        out[col] = utc(out[col])
    measured = ~out["is_baseline"].astype(bool)
    for name, begin, finish in STAGES:
        hours = _hours(out[finish] - out[begin])
        out[name] = hours.where(measured & (hours >= 0) & out["merged_at"].notna()).astype("float64")
    return out


def incident_facts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Distinct incidents by opening day."""
    out = incidents[INCIDENT_FACT_COLUMNS].drop_duplicates("incident_id").copy()
    out["event_day"] = day(out["event_day"])
    return out.reset_index(drop=True)


def reach_back_days(
    deployments: pd.DataFrame, incidents: pd.DataFrame, changed_days: set, rules: DoraRules | None = None
) -> set:
    """Earlier release days whose Gold changes when these Silver days change.

    A change failure (and its recovery) is attributed to the blamed release's day but learnt later: from
    an incident opened on a changed day, or a rollback on a changed day. A release on a changed day that
    finished before an earlier-started one also moves that one's lead times (live_at). Returns those
    releases' days (as dates), outside `changed_days`.
    """
    days = {pd.Timestamp(d).normalize() for d in changed_days}
    if deployments.empty:
        return set()
    releases = release_rows(deployments, rules)
    if releases.empty:
        return set()
    day_of = dict(zip(releases["deployment_id"], day(releases["event_day"]).dt.normalize(), strict=True))
    found: set[pd.Timestamp] = set()
    links, _ = incident_links(releases, incidents, rules)
    episodes = failure_episodes(releases, links)
    for dep_id, evidence in zip(episodes["deployment_id"], episodes["evidence_days"], strict=True):
        if {pd.Timestamp(d).normalize() for d in evidence} & days and dep_id in day_of:
            found.add(day_of[dep_id])
    changed = releases[day(releases["event_day"]).dt.normalize().isin(days)]
    for row in changed.itertuples():
        earlier = releases[
            (releases["sequence"] == row.sequence)
            & (releases["created_at"] < row.created_at)
            & (releases["finished_at"] > row.finished_at)
        ]
        found |= {day_of[d] for d in earlier["deployment_id"]}
    return {d.date() for d in found - days}


__all__ = [
    "MIN_SHA_PREFIX",
    "STAGE_COLUMNS",
    "deployment_facts",
    "explode_list",
    "hotfix_change_ids",
    "incident_facts",
    "lead_time_facts",
    "reach_back_days",
    "root_cause_matches",
    "successful_production",
]
