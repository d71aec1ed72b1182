"""Ground truth of the DORA metrics, computed from the model's facts by contracts §5 — never from files.

The algorithm is written independently of the product's transforms so that it can judge them:
order successful production deployments by (finished_at, deployment_id), walk the main line, and
apply the definitions literally. One convention the contract leaves open is fixed here and stated:
a successful production deployment whose sha is not on the main line ships nothing and is skipped
when the *next* deployment looks for "the previous successful production deployment's sha" (there is
no position to start from); the generator never puts such a deployment directly before a rollback.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from devmetrics_assets.config import DoraRules

from .model import DeploymentFact, IssueFact, OrgModel, RepoModel, utc_day

DAILY_COLUMNS = (
    "deployments",
    "failed_deploy_attempts",
    "change_failures",
    "rework_deployments",
    "incidents_opened",
    "unrecovered_failures",
)


@dataclass
class RepoTruth:
    """Per-repo results, plus the derived situations the edge-case file lists."""

    repo: str
    daily: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(DAILY_COLUMNS, 0))
    )
    lead_times: list[tuple[str, str, str, float]] = field(default_factory=list)
    recoveries: list[tuple[str, str, str, float | None]] = field(default_factory=list)
    shipped: dict[str, list[str]] = field(default_factory=dict)
    rollbacks: list[str] = field(default_factory=list)
    unknown_sha: list[str] = field(default_factory=list)
    batched: list[str] = field(default_factory=list)
    skewed_changes: list[str] = field(default_factory=list)
    change_failures: list[str] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)
    hotfix_changes: list[tuple[str, str]] = field(default_factory=list)


def incidents_of(repo: RepoModel, rules: DoraRules) -> list[IssueFact]:
    """Issues carrying a configured incident label (any case) in their final state."""
    return [i for i in repo.issues.values() if any(rules.is_incident_label(label) for label in i.labels)]


def repo_truth(repo: RepoModel, rules: DoraRules) -> RepoTruth:
    """Apply contracts §5 to one repository."""
    out = RepoTruth(repo.full_name)
    prod = [d for d in repo.deployments if rules.is_production(d.environment)]
    successes = sorted(
        (d for d in prod if d.final_status == "success"), key=lambda d: (d.finished_at, d.deployment_id)
    )
    for d in prod:
        if d.final_status in ("failure", "error"):
            out.daily[utc_day(d.created_at)]["failed_deploy_attempts"] += 1
    pos = repo.mainline_pos
    incidents = incidents_of(repo, rules)
    incident_numbers = {i.number for i in incidents}
    hotfix = {
        c.change_id
        for c in repo.changes.values()
        if c.pr_number is not None and set(c.fixes) & incident_numbers
    }
    for c in sorted(hotfix):
        fixed = sorted(set(repo.changes[c].fixes) & incident_numbers)
        out.hotfix_changes += [(c, f"{repo.full_name}#{n}") for n in fixed]

    replaced_by: dict[str, DeploymentFact] = {}
    rework: set[str] = set()
    prev_known: DeploymentFact | None = None
    prev_any: DeploymentFact | None = None
    seen_changes: set[str] = set()
    for d in successes:
        day = utc_day(d.created_at)
        out.daily[day]["deployments"] += 1
        p = pos.get(d.sha)
        shipped: list[str] = []
        if p is None:
            out.unknown_sha.append(d.deployment_id)
        elif prev_known is not None and p < pos[prev_known.sha]:
            out.rollbacks.append(d.deployment_id)
            rework.add(d.deployment_id)
            if prev_any is not prev_known:
                raise AssertionError(f"{d.deployment_id}: rollback right after an unknown-sha deployment")
            replaced_by[prev_any.deployment_id] = d
        else:
            start = pos[prev_known.sha] + 1 if prev_known is not None else 0
            shipped = repo.mainline[start : p + 1]
        out.shipped[d.deployment_id] = shipped
        changes = list(dict.fromkeys(repo.commit_change[s] for s in shipped))
        if len(changes) >= 2:
            out.batched.append(d.deployment_id)
        if any(c in hotfix for c in changes):
            rework.add(d.deployment_id)
        for cid in changes:
            if cid in seen_changes:
                continue  # re-shipped after a rollback: only the first shipping counts
            seen_changes.add(cid)
            raw = d.finished_at - repo.changes[cid].first_commit_at
            if raw < 0:
                out.skewed_changes.append(cid)
            out.lead_times.append((repo.full_name, day, cid, max(raw, 0) / 3600))
        if p is not None:
            prev_known = d
        prev_any = d

    caused: dict[str, list[IssueFact]] = defaultdict(list)
    for inc in incidents:
        rc = inc.root_cause
        if not rc:
            continue
        rc = rc.lower()
        for d in successes:
            if any(s.startswith(rc) for s in out.shipped[d.deployment_id]):
                caused[d.deployment_id].append(inc)
    for d in successes:
        did = d.deployment_id
        if did not in caused and did not in replaced_by:
            continue
        day = utc_day(d.created_at)
        out.change_failures.append(did)
        out.daily[day]["change_failures"] += 1
        candidates = []
        if did in replaced_by:
            candidates.append(replaced_by[did].finished_at)
        incs = caused.get(did, [])
        if incs and not any(i.is_open for i in incs):
            candidates.append(max(i.resolved_at for i in incs))
        if candidates:
            hours = (min(candidates) - d.finished_at) / 3600
            if hours < 0:
                raise AssertionError(f"{did}: negative recovery time")
            out.recoveries.append((repo.full_name, day, did, hours))
        else:
            out.unrecovered.append(did)
            out.daily[day]["unrecovered_failures"] += 1
            out.recoveries.append((repo.full_name, day, did, None))
    for d in successes:
        if d.deployment_id in rework:
            out.daily[utc_day(d.created_at)]["rework_deployments"] += 1
    for inc in incidents:
        out.daily[utc_day(inc.opened_at)]["incidents_opened"] += 1
    planned = sorted(repo.planned_rollbacks)
    if planned != sorted(out.rollbacks):
        raise AssertionError(f"{repo.full_name}: planned rollbacks {planned} != derived {out.rollbacks}")
    return out


def compute_truth(model: OrgModel, rules: DoraRules) -> list[RepoTruth]:
    return [repo_truth(repo, rules) for repo in model.repos]


def truth_frames(truths: list[RepoTruth]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(daily, lead_times, recoveries) as DataFrames, sorted deterministically."""
    daily_rows = [
        {"repo": t.repo, "day": day, **counts}
        for t in truths
        for day, counts in t.daily.items()
        if any(counts.values())
    ]
    daily = pd.DataFrame(daily_rows, columns=["repo", "day", *DAILY_COLUMNS])
    daily = daily.sort_values(["repo", "day"], kind="stable").reset_index(drop=True)
    leads = (
        pd.DataFrame(
            [row for t in truths for row in t.lead_times], columns=["repo", "day", "change_id", "lead_time_h"]
        )
        .sort_values(["repo", "day", "change_id"], kind="stable")
        .reset_index(drop=True)
    )
    recs = (
        pd.DataFrame(
            [row for t in truths for row in t.recoveries],
            columns=["repo", "day", "deployment_id", "recovery_h"],
        )
        .sort_values(["repo", "day", "deployment_id"], kind="stable")
        .reset_index(drop=True)
    )
    recs["recovery_h"] = recs["recovery_h"].astype("float64")
    leads["lead_time_h"] = leads["lead_time_h"].astype("float64")
    return daily, leads, recs


def write_truth_tables(truths: list[RepoTruth], truth_dir: Path) -> None:
    daily, leads, recs = truth_frames(truths)
    daily.to_csv(truth_dir / "truth_daily.csv", index=False, lineterminator="\n")
    leads.to_csv(truth_dir / "truth_lead_times.csv", index=False, lineterminator="\n")
    recs.to_csv(truth_dir / "truth_recoveries.csv", index=False, lineterminator="\n")
