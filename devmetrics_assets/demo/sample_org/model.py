"""The in-memory model of the sample organisation: what really happened, as facts.

The simulation (`simulation.py`, `scenarios.py`) records a fact only once the deliveries that
describe it have been emitted, so the facts are exactly what the webhook stream tells. Truth is
computed from these facts (`truth.py`), never by reading the written deliveries back.
Times are integer epoch seconds (UTC); GitHub timestamps have whole-second resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from .catalog import ORG, Person, RepoSpec

TERMINAL_STATES = ("success", "failure", "error", "inactive")


@dataclass(slots=True)
class ChangeFact:
    """A change that landed on the default branch: a merged PR or one direct commit."""

    change_id: str
    merge_method: str  # merge | squash | rebase | direct
    pr_number: int | None
    head_sha: str
    commit_shas: list[str]
    first_commit_at: int
    landed_at: int
    fixes: tuple[int, ...] = ()
    is_hotfix: bool = False
    from_fork: bool = False
    # Lead-time stages (pull requests / merge requests only): opened, first review by someone other than
    # the author (at or before the merge; None when nobody reviewed), merged.
    opened_at: int | None = None
    first_review_at: int | None = None
    merged_at: int | None = None


@dataclass(slots=True)
class DeploymentFact:
    """A deployment and the statuses that were really (validly) delivered for it."""

    deployment_id: str
    gh_id: int
    environment: str
    sha: str
    ref: str
    created_at: int
    description: str = ""
    creator: Person | None = None
    statuses: list[tuple[str, int]] = field(default_factory=list)

    @property
    def final_status(self) -> str:
        return self.statuses[-1][0] if self.statuses else "pending"

    @property
    def finished_at(self) -> int | None:
        if self.statuses and self.statuses[-1][0] in TERMINAL_STATES:
            return self.statuses[-1][1]
        return None


@dataclass(slots=True)
class IssueFact:
    """An issue (incident or not) as its delivered events left it."""

    issue_id: str
    number: int
    title: str
    opened_at: int
    labels: list[str] = field(default_factory=list)
    labeled_later: bool = False
    state: str = "open"
    closes: list[int] = field(default_factory=list)
    reopens: list[int] = field(default_factory=list)
    # (time, raw sha as written, where: "body" | "comment")
    root_cause_mentions: list[tuple[int, str, str]] = field(default_factory=list)
    # Which system reported it: an issue tracker's (github, gitlab) numbers are what `Closes #N` names.
    provider: str = "github"

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def resolved_at(self) -> int | None:
        return None if self.is_open or not self.closes else self.closes[-1]

    @property
    def root_cause(self) -> str | None:
        """The last mention wins (contracts §2)."""
        if not self.root_cause_mentions:
            return None
        return max(self.root_cause_mentions, key=lambda m: m[0])[1]


@dataclass
class RepoModel:
    """Everything known about one repository."""

    spec: RepoSpec
    repo_id: int
    tz_offset_min: int
    prod_env: str
    activity: float
    staging_share: float
    mainline: list[str] = field(default_factory=list)
    mainline_pos: dict[str, int] = field(default_factory=dict)
    main_pushed_at: list[int] = field(default_factory=list)  # one per main push, strictly increasing
    commit_change: dict[str, str] = field(default_factory=dict)
    changes: dict[str, ChangeFact] = field(default_factory=dict)
    deployments: list[DeploymentFact] = field(default_factory=list)
    issues: dict[int, IssueFact] = field(default_factory=dict)
    abandoned_prs: list[str] = field(default_factory=list)
    planned_rollbacks: list[str] = field(default_factory=list)
    retried: list[tuple[str, str]] = field(default_factory=list)
    branch_deletion_deliveries: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{ORG}/{self.spec.name}"

    def add_main_push(self, pushed_at: int, shas: list[str], change_ids: list[str]) -> None:
        """Append a default-branch push to the main line (ordered by pushed_at, then position)."""
        if self.main_pushed_at and pushed_at <= self.main_pushed_at[-1]:
            raise ValueError("main pushes must have strictly increasing pushed_at")
        self.main_pushed_at.append(pushed_at)
        for sha, change_id in zip(shas, change_ids, strict=True):
            self.mainline_pos[sha] = len(self.mainline)
            self.mainline.append(sha)
            self.commit_change[sha] = change_id


@dataclass
class OrgModel:
    """The whole organisation plus the delivery-level plants the outbox made."""

    start: date
    days: int
    repos: list[RepoModel]
    forged_delivery_ids: list[str] = field(default_factory=list)
    redelivered_delivery_ids: list[str] = field(default_factory=list)
    late_deliveries: list[dict[str, object]] = field(default_factory=list)

    @property
    def start_ts(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp())

    @property
    def end_ts(self) -> int:
        return self.start_ts + self.days * 86_400


def utc_day(ts: int) -> str:
    """UTC calendar day of an epoch time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
