"""What happens in a repository on a day: normal work plus, sometimes, one planted scenario.

A few scenarios are scheduled deterministically at the start of the range (spread over repos) so that
every edge case exists even for a tiny organisation; after that they occur at random rates.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from .catalog import FORK_AUTHORS, NON_INCIDENT_LABELS, OTHER_ISSUE_TITLES
from .failures import (
    ensure_pending,
    failed_retry,
    forgeries,
    hotfix,
    incident_no_rc,
    quick_pr,
    retry,
    rollback,
)
from .issues import emit_issue, plan_issue
from .simulation import RepoSim

HOUR = 3600

# Scheduled once each at the start (round-robin over repos), so every kind exists at any size.
GUARANTEED = (
    "hotfix_body",
    "hotfix_comment_short",
    "rollback",
    "failed_retry",
    "hotfix_reopened",
    "hotfix_corrected",
    "incident_open_rc",
    "incident_no_rc_open",
    "incident_labeled_later",
    "skewed_commit",
    "unknown_sha",
    "staging_only",
    "non_incident_issue",
    "batched",
    "fork_pr",
    "abandoned_pr",
    "forgeries",
)
# Per repo-day probabilities afterwards (weekdays; weekends use a tenth).
RANDOM_RATES = {
    "hotfix_body": 0.012,
    "hotfix_comment_short": 0.012,
    "hotfix_reopened": 0.005,
    "hotfix_corrected": 0.004,
    "incident_open_rc": 0.0015,
    "incident_no_rc_open": 0.001,
    "incident_labeled_later": 0.004,
    "rollback": 0.015,
    "failed_retry": 0.015,
    "skewed_commit": 0.006,
    "unknown_sha": 0.002,
    "staging_only": 0.015,
    "non_incident_issue": 0.02,
    "fork_pr": 0.015,
    "abandoned_pr": 0.015,
    "forgeries": 0.002,
}


def guaranteed_schedule(n_repos: int, days: int) -> dict[tuple[int, int], str]:
    """(repo index, day index) -> scenario, for the first occurrence of every kind."""
    plan = {}
    for i, kind in enumerate(GUARANTEED):
        day = 1 + 2 * (i // n_repos)
        if day < days:
            plan[(i % n_repos, day)] = kind
    return plan


def random_scenario(rng: Random, weekday: bool) -> str | None:
    u = rng.random() * (1.0 if weekday else 10.0)
    for kind, rate in RANDOM_RATES.items():
        if u < rate:
            return kind
        u -= rate
    return None


def _poisson(rng: Random, lam: float) -> int:
    count, p, threshold = 0, rng.random(), pow(2.718281828459045, -lam)
    while p > threshold:
        count += 1
        p *= rng.random()
    return count


def simulate_day(
    sim: RepoSim, day_index: int, day_start: int, weekday: bool, scenario: str | None, collision: bool
) -> None:
    """Normal work (PRs, direct pushes, deploys) with the day's scenario inserted at a random point."""
    rng = sim.rng
    sim.day_index = day_index
    win_start = day_start + sim.work_start_s + rng.randint(0, 2700)
    sim.clock = max(sim.clock, win_start)
    win_end = win_start + 9 * HOUR
    act = sim.repo.activity * (1.0 if weekday else 0.1)
    if collision:
        incident_no_rc(sim, still_open=False, label_later=False)
    tasks: list[Callable[[], object]] = [
        lambda: _open_normal_pr(sim) for _ in range(_poisson(rng, 1.2 * act))
    ]
    for pr in list(sim.open_prs):
        if pr.merge_day <= day_index and (weekday or rng.random() < 0.3):
            tasks.append(lambda pr=pr: sim.merge_pr(pr))
    if rng.random() < 0.2 * act:
        tasks.append(lambda: sim.direct_push(rng.choice((1, 1, 2))))
    rng.shuffle(tasks)
    if tasks and rng.random() < 0.25 * act:
        tasks.insert(rng.randint(0, len(tasks)), lambda: _routine_deploy(sim, 1.0))
    if scenario:
        tasks.insert(rng.randint(0, len(tasks)), lambda: SCENARIOS[scenario](sim))
    for task in tasks:
        if sim.clock > win_end + 3 * HOUR:
            break
        task()
        sim.wait(600, 3600)
    _routine_deploy(sim, 0.85 if weekday else 0.2)


