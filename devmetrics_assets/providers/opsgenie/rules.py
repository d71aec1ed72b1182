"""The `providers: {opsgenie: {...}}` rules: which alerts are incidents and how an alert finds its repo.

```yaml
providers:
  opsgenie:
    priorities: [P1, P2]          # an alert with one of these priorities is an incident (default P1, P2)
    tags: [sev1, customer-impact] # ... or carrying one of these tags
    teams: [payments]             # ... or assigned to one of these teams (name or id)
    team_repos: {payments: acme/payments}   # team (name or id) -> repo
    repo_detail: repo             # alert details key holding the repo ("owner/name")
    service_detail: service       # alert details key holding a service (repos.<repo>.service in rules)
    root_cause_detail: root_cause # alert details key holding the root-cause sha
```
Any match of priorities / tags / teams makes an alert an incident (an empty list matches nothing).
Names compare case-insensitively. Parsing fails with a ValueError naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")


@dataclass(frozen=True)
class OpsgenieRules:
    priorities: tuple[str, ...] = ("P1", "P2")
    tags: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    # lower-cased team name or id -> repo
    team_repos: Mapping[str, str] = field(default_factory=dict)
    repo_detail: str = "repo"
    service_detail: str = "service"
    root_cause_detail: str = "root_cause"

    def is_incident(self, priority: str | None, tags: set[str], teams: set[str]) -> bool:
        """Any match: the priority, a tag or a team (names already lower-cased)."""
        return (
            (priority or "").upper() in self.priorities
            or bool(tags & {t.lower() for t in self.tags})
            or bool(teams & {t.lower() for t in self.teams})
        )


def _names(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{name}: expected a list of non-empty names, got {value!r}")
    return tuple(v.strip() for v in value)


def _key(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: expected a non-empty details key, got {value!r}")
    return value.strip()


def parse_rules(declared: Mapping[str, Any]) -> OpsgenieRules:
    """`providers.opsgenie` mapping → OpsgenieRules; ValueError naming the first wrong field."""
    if not isinstance(declared, Mapping):
        raise ValueError(f"expected a mapping, got {declared!r}")
    known = {
        "priorities",
        "tags",
        "teams",
        "team_repos",
        "repo_detail",
        "service_detail",
        "root_cause_detail",
    }
    unknown = sorted(set(declared) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: not an opsgenie rule; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    if "priorities" in declared:
        priorities = tuple(p.upper() for p in _names(declared["priorities"], "priorities"))
        bad = [p for p in priorities if p not in PRIORITIES]
        if bad:
            raise ValueError(f"priorities: {bad[0]!r} is not an Opsgenie priority; known: {list(PRIORITIES)}")
        kwargs["priorities"] = priorities
    for name in ("tags", "teams"):
        if name in declared:
            kwargs[name] = _names(declared[name], name)
    if "team_repos" in declared:
        mapping = declared["team_repos"]
        if not isinstance(mapping, Mapping):
            raise ValueError(f"team_repos: expected a mapping of team -> 'owner/name', got {mapping!r}")
        repos: dict[str, str] = {}
        for team, repo in mapping.items():
            if not isinstance(team, str) or not team.strip():
                raise ValueError(f"team_repos: expected team names as keys, got {team!r}")
            if not isinstance(repo, str) or not _REPO.match(repo.strip()):
                raise ValueError(f"team_repos.{team}: expected 'owner/name', got {repo!r}")
            repos[team.strip().lower()] = repo.strip()
        kwargs["team_repos"] = repos
    for name in ("repo_detail", "service_detail", "root_cause_detail"):
        if name in declared:
            kwargs[name] = _key(declared[name], name)
    return OpsgenieRules(**kwargs)
