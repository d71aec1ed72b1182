"""The interface every source system implements: one `Provider` object per folder under providers/.

A provider folder owns everything about its system: webhook authentication and identification, the API
pull client, payload parsing, the event anchors, the mapping to the conformed Silver entities
(transforms/silver_contract.py), the lineage keys of its payloads and the classification of its
real-time events. Everything else in the package (the receiver, the pullers, Bronze, the Silver
builders, explain and the watcher) reaches a provider only through `providers.PROVIDERS`, so adding a
system is one new folder and one registry line.

Only `name`, `webhook`, `anchor`, `silver` and `lineage_keys` are required; a system without an API
leaves `api` None, one without real-time rules leaves `classifier` None. Pure: no Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from devmetrics_assets.config import DoraRules

if TYPE_CHECKING:  # only for hints: these modules import the registry at run time
    from devmetrics_assets.alerting.api import Notification
    from devmetrics_assets.sources.pull.http import HttpClient

# (kind, repo, native id): a Silver row's identity as a payload names it (transforms/lineage.py).
LineageKey = tuple[str, str | None, str]
# Silver entities a provider can feed. "mainline" is the commit history deployments and changes read.
ENTITIES = ("mainline", "changes", "deployments", "incidents")


@dataclass(frozen=True)
class Identity:
    """What the receiver needs to store a delivery once: its id and its event type."""

    delivery_id: str
    event_type: str


class Rejected(Exception):
    """A delivery refused with an HTTP status and a reason safe to show the sender."""

    def __init__(self, status: int, reason: str, delivery_id: str | None = None,
                 event_type: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.delivery_id = delivery_id
        self.event_type = event_type


@dataclass(frozen=True)
class Webhook:
    """How the receiver (and a recorded file) authenticates and identifies one delivery.

    `authenticate(headers, body, secret, options)` raises Rejected 401 (unsigned) / 403 (forged) and
    returns None when the delivery verifies; `identify(headers, body, raw)` returns the Identity or raises
    Rejected 400. Headers are a mapping with lower-case names. `kept_headers`: what may be stored with a
    delivery (an allow-list: credentials never reach a file). `native_headers`: the (event, delivery id)
    header names a pulled record is given, so a pulled delivery looks like a pushed one.
    """

    authenticate: Callable[[Mapping[str, str], bytes, str, Mapping[str, Any]], None]
    identify: Callable[[Mapping[str, str], dict, bytes], Identity]
    kept_headers: frozenset[str]
    native_headers: tuple[str, str] | None = None


class Puller(Protocol):
    """An API client: the units it can pull, turned into webhook-shaped deliveries (sources/pull)."""

    def pull(self, resource: str, scope: str, lower: Any, upper: Any) -> Any: ...

    def members(self, group: str) -> list[str]: ...


@dataclass(frozen=True)
class ApiPull:
    """An API a `<provider>_api` source pulls (sources/pull/reader.py owns cursors, landing and retries).

    `make_puller(client, options)` gets the HttpClient and the validated ApiOptions (page size, max
    pages, `extra`); `auth_headers(token)` the headers of every request.
    """

    source_type: str
    resources: tuple[str, ...]
    base_url: str
    token_env: str
    auth_headers: Callable[[str | None], dict[str, str]]
    make_puller: Callable[[HttpClient, Any], Puller]
    scope_option: str | None = None
    group_option: str | None = None
    # Options of this API beyond the common ones, with their defaults (their type is the default's).
    extra: dict[str, Any] = field(default_factory=dict)
    # Scope keys of which at least one must be set for a pull to know what to pull.
    required_scope: tuple[str, ...] = ()
    # A list option left empty takes the values of a scope key (option → scope key).
    extra_from_scope: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SilverContext:
    """What a provider's Silver mapping may read besides its own rows (built by silver_entities.py)."""

    rules: DoraRules
    start: pd.Timestamp
    end: pd.Timestamp
    # (repo, number) of incident issues known so far: a change closing one is a hotfix.
    incident_keys: set[tuple[str, int]] = field(default_factory=set)
    # Main-line Bronze rows of every provider, split by provider (deployments and incidents read them).
    mainline_rows: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    # The combined main line of every provider (MAINLINE_COLUMNS), built on first use.
    mainline: Callable[[], pd.DataFrame] | None = None
    # Repos whose main line another provider knows (a generic tool's `changes` only fill gaps).
    known_repos: Callable[[str], set[str]] | None = None


