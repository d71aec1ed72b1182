"""The `providers: {github_actions: {...}}` rules: which workflow runs are deployments and how they read.

```yaml
providers:
  github_actions:
    workflows: [Deploy, Deploy staging]          # workflow names (`workflow_run.name`) that deploy
    workflow_paths: [.github/workflows/deploy.yml]  # and/or workflow files (`workflow_run.path`)
    production_branches: [main]                  # head_branch of a production run (default: the
                                                 # repository's default branch)
    workflow_environments: {Deploy staging: staging}  # a deploying workflow's own environment: its
                                                 # runs are production iff it is a production name
    environment: production                      # the environment given to production runs
    conclusions: {cancelled: failure}            # overrides of DEFAULT_CONCLUSIONS
```

A run of a workflow matched by neither `workflows` nor `workflow_paths` is not a deployment (ignored by
Silver, not quarantined). Without the block nothing deploys. Names compare case-insensitively, paths
exactly (a `@ref` suffix GitHub adds for reusable workflows is dropped first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# conclusion → deployment state. A cancelled, skipped, neutral or stale run did not change production and
# is not a failed change either: `inactive` (GitLab's canceled deployments read the same). A run waiting
# for an approval that never came (`action_required`) did not deploy: `inactive` too.
DEFAULT_CONCLUSIONS: dict[str, str] = {
    "success": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
    "cancelled": "inactive",
    "skipped": "inactive",
    "neutral": "inactive",
    "stale": "inactive",
    "action_required": "inactive",
}
STATES = ("success", "failure", "error", "inactive")
FIELDS = ("workflows", "workflow_paths", "production_branches", "workflow_environments", "environment",
          "conclusions")


@dataclass(frozen=True)
class ActionsRules:
    """Parsed github_actions rules (see the module docstring)."""

    workflows: frozenset[str] = frozenset()
    workflow_paths: frozenset[str] = frozenset()
    production_branches: tuple[str, ...] | None = None
    workflow_environments: Mapping[str, str] = field(default_factory=dict)
    environment: str = "production"
    conclusions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CONCLUSIONS))

    def deploys(self, name: str | None, path: str | None) -> bool:
        return (name is not None and name.strip().casefold() in self.workflows) or (
            path is not None and clean_path(path) in self.workflow_paths)

    def workflow_environment(self, name: str | None, path: str | None) -> str | None:
        """The environment a deploying workflow names for itself (by path first, then by name)."""
        if path is not None and clean_path(path) in self.workflow_environments:
            return self.workflow_environments[clean_path(path)]
        if name is not None:
            return self.workflow_environments.get(name.strip().casefold())
        return None


def clean_path(path: str) -> str:
    """`.github/workflows/deploy.yml@refs/heads/main` → `.github/workflows/deploy.yml`."""
    return path.strip().split("@", 1)[0]


def _names(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key}: expected a list of non-empty names, got {value!r}")
    return [v.strip() for v in value]


def parse_rules(data: Mapping[str, Any]) -> ActionsRules:
    """ActionsRules from a `providers.github_actions` mapping; ValueError naming the field when wrong."""
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown field; known: {list(FIELDS)}")
    workflows = frozenset(n.casefold() for n in _names(data, "workflows"))
    paths = frozenset(clean_path(p) for p in _names(data, "workflow_paths"))
    branches = tuple(_names(data, "production_branches")) if "production_branches" in data else None
    envs = data.get("workflow_environments", {})
    envs = {} if envs is None else envs
    if not isinstance(envs, Mapping) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in envs.items()
    ):
        raise ValueError(f"workflow_environments: expected a mapping of workflow name or path -> "
                         f"environment name, got {envs!r}")
    by_key: dict[str, str] = {}
    for key, env in envs.items():
        if clean_path(key) not in paths and key.strip().casefold() not in workflows:
            raise ValueError(f"workflow_environments: {key!r} is not a deploying workflow (list it in "
                             "workflows or workflow_paths)")
        by_key[clean_path(key) if clean_path(key) in paths else key.strip().casefold()] = env.strip()
    environment = data.get("environment", "production")
    if not isinstance(environment, str) or not environment.strip():
        raise ValueError(f"environment: expected a non-empty environment name, got {environment!r}")
    overrides = data.get("conclusions", {})
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, Mapping) or not all(
        isinstance(k, str) and v in STATES for k, v in overrides.items()
    ):
        raise ValueError(f"conclusions: expected a mapping of conclusion -> one of {list(STATES)}, "
                         f"got {overrides!r}")
    conclusions = {**DEFAULT_CONCLUSIONS, **{k.strip().lower(): v for k, v in overrides.items()}}
    return ActionsRules(workflows, paths, branches, by_key, environment.strip(), conclusions)
