"""`truth/truth_edge_cases.json`: which ids embody which planted situation.

Lists come from the model's facts (what was emitted) and from the truth computation (what the
definitions make of it), so a test can point at the exact delivery, change or deployment behind a
failing number.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from devmetrics_assets.config import DoraRules

from .model import OrgModel
from .truth import RepoTruth, incidents_of


def edge_cases(model: OrgModel, truths: list[RepoTruth], rules: DoraRules) -> dict[str, Any]:
    """Every list is non-empty for any organisation of at least 2 repos and ~25 days."""
    cases: dict[str, list[Any]] = defaultdict(list)
    cases["forged_delivery_ids"] = list(model.forged_delivery_ids)
    cases["redelivered_delivery_ids"] = list(model.redelivered_delivery_ids)
    cases["late_deliveries"] = list(model.late_deliveries)
    by_number: dict[int, list[str]] = defaultdict(list)
    for repo, truth in zip(model.repos, truths, strict=True):
        cases["branch_deletion_push_delivery_ids"] += repo.branch_deletion_deliveries
        cases["rollback_deployment_ids"] += truth.rollbacks
        for failed, retry in repo.retried:
            cases["failed_then_retried"].append(
                {"failed_deployment_id": failed, "retry_deployment_id": retry}
            )
        cases["batched_deployment_ids"] += truth.batched
        cases["unknown_sha_deployment_ids"] += truth.unknown_sha
        cases["change_failure_deployment_ids"] += truth.change_failures
        cases["unrecovered_failure_deployment_ids"] += truth.unrecovered
        cases["skewed_clock_change_ids"] += truth.skewed_changes
        cases["baseline_change_ids"] += truth.baseline_changes
        cases["inferred_failure_deployment_ids"] += truth.inferred_failures
        for change_id, incident_id in truth.hotfix_changes:
            cases["hotfix_changes"].append({"change_id": change_id, "incident_id": incident_id})
        prod_shas = {d.sha for d in repo.deployments if rules.is_production(d.environment)}
        for d in repo.deployments:
            if d.environment == "staging":
                cases["staging_deployment_ids"].append(d.deployment_id)
                if d.sha not in prod_shas:
                    cases["staging_only_deployment_ids"].append(d.deployment_id)
        for change in repo.changes.values():
            cases[f"{change.merge_method}_change_ids"].append(change.change_id)
            if change.from_fork:
                cases["fork_pr_change_ids"].append(change.change_id)
        cases["abandoned_pr_ids"] += repo.abandoned_prs
        incidents = incidents_of(repo, rules)
        incident_numbers = {i.number for i in incidents}
        for inc in incidents:
            by_number[inc.number].append(inc.issue_id)
            mentions = inc.root_cause_mentions
            if not mentions:
                cases["incidents_without_root_cause"].append(inc.issue_id)
            last = max(mentions, key=lambda m: m[0]) if mentions else None
            if last and last[2] == "body":
                cases["incidents_root_cause_in_body"].append(inc.issue_id)
            if last and last[2] == "comment":
                cases["incidents_root_cause_in_comment"].append(inc.issue_id)
            if last and len(last[1]) < 40:
                cases["incidents_root_cause_short_sha"].append(inc.issue_id)
            if len({m[1] for m in mentions}) > 1:
                cases["incidents_root_cause_corrected"].append(inc.issue_id)
            if inc.reopens:
                cases["incidents_reopened"].append(inc.issue_id)
            if inc.is_open:
                cases["incidents_still_open"].append(inc.issue_id)
            if inc.labeled_later:
                cases["incidents_labeled_later"].append(inc.issue_id)
        for issue in repo.issues.values():
            if issue.number not in incident_numbers:
                cases["non_incident_issue_ids"].append(issue.issue_id)
        for change in repo.changes.values():
            if change.fixes and not set(change.fixes) & incident_numbers:
                cases["non_hotfix_changes_fixing_issues"].append(change.change_id)
    cases["colliding_issue_numbers"] = [
        {"number": n, "incident_ids": ids} for n, ids in sorted(by_number.items()) if len(ids) > 1
    ]
    cases["failed_then_retried_deployment_ids"] = [
        p["failed_deployment_id"] for p in cases["failed_then_retried"]
    ]
    cases["hotfix_change_ids"] = sorted({h["change_id"] for h in cases["hotfix_changes"]})
    return {key: cases[key] for key in sorted(cases)}


def write_edge_cases(model: OrgModel, truths: list[RepoTruth], rules: DoraRules, path: Path) -> None:
    path.write_text(json.dumps(edge_cases(model, truths, rules), indent=1, ensure_ascii=False) + "\n")
