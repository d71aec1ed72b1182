"""Row-level DORA facts from Silver: one row per production deployment, per shipped change, per incident.

Gold aggregates are sums and quantiles over these rows, so team and org rollups pool the rows instead of
averaging per-repo statistics. Every rule follows docs/contracts.md §5; the facts are computed over the whole
history handed in (a change's first shipping and an incident opened later both reach back in time), and
the caller decides which periods to report.
"""

from __future__ import annotations

import pandas as pd

SUCCESS = "success"
FAILED_STATES = ("failure", "error")
MIN_SHA_PREFIX = 7
_HEX = r"^[0-9a-f]+$"

DEPLOYMENT_FACT_COLUMNS = [
    "deployment_id",
    "repo",
    "event_day",
    "finished_at",
    "final_status",
    "is_success",
    "is_failed_attempt",
    "is_rollback",
    "failure_by_incident",
    "failure_by_rollback",
    "is_change_failure",
    "recovered_at",
    "recovery_h",
    "is_unrecovered",
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
]
INCIDENT_FACT_COLUMNS = ["incident_id", "repo", "event_day"]


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.as_unit("us")


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.as_unit("us")


def _hours(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds() / 3600.0


def explode_list(frame: pd.DataFrame, column: str, keep: list[str], name: str) -> pd.DataFrame:
    """One row per non-empty item of a comma-list column (contract: "" when empty, never null)."""
    parts = frame[keep].copy()
    parts[name] = frame[column].fillna("").astype(str).str.split(",")
    parts = parts.explode(name, ignore_index=True)
    parts[name] = parts[name].astype(str).str.strip()
    return parts[parts[name] != ""].reset_index(drop=True)


def successful_production(deployments: pd.DataFrame) -> pd.DataFrame:
    """Successful production deployments in contract order: finished_at, ties by deployment id."""
    prod = deployments[deployments["is_production"].astype(bool)]
    ok = prod[prod["final_status"].astype(str).str.lower() == SUCCESS].copy()
    ok["finished_at"] = _utc(ok["finished_at"])
    return ok.sort_values(["finished_at", "deployment_id"], na_position="last", kind="stable")


def root_cause_matches(successes: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """Pairs (deployment_id, incident_id): the first deployment that shipped the incident's root-cause commit.

    The root cause may be a full sha or a prefix of at least 7 hex digits; it must be a commit of the same
    repo listed in the deployment's commit_shas. Joining on the 7-digit prefix first keeps this a hash join.
    """
    empty = pd.DataFrame({"deployment_id": pd.Series(dtype="str"), "incident_id": pd.Series(dtype="str")})
    causes = incidents[["incident_id", "repo", "root_cause_sha"]].dropna(subset=["root_cause_sha"]).copy()
    causes["root_cause_sha"] = causes["root_cause_sha"].astype(str).str.strip().str.lower()
    ok = causes["root_cause_sha"].str.len().between(MIN_SHA_PREFIX, 40)
    causes = causes[ok & causes["root_cause_sha"].str.match(_HEX)]
    if causes.empty or successes.empty:
        return empty
    shipped = explode_list(successes, "commit_shas", ["deployment_id", "repo"], "commit_sha")
    shipped["commit_sha"] = shipped["commit_sha"].str.lower()
    shipped["key"] = shipped["commit_sha"].str[:MIN_SHA_PREFIX]
    causes["key"] = causes["root_cause_sha"].str[:MIN_SHA_PREFIX]
    pairs = shipped.merge(causes, on=["repo", "key"])
    hit = [c.startswith(r) for c, r in zip(pairs["commit_sha"], pairs["root_cause_sha"], strict=True)]
    pairs = pairs.loc[hit, ["deployment_id", "incident_id"]].drop_duplicates()
    # An incident is caused by the FIRST deployment that shipped its root cause: a redeploy after a
    # rollback ships the same commit again but is not a second failure for the same incident.
    order = successes[["deployment_id", "finished_at"]].drop_duplicates("deployment_id")
    pairs = pairs.merge(order, on="deployment_id")
    pairs = pairs.sort_values(["finished_at", "deployment_id"], kind="stable")
    first = pairs.drop_duplicates("incident_id", keep="first")
    return first[["deployment_id", "incident_id"]].reset_index(drop=True)


def hotfix_change_ids(changes: pd.DataFrame, incidents: pd.DataFrame) -> set[str]:
    """Changes whose fixes_issues names an actual incident (by number) of the same repo."""
    if changes.empty or incidents.empty:
        return set()
    fixes = explode_list(changes, "fixes_issues", ["change_id", "repo"], "number")
    fixes["number"] = pd.to_numeric(fixes["number"].str.lstrip("#"), errors="coerce")
    known = incidents[["repo", "number"]].copy()
    known["number"] = pd.to_numeric(known["number"], errors="coerce")
    hits = fixes.dropna(subset=["number"]).merge(known.dropna().drop_duplicates(), on=["repo", "number"])
    return set(hits["change_id"].astype(str))


def deployment_facts(
    deployments: pd.DataFrame, changes: pd.DataFrame, incidents: pd.DataFrame
) -> pd.DataFrame:
    """One row per production deployment with its stability facts (contracts §5).

    - is_success / is_failed_attempt: final status success / failure|error.
    - failure_by_incident: a successful deployment that shipped an incident's root-cause commit.
    - failure_by_rollback: the successful deployment a rollback replaced (rollback.previous_deployment_id).
    - recovered_at: earliest of that rollback's finished_at and, when every incident it caused is
      resolved, the latest resolved_at; recovery_h is null (and is_unrecovered true) when neither exists.
      A negative duration (inconsistent clocks) is clamped to 0 like lead time.
    - is_rework: a rollback, or a successful deployment that shipped a hotfix change.
    """
    prod = deployments[deployments["is_production"].astype(bool)].copy()
    status = prod["final_status"].astype(str).str.lower()
    facts = pd.DataFrame(
        {
            "deployment_id": prod["deployment_id"].astype(str),
            "repo": prod["repo"].astype(str),
            "event_day": _day(prod["event_day"]),
            "finished_at": _utc(prod["finished_at"]),
            "final_status": status,
            "is_success": status == SUCCESS,
            "is_failed_attempt": status.isin(FAILED_STATES),
        }
    )
    facts["is_rollback"] = prod["is_rollback"].fillna(False).astype(bool) & facts["is_success"]
    facts = facts.drop_duplicates("deployment_id").set_index("deployment_id", drop=False)
    success = facts["is_success"]

    # (a) shipped an incident's root cause
    successes = successful_production(deployments)
    matches = root_cause_matches(successes, incidents)
    facts["failure_by_incident"] = facts.index.isin(matches["deployment_id"]) & success

    # (b) replaced by a rollback
    rollbacks = prod.loc[
        prod["deployment_id"].astype(str).isin(facts.index[facts["is_rollback"]]),
        ["previous_deployment_id", "finished_at"],
    ].dropna(subset=["previous_deployment_id"])
    rollbacks = rollbacks.assign(finished_at=_utc(rollbacks["finished_at"]))
    rolled_back_at = rollbacks.groupby(rollbacks["previous_deployment_id"].astype(str))["finished_at"].min()
    facts["failure_by_rollback"] = facts.index.isin(rolled_back_at.index) & success
    facts["is_change_failure"] = facts["failure_by_incident"] | facts["failure_by_rollback"]

    # recovery: rollback, or resolution of every incident the deployment caused
    inc = incidents[["incident_id", "resolved_at", "is_open"]].drop_duplicates("incident_id")
    inc = matches.merge(inc, on="incident_id", how="left")
    inc["resolved_at"] = _utc(inc["resolved_at"])
    inc["open"] = inc["is_open"].fillna(True).astype(bool) | inc["resolved_at"].isna()
    by_dep = inc.groupby("deployment_id").agg(any_open=("open", "any"), resolved=("resolved_at", "max"))
    resolved_at = by_dep["resolved"].where(~by_dep["any_open"])
    candidates = pd.concat([rolled_back_at.reindex(facts.index), resolved_at.reindex(facts.index)], axis=1)
    recovered = candidates.min(axis=1).where(facts["is_change_failure"])
    facts["recovered_at"] = _utc(recovered)
    facts["recovery_h"] = _hours(facts["recovered_at"] - facts["finished_at"]).clip(lower=0.0)
    facts["is_unrecovered"] = facts["is_change_failure"] & facts["recovered_at"].isna()

    # rework
    hotfixes = hotfix_change_ids(changes, incidents)
    shipped = explode_list(successes, "change_ids", ["deployment_id"], "change_id")
    with_hotfix = shipped.loc[shipped["change_id"].isin(hotfixes), "deployment_id"].astype(str)
    facts["is_rework"] = facts["is_rollback"] | (facts.index.isin(with_hotfix) & success)
    return facts.reset_index(drop=True)[DEPLOYMENT_FACT_COLUMNS]


def lead_time_facts(deployments: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """One row per change at its FIRST successful production shipping (earliest finished_at listing it).

    lead_time_h = finished_at - first_commit_at, clamped at 0 (skewed commit clocks); the row carries the
    shipping deployment's repo and event_day, to which the lead time is attributed. A re-shipping after a
    rollback is ignored. Changes without first_commit_at have no lead time and are left out.
    """
    successes = successful_production(deployments).dropna(subset=["finished_at"])
    shipped = explode_list(
        successes, "change_ids", ["deployment_id", "repo", "event_day", "finished_at"], "change_id"
    )
    first = shipped.drop_duplicates("change_id", keep="first")  # already in contract order
    known = changes[["change_id", "first_commit_at"]].drop_duplicates("change_id")
    known = known.assign(
        change_id=known["change_id"].astype(str), first_commit_at=_utc(known["first_commit_at"])
    )
    out = first.merge(known, on="change_id", how="inner").dropna(subset=["first_commit_at"])
    out = out.rename(columns={"finished_at": "shipped_at"})
    out["event_day"] = _day(out["event_day"])
    out["lead_time_h"] = _hours(out["shipped_at"] - out["first_commit_at"]).clip(lower=0.0)
    return out[LEAD_TIME_FACT_COLUMNS].reset_index(drop=True)


def incident_facts(incidents: pd.DataFrame) -> pd.DataFrame:
    """Distinct repo-qualified incidents by opening day."""
    out = incidents[INCIDENT_FACT_COLUMNS].drop_duplicates("incident_id").copy()
    out["event_day"] = _day(out["event_day"])
    return out.reset_index(drop=True)


__all__ = [
    "deployment_facts",
    "explode_list",
    "hotfix_change_ids",
    "incident_facts",
    "lead_time_facts",
    "root_cause_matches",
    "successful_production",
]


def reach_back_days(deployments: pd.DataFrame, incidents: pd.DataFrame, changed_days: set) -> set:
    """Earlier deployment days whose Gold changes when these Silver days change.

    A change failure is attributed to the failed deployment's day, but it is learnt later: from an
    incident (opened on a changed day) whose root cause that deployment shipped, or from a rollback
    (on a changed day) that replaced it. Returns those deployments' days (as dates), outside `changed_days`.
    """
    days = {pd.Timestamp(d).normalize() for d in changed_days}
    if deployments.empty:
        return set()
    dep_day = _day(deployments["event_day"]).dt.normalize()
    day_of = dict(zip(deployments["deployment_id"].astype(str), dep_day, strict=True))
    found: set[pd.Timestamp] = set()
    if not incidents.empty:
        changed_incidents = incidents[_day(incidents["event_day"]).dt.normalize().isin(days)]
        matches = root_cause_matches(successful_production(deployments), changed_incidents)
        found |= {day_of[d] for d in matches["deployment_id"] if d in day_of}
    rollbacks = deployments[dep_day.isin(days) & deployments["is_rollback"].fillna(False).astype(bool)]
    found |= {day_of[d] for d in rollbacks["previous_deployment_id"].dropna().astype(str) if d in day_of}
    return {d.date() for d in found - days}
