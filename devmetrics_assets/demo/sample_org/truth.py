"""Ground truth of the DORA metrics, computed from the model's facts by docs/metrics.md — never from files.

The algorithm is written independently of the product's transforms so that it can judge them. Per repo it
walks the successful production deployments in START order (the simulations deploy one at a time, so a
deployment is a release: one production environment per repo, asserted), keeps the highest main-line
position released so far, and applies the definitions literally:
- the first release with a main-line sha is the baseline: it ships everything up to its sha, but those
  changes get no lead time (they predate the observed window);
- a release of a sha released before and older than the sha running at its start is a rollback; it
  ships nothing and undoes the newest commit that was running (blaming whoever first shipped it);
- any other release ships the commits above the highest position released so far;
- lead time = the shipping release's finish - the change's first commit; a negative one is excluded;
- an incident's root cause links it to the release that first shipped that commit, unless that release
  started after the incident was resolved; an incident without root cause links to the latest shipping,
  non-rollback release of its service's repos that finished at most the inference window before it opened;
- one failure per episode: a rollback started while a linked incident of the blamed release's repo was
  open, going back before the blamed release, is that incident's recovery; consecutive other rollbacks
  (no shipping release between) blame once, the release that first shipped what the first one undoes;
- recovery: incident failure from max(finish, first opening) to the earliest of those rollbacks and (all
  resolved) the last resolution; rollback failure from finish to the episode's last rollback; the episode
  that ended first wins; none ended: unrecovered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules

from .model import IssueFact, OrgModel, utc_day

DAILY_COLUMNS = (
    "deployments",
    "failed_deploy_attempts",
    "change_failures",
    "change_failures_inferred",
    "rollbacks",
    "rework_deployments",
    "incidents_opened",
    "unrecovered_failures",
)
ISSUE_TRACKERS = ("github", "gitlab")


@dataclass
class RepoTruth:
    """Per-repo results, plus the derived situations the edge-case file lists."""

    repo: str
    daily: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(DAILY_COLUMNS, 0))
    )
    lead_times: list[tuple[str, str, str, float]] = field(default_factory=list)
    # (repo, day, change_id, coding_h, pickup_h, review_h, deploy_h) per non-baseline shipped PR/MR
    stages: list[tuple[str, str, str, float | None, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    recoveries: list[tuple[str, str, str, float | None]] = field(default_factory=list)
    shipped: dict[str, list[str]] = field(default_factory=dict)
    rollbacks: list[str] = field(default_factory=list)
    unknown_sha: list[str] = field(default_factory=list)
    batched: list[str] = field(default_factory=list)
    skewed_changes: list[str] = field(default_factory=list)
    baseline_changes: list[str] = field(default_factory=list)
    change_failures: list[str] = field(default_factory=list)
    inferred_failures: list[str] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)
    hotfix_changes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Release:
    repo: str
    deployment_id: str
    day: str
    created_at: int
    finished_at: int
    sha: str
    shipped: list[str]
    is_rollback: bool = False
    undoes: str | None = None


@dataclass
class _Episode:
    """Evidence blaming one release: (kind, start of recovery, end or None)."""

    kind: str
    start: int
    end: int | None


def incidents_of(repo: Any, rules: DoraRules) -> list[IssueFact]:
    """Issues carrying a configured incident label (any case) in their final state."""
    return [i for i in repo.issues.values() if any(rules.is_incident_label(label) for label in i.labels)]


def _releases(repo: Any, rules: DoraRules, out: RepoTruth) -> list[_Release]:
    """The repo's releases in start order, with what each ships (and its rollbacks, baseline, lead times)."""
    prod = [d for d in repo.deployments if rules.is_production(d.environment)]
    if len({d.environment for d in prod}) > 1:
        raise AssertionError(f"{repo.full_name}: the truth assumes one production environment per repo")
    for d in prod:
        if d.final_status in ("failure", "error"):
            out.daily[utc_day(d.created_at)]["failed_deploy_attempts"] += 1
    pos = repo.mainline_pos
    releases: list[_Release] = []
    hwm: int | None = None
    shipper: dict[str, str] = {}
    for d in sorted((d for d in prod if d.final_status == "success"), key=lambda d: (d.created_at, d.gh_id)):
        rel = _Release(
            repo.full_name, d.deployment_id, utc_day(d.created_at), d.created_at, d.finished_at, d.sha, []
        )
        out.daily[rel.day]["deployments"] += 1
        p = pos.get(d.sha)
        releases.append(rel)
        if p is None:
            out.unknown_sha.append(d.deployment_id)
            continue
        done = [r for r in releases[:-1] if r.sha in pos and r.finished_at <= d.created_at]
        running = max(done, key=lambda r: (r.finished_at, r.created_at)) if done else None
        if running is not None and p < pos[running.sha] and any(r.sha == d.sha for r in done):
            rel.is_rollback, rel.undoes = True, shipper.get(running.sha)
            out.rollbacks.append(d.deployment_id)
            out.daily[rel.day]["rollbacks"] += 1
        elif hwm is None or p > hwm:
            rel.shipped = repo.mainline[(0 if hwm is None else hwm + 1) : p + 1]
            for sha in rel.shipped:
                shipper[sha] = d.deployment_id
            _lead_times(repo, rel, baseline=hwm is None, out=out)
        hwm = p if hwm is None else max(hwm, p)
        out.shipped[d.deployment_id] = rel.shipped
    if sorted(repo.planned_rollbacks) != sorted(out.rollbacks):
        raise AssertionError(
            f"{repo.full_name}: planned rollbacks {repo.planned_rollbacks} != {out.rollbacks}"
        )
    return releases


