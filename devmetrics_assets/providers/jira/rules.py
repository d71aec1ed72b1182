"""The Jira rules (`providers: {jira: {...}}` in rules.yaml or a source's `rules:`), parsed and checked.

Keys (all optional):
- `issue_types`, `labels`, `priorities`: which issues are incidents; an issue matching ANY of them is
  one (names compared case-insensitively). Defaults: issue type `Incident`, the rules' global
  `incident_labels`, no priorities.
- `root_cause_field`: a field id (e.g. `customfield_10050`) holding the root-cause commit sha. When set
  and filled on an issue it wins; otherwise the last `root cause: <sha>` in the description or comments.
- how an issue names its repo, first match wins: `repo_field` (a field id holding `owner/name`), then
  `components` (component name → repo), then a service name resolved through the rules' repo → service
  ownership (`repos.<repo>.service`): the value of `service_field` when set, else each component name.
- `done_statuses`: status names treated as done when only a status NAME is known (changelog entries of
  pulled issues carry no status category). Default `Done`, `Closed`, `Resolved`; a name that any issue
  snapshot shows with its category overrides this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KNOWN = ("issue_types", "labels", "priorities", "root_cause_field", "repo_field", "service_field",
         "components", "done_statuses")
DEFAULT_DONE = ("Done", "Closed", "Resolved")


@dataclass(frozen=True)
class JiraRules:
    issue_types: tuple[str, ...] = ("Incident",)
    # None: the rules' global incident_labels apply.
    labels: tuple[str, ...] | None = None
    priorities: tuple[str, ...] = ()
    root_cause_field: str | None = None
    repo_field: str | None = None
    service_field: str | None = None
    # component name (lower case) → repo
    components: Mapping[str, str] = field(default_factory=dict)
    done_statuses: tuple[str, ...] = DEFAULT_DONE


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key}: expected a list of non-empty names, got {value!r}")
    return tuple(v.strip() for v in value)


def _field_id(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError(f"{key}: expected a Jira field id such as 'customfield_10050', got {value!r}")
    return value.strip()


def parse_rules(data: Mapping[str, Any]) -> JiraRules:
    """`providers.jira` → JiraRules; ValueError naming the field when something is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping of Jira rules, got {data!r}")
    unknown = sorted(set(data) - set(KNOWN))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; known: {list(KNOWN)}")
    kwargs: dict[str, Any] = {}
    for key in ("issue_types", "labels", "priorities", "done_statuses"):
        if key in data:
            kwargs[key] = _names(data, key)
    for key in ("root_cause_field", "repo_field", "service_field"):
        kwargs[key] = _field_id(data, key)
    components = data.get("components", {}) or {}
    if not isinstance(components, Mapping):
        raise ValueError(f"components: expected a mapping of component name -> 'owner/name', "
                         f"got {components!r}")
    mapped: dict[str, str] = {}
    for name, repo in components.items():
        if not isinstance(repo, str) or "/" not in repo.strip() or not str(name).strip():
            raise ValueError(f"components.{name}: expected a repo 'owner/name', got {repo!r}")
        mapped[str(name).strip().lower()] = repo.strip()
    kwargs["components"] = mapped
    return JiraRules(**kwargs)
