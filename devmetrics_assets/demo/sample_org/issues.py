"""Issue timelines: an issue's whole life is planned first, then emitted in time order.

Planning first keeps every delivered snapshot (state, labels, comment count) consistent with the
events before it, even when the closing event comes from a PR merge planned later in a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import payloads as pl
from .catalog import Person
from .model import IssueFact
from .simulation import RepoSim


@dataclass
class IssuePlan:
    """An issue's whole life, planned first and emitted in time order with consistent snapshots."""

    number: int
    gh_id: int
    title: str
    body: str
    author: Person
    labels: list[str]
    late_label: str | None = None
    body_root_cause: str | None = None
    events: list[tuple[int, str, str, Person, str | None]] = field(default_factory=list)

    def comment(self, ts: int, text: str, who: Person, root_cause: str | None = None) -> None:
        self.events.append((ts, "comment", text, who, root_cause))

    def close(self, ts: int, who: Person) -> None:
        self.events.append((ts, "closed", "", who, None))

    def reopen(self, ts: int, who: Person) -> None:
        self.events.append((ts, "reopened", "", who, None))


def plan_issue(
    sim: RepoSim,
    title: str,
    body: str,
    labels: list[str],
    *,
    late_label: str | None = None,
    body_root_cause: str | None = None,
) -> IssuePlan:
    return IssuePlan(
        sim.take_number(),
        sim.ctx.counters.take("issue", sim.rng),
        title,
        body,
        sim.anyone(),
        labels,
        late_label,
        body_root_cause,
    )


def emit_issue(sim: RepoSim, plan: IssuePlan, opened_at: int) -> IssueFact | None:
    """Emit the opened event and then the planned events in time order; drop what falls past the end."""
    limit = sim.ctx.end_ts - 120
    if opened_at >= limit:
        return None
    full = sim.repo.full_name
    fact = IssueFact(
        f"{full}#{plan.number}",
        plan.number,
        plan.title,
        opened_at,
        list(plan.labels),
        labeled_later=plan.late_label is not None,
    )
    if plan.body_root_cause:
        fact.root_cause_mentions.append((opened_at, plan.body_root_cause, "body"))
    comments, closed_at = 0, None
    later = list(plan.events)
    if plan.late_label:
        later.append((opened_at + sim.rng.randint(60, 900), "labeled", plan.late_label, plan.author, None))
    events = [(opened_at, "opened", "", plan.author, None), *sorted(later, key=lambda e: e[0])]
    sim.repo.issues[plan.number] = fact
    last_ts = opened_at - 1
    for ts, kind, text, who, root_cause in events:
        ts = max(ts, last_ts + 1)  # strictly increasing, so the latest snapshot is unambiguous
        if ts >= limit:
            break
        last_ts = ts
        if kind == "labeled":
            fact.labels.append(text)
        elif kind == "closed":
            fact.state, closed_at = "closed", ts
            fact.closes.append(ts)
        elif kind == "reopened":
            fact.state, closed_at = "open", None
            fact.reopens.append(ts)
        elif kind == "comment":
            comments += 1
        issue = pl.issue_block(
            sim.block,
            issue_id=plan.gh_id,
            number=plan.number,
            title=plan.title,
            body=plan.body,
            author=plan.author,
            labels=fact.labels,
            state=fact.state,
            comments=comments,
            created_at=opened_at,
            updated_at=ts,
            closed_at=closed_at,
        )
        if kind == "comment":
            body = pl.issue_comment_body(
                sim.block,
                issue,
                comment_id=sim.ctx.counters.take("comment", sim.rng),
                text=text,
                author=who,
                ts=ts,
            )
            sim.emit("issue_comment", ts, opened_at, body)
            if root_cause:
                fact.root_cause_mentions.append((ts, root_cause, "comment"))
        else:
            label = text if kind == "labeled" else None
            sim.emit("issues", ts, opened_at, pl.issues_body(sim.block, kind, issue, who, label))
    return fact