def _lead_times(repo: Any, rel: _Release, *, baseline: bool, out: RepoTruth) -> None:
    changes = list(dict.fromkeys(repo.commit_change[s] for s in rel.shipped))
    if len(changes) >= 2:
        out.batched.append(rel.deployment_id)
    for cid in changes:
        if baseline:
            out.baseline_changes.append(cid)
            continue
        _stages(repo.full_name, rel, repo.changes[cid], out)
        raw = rel.finished_at - repo.changes[cid].first_commit_at
        if raw < 0:
            out.skewed_changes.append(cid)  # excluded and counted, never clamped
            continue
        out.lead_times.append((repo.full_name, rel.day, cid, raw / 3600))


def _stages(repo: str, rel: _Release, change: Any, out: RepoTruth) -> None:
    """Lead-time stages of a PR/MR shipped by a non-baseline release: coding (first commit → opened),
    pickup (opened → first review), review (first review → merged), deploy (merged → release finish);
    a stage is None when an end is unknown or it is negative."""
    if change.pr_number is None or change.merged_at is None:
        return
    points = (change.first_commit_at, change.opened_at, change.first_review_at, change.merged_at)
    points += (rel.finished_at,)
    pairs = zip(points, points[1:], strict=False)
    hours = [None if a is None or b is None or b < a else (b - a) / 3600 for a, b in pairs]
    out.stages.append((repo, rel.day, change.change_id, *hours))


def _links(
    repos: list[Any], releases: dict[str, list[_Release]], rules: DoraRules
) -> list[tuple[IssueFact, _Release, str]]:
    """(incident, blamed release, "root_cause" | "inferred") for every linked incident of the org."""
    window = rules.incident_inference_window_h * 3600
    links = []
    for repo in repos:
        for inc in incidents_of(repo, rules):
            rc = inc.root_cause
            if rc:
                rc = rc.lower()
                first = next(
                    (r for r in releases[repo.full_name] if any(s.startswith(rc) for s in r.shipped)), None
                )
                if first is not None and (inc.is_open or first.created_at <= inc.resolved_at):
                    links.append((inc, first, "root_cause"))
                continue
            service = rules.service_of(repo.full_name)
            candidates = [
                r
                for other in repos
                if rules.service_of(other.full_name) == service
                for r in releases[other.full_name]
                if r.shipped and not r.is_rollback and 0 <= inc.opened_at - r.finished_at <= window
            ]
            if candidates and window > 0:
                latest = max(candidates, key=lambda r: (r.finished_at, r.created_at, r.deployment_id))
                links.append((inc, latest, "inferred"))
    return links


def _episodes(
    releases: dict[str, list[_Release]], links: list[tuple[IssueFact, _Release, str]]
) -> dict[str, list[_Episode]]:
    """Failure episodes per blamed release id."""
    by_id = {r.deployment_id: r for rs in releases.values() for r in rs}
    first_release = {(r.repo, r.sha): r for rs in releases.values() for r in reversed(rs)}
    blamed: dict[str, list[tuple[IssueFact, str]]] = defaultdict(list)
    for inc, rel, kind in links:
        blamed[rel.deployment_id].append((inc, kind))
    absorbed: set[str] = set()
    episodes: dict[str, list[_Episode]] = defaultdict(list)
    for dep_id, incs in blamed.items():
        rel = by_id[dep_id]
        ends = []
        for rb in releases[rel.repo]:
            during = any(
                rb.created_at >= i.opened_at and (i.is_open or rb.created_at <= i.resolved_at)
                for i, _ in incs
            )
            if rb.is_rollback and during and first_release[(rb.repo, rb.sha)].created_at < rel.created_at:
                absorbed.add(rb.deployment_id)
                ends.append(rb.finished_at)
        if not any(i.is_open for i, _ in incs):
            ends.append(max(i.resolved_at for i, _ in incs))
        start = max(rel.finished_at, min(i.opened_at for i, _ in incs))
        for kind in sorted({k for _, k in incs}):
            episodes[dep_id].append(_Episode(kind, start, min(ends) if ends else None))
    for repo_releases in releases.values():
        group: list[_Release] = []
        for rel in repo_releases + [None]:  # type: ignore[list-item]
            ships = rel is not None and rel.shipped and not rel.is_rollback
            if group and (rel is None or ships):
                first = group[0]
                if first.undoes is not None:
                    blamed_rel = by_id[first.undoes]
                    episodes[first.undoes].append(
                        _Episode("rollback", blamed_rel.finished_at, max(r.finished_at for r in group))
                    )
                group = []
            if rel is not None and rel.is_rollback and rel.deployment_id not in absorbed:
                group.append(rel)
    return episodes