def _open_normal_pr(sim: RepoSim) -> None:
    sim.open_pr(merge_in_days=sim.rng.choices((0, 1, 2, 3), (0.45, 0.3, 0.15, 0.1))[0])


def _routine_deploy(sim: RepoSim, probability: float) -> None:
    rng = sim.rng
    if not sim.has_pending or rng.random() >= probability:
        return
    outcome = rng.choice(("failure", "error")) if rng.random() < 0.03 else "success"
    dep = sim.release(outcome=outcome)
    if dep is not None and outcome != "success" and rng.random() < 0.5:
        sim.wait(600, 2400)
        retry(sim, dep)


# ---------------------------------------------------------------------- other scenarios
def _skewed_commit(sim: RepoSim) -> None:
    """A direct commit whose author clock runs hours ahead: it appears to postdate its deployment."""
    if sim.direct_push(1, skew_s=sim.rng.randint(3 * HOUR, 10 * HOUR)):
        sim.release(staging=False)


def _unknown_sha(sim: RepoSim) -> None:
    """Production deploy of a release-branch commit that never reaches main: still a deployment."""
    if not sim.can(3 * HOUR):
        return
    who = sim.anyone()
    branch = f"release/hotfix-{sim.day_index}-{sim.rng.randint(100, 999)}"
    commit = (sim.sha(), sim.clock - sim.rng.randint(600, 3600), "Backport fix to release branch")
    sim.push_branch(branch, [commit], who, "0" * 40)
    sim.wait(300, 1800)
    sim.deploy(sim.repo.prod_env, commit[0], ref=branch, description=f"Deploy {branch}")


def _staging_only(sim: RepoSim) -> None:
    ensure_pending(sim)
    if sim.deploy("staging", sim.main_head, outcome="success" if sim.rng.random() < 0.7 else "failure"):
        sim.wait(600, 1800)
        sim.direct_push(1)  # main moves on, so this staging sha itself never reaches production


def _non_incident_issue(sim: RepoSim) -> None:
    """A bug (not an incident) fixed by a normal PR; sometimes it even names a root cause."""
    rng = sim.rng
    label = rng.choice(NON_INCIDENT_LABELS)
    mention = rng.choice(sim.repo.mainline) if sim.repo.mainline and rng.random() < 0.5 else None
    body = "Seen in logs." + (f"\n\nroot cause: {mention}" if mention else "")
    plan = plan_issue(sim, rng.choice(OTHER_ISSUE_TITLES), body, [label], body_root_cause=mention)
    t_open = sim.clock
    sim.wait(600, 1800)
    fact = quick_pr(sim, body=f"Closes #{plan.number}", fixes=(plan.number,))
    if fact is not None:
        plan.close(fact.landed_at + 2, sim.anyone())
    emit_issue(sim, plan, t_open)


def _batched(sim: RepoSim) -> None:
    quick_pr(sim)
    quick_pr(sim)
    sim.release()


def _abandoned(sim: RepoSim) -> None:
    pr = sim.open_pr()
    if pr is not None:
        sim.wait(1800, 4 * HOUR)
        sim.abandon_pr(pr)


SCENARIOS: dict[str, Callable[[RepoSim], None]] = {
    "hotfix_body": lambda s: hotfix(s, "hotfix_body"),
    "hotfix_comment_short": lambda s: hotfix(s, "hotfix_comment_short"),
    "hotfix_reopened": lambda s: hotfix(s, "hotfix_reopened"),
    "hotfix_corrected": lambda s: hotfix(s, "hotfix_corrected"),
    "incident_open_rc": lambda s: hotfix(s, "incident_open_rc"),
    "incident_no_rc_open": lambda s: incident_no_rc(s, still_open=True, label_later=False),
    "incident_labeled_later": lambda s: incident_no_rc(s, still_open=False, label_later=True),
    "rollback": rollback,
    "failed_retry": failed_retry,
    "skewed_commit": _skewed_commit,
    "unknown_sha": _unknown_sha,
    "staging_only": _staging_only,
    "non_incident_issue": _non_incident_issue,
    "batched": _batched,
    "fork_pr": lambda s: quick_pr(s, fork_owner=s.rng.choice(FORK_AUTHORS), method="squash"),
    "abandoned_pr": _abandoned,
    "forgeries": forgeries,
}
