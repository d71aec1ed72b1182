"""Business rules and locations, read from configuration rather than written into code.

`DoraRules` holds what differs between organisations (which environments are production, which
labels mark incidents, how repos map to teams and services). `Settings` holds where things live
(warehouse file, landing folder, partition start). Neither imports Dagster, so notebooks and pure
transforms can use them cheaply.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PRODUCTION_ENVIRONMENTS = ("production", "prod")
DEFAULT_INCIDENT_LABELS = ("incident",)


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class DoraRules:
    """Rules that decide what counts: production environments, incident labels, ownership."""

    production_environments: tuple[str, ...] = DEFAULT_PRODUCTION_ENVIRONMENTS
    # Optional regular expression; an environment matching it is production too.
    production_environment_pattern: str | None = None
    incident_labels: tuple[str, ...] = DEFAULT_INCIDENT_LABELS
    # repo full name ("org/name") -> {"team": ..., "service": ...}
    repo_owners: dict[str, dict[str, str]] = field(default_factory=dict)
    default_team: str = "unassigned"

    def is_production(self, environment: str | None) -> bool:
        if not environment:
            return False
        env = environment.strip().lower()
        if env in {e.lower() for e in self.production_environments}:
            return True
        pattern = self.production_environment_pattern
        return bool(pattern and re.fullmatch(pattern, environment.strip(), flags=re.IGNORECASE))

    def is_incident_label(self, label: object) -> bool:
        # Labels come from JSON payloads: anything that is not a string is not an incident label.
        return isinstance(label, str) and label.strip().lower() in {x.lower() for x in self.incident_labels}

    def team_of(self, repo: str) -> str:
        return self.repo_owners.get(repo, {}).get("team", self.default_team)

    def service_of(self, repo: str) -> str:
        # A repo without a declared service is its own service.
        return self.repo_owners.get(repo, {}).get("service", repo)


def _as_str_tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def rules_from_mapping(data: dict[str, Any], origin: str = "<mapping>") -> DoraRules:
    """Build rules from a parsed YAML mapping; errors name `origin` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    known = {
        "production_environments",
        "production_environment_pattern",
        "incident_labels",
        "repos",
        "default_team",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{origin}: unknown field(s) {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    if "production_environments" in data:
        kwargs["production_environments"] = _as_str_tuple(
            data["production_environments"], f"{origin}: production_environments"
        )
    if "production_environment_pattern" in data:
        pattern = data["production_environment_pattern"]
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"{origin}: production_environment_pattern: {exc}") from exc
        kwargs["production_environment_pattern"] = pattern
    if "incident_labels" in data:
        kwargs["incident_labels"] = _as_str_tuple(data["incident_labels"], f"{origin}: incident_labels")
    if "default_team" in data:
        kwargs["default_team"] = str(data["default_team"])
    repos = data.get("repos", {}) or {}
    if not isinstance(repos, dict):
        raise ConfigError(f"{origin}: repos: expected a mapping of repo -> {{team, service}}")
    owners: dict[str, dict[str, str]] = {}
    for repo, owner in repos.items():
        if not isinstance(owner, dict) or not set(owner) <= {"team", "service"}:
            raise ConfigError(f"{origin}: repos.{repo}: expected a mapping with 'team' and/or 'service'")
        owners[str(repo)] = {k: str(v) for k, v in owner.items()}
    kwargs["repo_owners"] = owners
    return DoraRules(**kwargs)


def load_rules(path: str | os.PathLike[str] | None) -> DoraRules:
    """Read rules from a YAML file; no file (or None) gives the defaults."""
    if path is None:
        return DoraRules()
    path = Path(path)
    if not path.exists():
        return DoraRules()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return rules_from_mapping(data, origin=str(path))


@dataclass(frozen=True)
class Settings:
    """Where the product keeps its state. Everything lives under one working area by default."""

    home: Path
    warehouse_path: Path
    landing_dir: Path
    rules_path: Path
    partition_start: str

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("DEVMETRICS_HOME", Path.cwd() / ".devmetrics")).resolve()
        return cls(
            home=home,
            warehouse_path=Path(os.environ.get("DEVMETRICS_WAREHOUSE", home / "warehouse.duckdb")),
            landing_dir=Path(os.environ.get("DEVMETRICS_LANDING", home / "landing")),
            rules_path=Path(os.environ.get("DEVMETRICS_RULES", home / "rules.yaml")),
            # A month start, so monthly partitions are whole; weekly ones begin on the first Monday after.
            partition_start=os.environ.get("DEVMETRICS_PARTITION_START", "2024-12-01"),
        )
