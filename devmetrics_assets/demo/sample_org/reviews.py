"""Reviews the sample organisations plant: believable pickup delays, deterministic for a seed.

Reviews draw from their own `Random`, seeded by the pull request's identity, and are emitted on time
(never late, never redelivered) through streams that leave the seed's other draws alone: adding them
changes no other delivery and no other truth figure.

GitHub (`plant_github_reviews`): most PRs get a first review a few hours after opening (log-normal,
median about 2 h), sometimes a comment-only or changes-requested review followed by an approval; now and
then the author comments on their own PR first (never a review); about one PR in twelve merges unreviewed.
A review's time is before the merge and on a day the outbox has not written yet (a PR opened days before
its merge day is picked up on the merge day: it waited).

GitLab (`plant_gitlab_reviews`, the mixed organisation): a note on the MR or an approval (`approval`
Merge Request Hook) some minutes after opening (log-normal, median 15 min), a note usually followed by an
approval; now and then the author's own note first (never a review); one MR in ten merges unreviewed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from random import Random
from typing import Any

from . import payloads as pl
from .mixed_payloads import gitlab_approval, gitlab_mr_note

NO_REVIEW_SHARE = 0.08
AUTHOR_COMMENT_SHARE = 0.12
PICKUP_MEDIAN_S = 2 * 3600


def review_rng(*parts: object) -> Random:
    """A Random for one PR's reviews: a function of its identity only (str seeds hash deterministically)."""
    return Random(":".join(str(p) for p in ("reviews", *parts)))


def pickup_time(rng: Random, opened: int, lo: int, hi: int) -> int | None:
    """First review time in [lo, hi]: opened + a log-normal delay, else somewhere in the open window."""
    if hi - lo < 120:
        return None
    at = opened + int(rng.lognormvariate(math.log(PICKUP_MEDIAN_S), 0.9))
    if at < lo or at > hi:
        at = lo + int(rng.uniform(0.1, 0.7) * (hi - lo))
    return at


def plant_github_reviews(sim: Any, pr: Any, merged_at: int) -> int | None:
    """Emit `pull_request_review` deliveries for `pr` (merging at `merged_at`); the first counted review's
    time, or None when nobody but the author reviewed."""
    rng = review_rng(sim.repo.full_name, pr.pr_id, pr.number)
    others = [p for p in sim.people if p.login != pr.author.login]
    if not others or rng.random() < NO_REVIEW_SHARE:
        return None
    out = sim.ctx.out
    lo, hi = max(pr.created_at + 60, out.open_from()), merged_at - 60
    first = pickup_time(rng, pr.created_at, lo, hi)
    if first is None:
        return None

    def review(who: Any, state: str, at: int) -> None:
        body = pl.pull_request_review_body(
            sim.block,
            pr=pr,
            review_id=sim.ctx.counters.take("review", rng),
            reviewer=who,
            state=state,
            submitted_at=at,
            base_sha=sim.main_head,
        )
        out.emit_on_time("pull_request_review", at, body, rng)

    if rng.random() < AUTHOR_COMMENT_SHARE and first - lo > 120:
        review(pr.author, "commented", lo + int(rng.uniform(0.1, 0.9) * (first - lo)))
    reviewer = rng.choice(others)
    state = rng.choices(("approved", "commented", "changes_requested"), (0.55, 0.25, 0.2))[0]
    review(reviewer, state, first)
    if state != "approved" and hi - first > 120:
        review(rng.choice(others), "approved", first + int(rng.uniform(0.2, 0.9) * (hi - first)))
    return first


def plant_gitlab_reviews(
    out: Any,
    project: dict[str, Any],
    iid: int,
    title: str,
    opened: float,
    merged: float,
    seed: int,
    mr_event: Callable[[int], dict[str, Any]],
) -> int | None:
    """Emit approval / note deliveries for merge request `iid` (`mr_event(at)`: its Merge Request Hook body
    at a time); the first counted review's time (whole seconds), or None when nobody reviewed it."""
    rng = review_rng(seed, project["path_with_namespace"], iid)
    author, others = rng.randint(101, 106), [u for u in range(101, 107)]
    others.remove(author)
    lo, hi = int(opened) + 60, int(merged) - 60
    if rng.random() < 0.1 or hi - lo < 120:
        return None
    at = int(opened) + int(rng.lognormvariate(math.log(15 * 60), 0.7))
    first = at if lo <= at <= hi else lo + int(rng.uniform(0.1, 0.7) * (hi - lo))

    def note(writer: int, when: int) -> None:
        body = gitlab_mr_note(project, iid, when, opened, author, writer, title)
        out.emit("gitlab", "Note Hook", body, when, rng=rng)

    def approve(who: int, when: int) -> None:
        out.emit("gitlab", "Merge Request Hook", gitlab_approval(mr_event(when), author, who), when, rng=rng)

    if rng.random() < AUTHOR_COMMENT_SHARE and first - lo > 120:
        note(author, lo + int(rng.uniform(0.1, 0.9) * (first - lo)))
    if rng.random() < 0.5:
        approve(rng.choice(others), first)
    else:
        note(rng.choice(others), first)
        if rng.random() < 0.7 and hi - first > 120:
            approve(rng.choice(others), first + int(rng.uniform(0.2, 0.9) * (hi - first)))
    return first