# (changes, quarantine rejects) / (deployments, statuses, rejects) / (incidents, rejects)
ChangesMapper = Callable[[pd.DataFrame, SilverContext], tuple[pd.DataFrame, pd.DataFrame]]
DeploymentsMapper = Callable[[pd.DataFrame, DoraRules, pd.Timestamp],
                             tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]
IncidentsMapper = Callable[[pd.DataFrame, SilverContext], tuple[pd.DataFrame, pd.DataFrame]]


@dataclass(frozen=True)
class SilverMapping:
    """A provider's Bronze event types per entity and its mappers to the conformed Silver shapes.

    - `mainline(rows, rules, known_repos)`: the provider's main line (MAINLINE_COLUMNS);
    - `changes(rows, ctx)`: silver_changes rows landed in [ctx.start, ctx.end) and rejects;
    - `deployments(rows, rules, end)`: deployments and statuses in the normalised shapes
      (transforms/normalised.py) and rejects; the shared final-status and shipping rules run once after;
    - `incidents(rows, ctx)`: silver_incidents rows opened in the window and rejects;
    - `incident_keys(rows, rules)`: (repo, number) of the incident issues a `Closes #N` can name;
    - `reviews(rows)`: the first-review facts (repo, number, reviewer, reviewed_at) of its review events.
    `incidents_open_ended`: incident rows anchor on their received day (notes without an incident time),
    so Silver reads them from the window start onwards.
    """

    events: Mapping[str, tuple[str, ...]]
    mainline: Callable[[pd.DataFrame, DoraRules, frozenset[str]], pd.DataFrame] | None = None
    changes: ChangesMapper | None = None
    deployments: DeploymentsMapper | None = None
    incidents: IncidentsMapper | None = None
    incident_keys: Callable[[pd.DataFrame, DoraRules], set[tuple[str, int]]] | None = None
    reviews: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    review_events: tuple[str, ...] = ()
    incidents_open_ended: bool = False
    # Deployment rows also carry main-line facts (a generic deployment lists the commits it ships).
    deployments_are_mainline: bool = False

    def events_of(self, entity: str) -> tuple[str, ...]:
        return tuple(self.events.get(entity, ()))


class Classifier(Protocol):
    """Turns one stored delivery into the notifications it causes now (realtime/)."""

    def classify(self, delivery: Any, *, quiet: bool = False) -> list[Notification]: ...


@dataclass(frozen=True)
class Provider:
    """One source system. See the module docstring; `scope_keys` are what sources.yaml `scope:` may hold
    for it (key → "str" | "list" | "repo_list", the last a list of `owner/name`)."""

    name: str
    title: str
    webhook: Webhook
    anchor: Callable[[str, dict], Any]
    silver: SilverMapping
    lineage_keys: Callable[[str, Any], list[LineageKey]]
    scope_keys: Mapping[str, str] = field(default_factory=dict)
    api: ApiPull | None = None
    classifier: Callable[[DoraRules, Any], Classifier] | None = None
    # An issue tracker's incident numbers are what a change's `Closes #N` names (GitHub, GitLab); other
    # systems' incident ids are prefixed with the provider name in Silver.
    issue_tracker: bool = False
    # Extra source types only this provider reads (e.g. recorded GitHub JSONL files), type → reader.
    readers: Mapping[str, Callable[..., tuple[pd.DataFrame, pd.DataFrame]]] = field(default_factory=dict)
    # Rules only this system understands (`DoraRules.provider_rules[name]`, from rules.yaml or a source's
    # `rules: {providers: {<name>: ...}}`): parsed into the provider's own object, ValueError naming the
    # field when wrong. The mappers call it with `rules.provider_rules.get(name, {})`.
    parse_rules: Callable[[Mapping[str, Any]], Any] | None = None
