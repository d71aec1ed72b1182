"""Scenarios where something goes wrong: failed deploys, rollbacks, incidents, hotfixes, forgeries.

Each one composes the primitives of `RepoSim` so that the situation is visible in real webhook shapes,
and leaves the facts `truth.py` needs (root cause shas, rollback targets) in the model.
"""

from __future__ import annotations

from .catalog import INCIDENT_LABEL_VARIANTS, INCIDENT_TITLES
from .issues import IssuePlan, emit_issue, plan_issue
from .model import ChangeFact, DeploymentFact
from .payloads import deployment_body, deployment_status_body, issue_block, issues_body
from .simulation import RepoSim

HOUR = 3600


def retry(sim: RepoSim, failed: DeploymentFact) -> DeploymentFact | None:
    """A new deployment of the same sha after a failed one (GitHub gives it a new id)."""
    retry = sim.deploy(failed.environment, failed.sha, description=f"Retry deploy {failed.sha[:7]}")
    if retry is not None:
        sim.repo.retried.append((failed.deployment_id, retry.deployment_id))
    return retry


def quick_pr(sim: RepoSim, **kwargs: object) -> ChangeFact | None:
    """Open and merge a PR within the same working session."""
    pr = sim.open_pr(**kwargs)
    if pr is None:
        return None
    sim.wait(900, 3 * HOUR)
    return sim.merge_pr(pr, review_push=False)


def ensure_pending(sim: RepoSim) -> None:
    """Make sure main has commits production has not seen yet, so a deploy ships something."""
    if not sim.has_pending:
        if sim.rng.random() < 0.5:
            quick_pr(sim)
        else:
            sim.direct_push(1)


def ensure_baseline(sim: RepoSim) -> None:
    """Make sure a successful production deployment with a main-line sha exists."""
    if sim.last_prod_sha is None:
        ensure_pending(sim)
        sim.release(staging=False)


# ---------------------------------------------------------------------- incidents
def _incident_plan(sim: RepoSim, body_root_cause: str | None, label_later: bool = False) -> IssuePlan:
    rng = sim.rng
    label = rng.choice(INCIDENT_LABEL_VARIANTS)
    title = rng.choice(INCIDENT_TITLES)
    body = f"Alert fired for {sim.repo.spec.name}. Customers affected; investigating."
    if body_root_cause:
        body += "\n\n" + rng.choice(("root cause: ", "Root cause: ", "ROOT CAUSE:")) + body_root_cause
    return plan_issue(
        sim,
        title,
        body,
        [] if label_later else [label],
        late_label=label if label_later else None,
        body_root_cause=body_root_cause,
    )


def _rc_comment(plan: IssuePlan, sim: RepoSim, ts: int, sha: str, prefix: str = "") -> None:
    word = sim.rng.choice(("root cause: ", "Root Cause: ", "root cause:"))
    plan.comment(ts, f"{prefix}Found it. {word}{sha}", sim.anyone(), root_cause=sha)


def hotfix(sim: RepoSim, variant: str) -> None:
    """A deploy ships a bad commit; an incident names it; a hotfix PR (`Fixes #N`) ships the fix."""
    rng = sim.rng
    ensure_baseline(sim)
    earlier = (
        list(sim.repo.mainline[: sim.repo.mainline_pos[sim.last_prod_sha] + 1]) if sim.last_prod_sha else []
    )
    ensure_pending(sim)
    bad = sim.release()
    if bad is None or bad.final_status != "success" or not sim.last_new_shipped:
        return
    culprit = rng.choice(sim.last_new_shipped)
    t_open = bad.finished_at + rng.randint(600, 90 * 60)
    if variant == "hotfix_body" or variant == "incident_open_rc":
        plan = _incident_plan(sim, culprit)
    elif variant == "hotfix_corrected":
        wrong = rng.choice(earlier) if earlier else sim.sha()
        plan = _incident_plan(sim, wrong)
        _rc_comment(
            plan, sim, t_open + rng.randint(1800, 2 * HOUR), culprit[:7], "Correction: not that one. "
        )
    else:
        plan = _incident_plan(sim, None)
        plan.comment(t_open + rng.randint(120, 900), "Investigating.", sim.anyone())
        sha = culprit[:7] if variant == "hotfix_comment_short" else culprit
        _rc_comment(plan, sim, t_open + rng.randint(1200, 3600), sha)
    if variant != "incident_open_rc":
        sim.clock = max(sim.clock, t_open + rng.randint(900, 2700))
        n = plan.number
        title, body = rng.choice(
            (
                (f"Hotfix: {plan.title.lower()}", f"Fixes #{n}"),
                (f"fixes #{n}: revert risky change", "Revert."),
                (f"Hotfix for {plan.title.lower()}", f"closes #{n}"),
            )
        )
        fact = quick_pr(sim, title=title, body=body, fixes=(n,), method=rng.choice(("squash", "merge")))
        if fact is not None:
            plan.close(fact.landed_at + 2, sim.anyone())  # GitHub closes the issue on merge
            fix = sim.release()
            if variant == "hotfix_reopened" and fix is not None and fix.finished_at is not None:
                t = fix.finished_at + rng.randint(1800, 2 * HOUR)
                plan.reopen(t, sim.anyone())
                plan.comment(t + 60, "Still seeing errors on some nodes.", sim.anyone())
                plan.close(t + rng.randint(HOUR, 5 * HOUR), sim.anyone())
    emit_issue(sim, plan, t_open)


