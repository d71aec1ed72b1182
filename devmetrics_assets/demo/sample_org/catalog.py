"""Names the sample organisation is built from: repos, teams, people and the wording of titles.

Kept apart from the simulation so that the model code reads as behaviour rather than word lists.
Everything here is constant; choices among these lists are made by the seeded simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

ORG = "acme"
ORG_ID = 91_042_117
ZERO_SHA = "0" * 40

# (domain, owning team). Every third domain is a service made of two repos (api + worker).
DOMAINS: tuple[tuple[str, str], ...] = (
    ("payments", "payments"),
    ("checkout", "commerce"),
    ("search", "growth"),
    ("identity", "identity"),
    ("billing", "payments"),
    ("catalog", "commerce"),
    ("notifications", "platform"),
    ("ledger", "payments"),
    ("gateway", "platform"),
    ("analytics", "data"),
    ("inventory", "commerce"),
    ("profile", "identity"),
    ("pricing", "commerce"),
    ("reporting", "data"),
    ("shipping", "commerce"),
    ("fraud", "payments"),
    ("recommendations", "growth"),
    ("media", "platform"),
    ("auth", "identity"),
    ("events", "data"),
)
SINGLE_SUFFIXES = ("web", "service", "jobs", "gateway", "app")

# Fixed UTC offsets (minutes) of the teams' working hours; commit timestamps carry them.
TZ_OFFSETS_MIN = (-480, -300, 0, 60, 120, 330)


@dataclass(frozen=True)
class RepoSpec:
    """One repository of the organisation and who owns it."""

    name: str
    team: str
    service: str


def plan_repos(count: int) -> list[RepoSpec]:
    """Deterministic repo names; some services span two repos so service roll-ups differ from repo ones."""
    specs: list[RepoSpec] = []
    cycle = 0
    while len(specs) < count:
        for i, (domain, team) in enumerate(DOMAINS):
            base = domain if cycle == 0 else f"{domain}{cycle + 1}"
            if i % 3 == 0:
                names = [f"{base}-api", f"{base}-worker"]
            else:
                names = [f"{base}-{SINGLE_SUFFIXES[(i + cycle) % len(SINGLE_SUFFIXES)]}"]
            for name in names:
                specs.append(RepoSpec(name=name, team=team, service=base))
        cycle += 1
    return specs[:count]


@dataclass(frozen=True)
class Person:
    """A GitHub user; names are partly non-ASCII so signatures exercise UTF-8 bodies."""

    login: str
    name: str
    user_id: int

    @property
    def email(self) -> str:
        return f"{self.login}@acme.example"


PEOPLE: tuple[Person, ...] = tuple(
    Person(login, name, 5_100_000 + 7919 * i)
    for i, (login, name) in enumerate(
        (
            ("mchen", "Mei Chen"),
            ("jalvarez", "José Álvarez"),
            ("zmuller", "Zoë Müller"),
            ("okafor", "Chidi Okafor"),
            ("tnguyen", "Thanh Nguyễn"),
            ("hsato", "Haruto Satō"),
            ("akowalska", "Agnieszka Kowalska"),
            ("rpatel", "Riya Patel"),
            ("lmartin", "Léa Martin"),
            ("dsmith", "Dan Smith"),
            ("fschmidt", "Felix Schmidt"),
            ("ibrahim", "Amira Ibrahim"),
            ("kjohansson", "Karin Johansson"),
            ("pwalker", "Paul Walker"),
            ("sgarcia", "Sofía García"),
            ("yli", "Yan Li"),
            ("bosei", "Bola Osei"),
            ("nrossi", "Nico Rossi"),
            ("ekim", "Eun-ji Kim"),
            ("vpetrov", "Vlad Petrov"),
        )
    )
)
DEPLOY_BOT = Person("github-actions[bot]", "github-actions[bot]", 41_898_282)
FORK_AUTHORS = ("outside-contrib", "drive-by-dev", "oss-friend")

VERBS = ("Add", "Fix", "Refactor", "Remove", "Update", "Improve", "Validate", "Cache", "Log", "Retry")
OBJECTS = (
    "pagination in list endpoint",
    "timeout handling in HTTP client",
    "feature flag for new flow",
    "metrics for queue depth",
    "null check in serializer",
    "index on created_at",
    "config loading order",
    "currency rounding",
    "error messages for invalid input",
    "batch size of consumer",
    "dependency versions",
    "health check endpoint",
    "rate limiter defaults",
    "audit log fields",
    "schema migration for orders",
    "cache invalidation on update",
)
DIRECT_MESSAGES = (
    "Bump version",
    "Update CHANGELOG",
    "Fix typo in README",
    "Tune alert thresholds",
    "Pin base image",
    "Adjust CI cache key",
)
INCIDENT_TITLES = (
    "Elevated 5xx rate after deploy",
    "Latency spike on main endpoint",
    "Requests failing for EU customers",
    "Queue backlog growing",
    "Error rate alert firing",
    "Timeouts talking to the database",
)
OTHER_ISSUE_TITLES = (
    "Flaky test in CI",
    "Docs out of date",
    "Improve logging around retries",
    "Dashboard shows wrong totals",
    "Upgrade runtime version",
)
INCIDENT_LABEL_VARIANTS = ("incident", "Incident", "INCIDENT")
NON_INCIDENT_LABELS = ("bug", "enhancement", "incident-followup", "tech-debt")