def _hotfixes(repo: Any, rules: DoraRules, out: RepoTruth) -> set[str]:
    numbers = {i.number for i in incidents_of(repo, rules) if i.provider in ISSUE_TRACKERS}
    hotfix = {
        c.change_id for c in repo.changes.values() if c.pr_number is not None and set(c.fixes) & numbers
    }
    for c in sorted(hotfix):
        out.hotfix_changes += [
            (c, f"{repo.full_name}#{n}") for n in sorted(set(repo.changes[c].fixes) & numbers)
        ]
    return hotfix


def org_truth(repos: list[Any], rules: DoraRules) -> list[RepoTruth]:
    """Apply docs/metrics.md to every repository of an organisation (incident inference spans a service)."""
    truths = {repo.full_name: RepoTruth(repo.full_name) for repo in repos}
    releases = {repo.full_name: _releases(repo, rules, truths[repo.full_name]) for repo in repos}
    episodes = _episodes(releases, _links(repos, releases, rules))
    for repo in repos:
        out = truths[repo.full_name]
        hotfix = _hotfixes(repo, rules, out)
        for rel in releases[repo.full_name]:
            changes = {repo.commit_change[s] for s in rel.shipped}
            if rel.is_rollback or changes & hotfix:
                out.daily[rel.day]["rework_deployments"] += 1
            found = episodes.get(rel.deployment_id)
            if not found:
                continue
            out.change_failures.append(rel.deployment_id)
            out.daily[rel.day]["change_failures"] += 1
            if {e.kind for e in found} == {"inferred"}:
                out.inferred_failures.append(rel.deployment_id)
                out.daily[rel.day]["change_failures_inferred"] += 1
            ended = sorted((e for e in found if e.end is not None), key=lambda e: (e.end, e.start))
            if ended:
                hours = max(ended[0].end - ended[0].start, 0) / 3600
                out.recoveries.append((repo.full_name, rel.day, rel.deployment_id, hours))
            else:
                out.unrecovered.append(rel.deployment_id)
                out.daily[rel.day]["unrecovered_failures"] += 1
                out.recoveries.append((repo.full_name, rel.day, rel.deployment_id, None))
        for inc in incidents_of(repo, rules):
            out.daily[utc_day(inc.opened_at)]["incidents_opened"] += 1
    return [truths[repo.full_name] for repo in repos]


def compute_truth(model: OrgModel, rules: DoraRules) -> list[RepoTruth]:
    return org_truth(list(model.repos), rules)


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


STAGE_COLUMNS = ("coding_h", "pickup_h", "review_h", "deploy_h")


def stage_frame(truths: list[RepoTruth]) -> pd.DataFrame:
    """Lead-time stages per shipped PR/MR (repo, day of the shipping release, change_id, STAGE_COLUMNS)."""
    rows = [row for t in truths for row in t.stages]
    frame = pd.DataFrame(rows, columns=["repo", "day", "change_id", *STAGE_COLUMNS])
    frame = frame.sort_values(["repo", "day", "change_id"], kind="stable").reset_index(drop=True)
    return frame.astype({c: "float64" for c in STAGE_COLUMNS})


def write_truth_tables(truths: list[RepoTruth], truth_dir: Path) -> None:
    daily, leads, recs = truth_frames(truths)
    stage_frame(truths).to_csv(truth_dir / "truth_lead_time_stages.csv", index=False, lineterminator="\n")
    daily.to_csv(truth_dir / "truth_daily.csv", index=False, lineterminator="\n")
    leads.to_csv(truth_dir / "truth_lead_times.csv", index=False, lineterminator="\n")
    recs.to_csv(truth_dir / "truth_recoveries.csv", index=False, lineterminator="\n")