def incident_no_rc(sim: RepoSim, *, still_open: bool, label_later: bool) -> None:
    rng = sim.rng
    plan = _incident_plan(sim, None, label_later=label_later)
    t = sim.clock
    plan.comment(t + rng.randint(300, 1800), "Mitigated by scaling up; cause unknown.", sim.anyone())
    if not still_open:
        plan.close(t + rng.randint(HOUR, 6 * HOUR), sim.anyone())
    emit_issue(sim, plan, t)
    sim.wait(300, 1800)


def rollback(sim: RepoSim) -> None:
    """A deploy goes bad and the previous production sha is redeployed (a rollback)."""
    rng = sim.rng
    ensure_baseline(sim)
    target = sim.last_prod_sha
    ensure_pending(sim)
    bad = sim.release(staging=False)
    if target is None or bad is None or bad.final_status != "success" or sim.last_prod_sha == target:
        return
    plan = None
    if rng.random() < 0.6:
        plan = _incident_plan(sim, None)
        t_open = bad.finished_at + rng.randint(120, 1200)
        sim.clock = max(sim.clock, t_open)
    sim.wait(600, 2400)
    rb = sim.deploy(sim.repo.prod_env, target, ref=target, description=f"Rollback to {target[:7]}", fast=True)
    if rb is not None:
        sim.repo.planned_rollbacks.append(rb.deployment_id)
    if plan is not None:
        if rb is not None:
            plan.close(rb.finished_at + rng.randint(600, 5400), sim.anyone())
        emit_issue(sim, plan, t_open)


def failed_retry(sim: RepoSim) -> None:
    rng = sim.rng
    ensure_pending(sim)
    failed = sim.release(outcome=rng.choice(("failure", "error")))
    if failed is None:
        return
    if rng.random() < 0.5 or not sim.ctx.out.model.forged_delivery_ids:
        _forge_success(sim, failed, tamper=rng.random() < 0.5)
    sim.wait(600, 2400)
    retry(sim, failed)


def _forge_success(sim: RepoSim, dep: DeploymentFact, *, tamper: bool) -> None:
    """A plausible `success` status for a failed deployment, with a signature that does not verify."""
    ts = dep.finished_at + sim.rng.randint(120, 1200)
    status_id = sim.ctx.counters.take("status", sim.rng)
    if tamper:
        body = deployment_status_body(sim.block, dep, status_id=status_id, state="failure", ts=ts)

        def edit(b: dict) -> None:
            b["deployment_status"]["state"] = "success"
            b["deployment_status"]["description"] = "Deployment success"

        sim.ctx.out.emit_forged("deployment_status", ts, body, edit)
    else:
        body = deployment_status_body(sim.block, dep, status_id=status_id, state="success", ts=ts)
        sim.ctx.out.emit_forged("deployment_status", ts, body)


def forgeries(sim: RepoSim) -> None:
    """A fake production deployment that 'succeeded' and a fake incident, both wrongly signed."""
    if not sim.can(2 * HOUR) or not sim.repo.mainline:
        return
    gh_id = sim.ctx.counters.take("deployment", sim.rng)
    fake = DeploymentFact(
        f"{sim.repo.full_name}:{gh_id}",
        gh_id,
        sim.repo.prod_env,
        sim.main_head,
        "main",
        sim.clock,
        f"Deploy {sim.main_head[:7]} to {sim.repo.prod_env}",
        sim.anyone(),
    )
    out = sim.ctx.out
    out.emit_forged("deployment", fake.created_at, deployment_body(sim.block, fake))
    ts = fake.created_at + sim.rng.randint(120, 600)
    out.emit_forged(
        "deployment_status",
        ts,
        deployment_status_body(
            sim.block, fake, status_id=sim.ctx.counters.take("status", sim.rng), state="success", ts=ts
        ),
    )
    number = 90_000 + sim.rng.randint(0, 9_999)
    issue = issue_block(
        sim.block,
        issue_id=sim.ctx.counters.take("issue", sim.rng),
        number=number,
        title="Production down",
        body="Everything is broken",
        author=sim.anyone(),
        labels=["incident"],
        state="open",
        comments=0,
        created_at=ts,
        updated_at=ts,
        closed_at=None,
    )
    out.emit_forged("issues", ts + 30, issues_body(sim.block, "opened", issue, sim.anyone()))
    sim.wait(600, 1800)
