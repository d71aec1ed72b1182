"""Business rules and locations, read from configuration rather than written into code.

`DoraRules` holds what differs between organisations (which environments are production, which
labels mark incidents, how repos map to teams and services). `Settings` holds where things live
(warehouse file, landing folder, partition start). Neither imports Dagster, so notebooks and pure
transforms can use them cheaply.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PRODUCTION_ENVIRONMENTS = ("production", "prod")
DEFAULT_INCIDENT_LABELS = ("incident",)
DEPLOYMENT_UNITS = ("release", "environment")
DEFAULT_INCIDENT_INFERENCE_WINDOW_H = 24.0


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
    # What one deployment is: `release` = one (repo, sha) reaching production, counted once however many
    # production environments (regions) receive it; `environment` = every production environment counts.
    deployment_unit: str = "release"
    # An incident without a root cause is linked to the latest production deployment of its repo's service
    # that finished at most this many hours before it opened (0 disables inference).
    incident_inference_window_h: float = DEFAULT_INCIDENT_INFERENCE_WINDOW_H
    # Rules only one source system understands, keyed by provider name (rules.yaml / a source's `rules:`
    # `providers: {<name>: {...}}`): e.g. which GitHub Actions workflows deploy, which Jira issues are
    # incidents. Each provider reads and validates its own (`Provider.parse_rules`); sources/registry.py
    # checks every declared one when the configuration loads.
    provider_rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.deployment_unit not in DEPLOYMENT_UNITS:
            raise ConfigError(
                f"deployment_unit must be one of {list(DEPLOYMENT_UNITS)}, got {self.deployment_unit!r}"
            )
        if not self.incident_inference_window_h >= 0:
            raise ConfigError(
                f"incident_inference_window_h must be >= 0, got {self.incident_inference_window_h!r}"
            )

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
        "deployment_unit",
        "incident_inference_window_h",
        "providers",
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
    if "deployment_unit" in data:
        unit = data["deployment_unit"]
        if unit not in DEPLOYMENT_UNITS:
            raise ConfigError(
                f"{origin}: deployment_unit: expected one of {list(DEPLOYMENT_UNITS)}, got {unit!r}"
            )
        kwargs["deployment_unit"] = unit
    if "incident_inference_window_h" in data:
        hours = data["incident_inference_window_h"]
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours >= 0:
            raise ConfigError(f"{origin}: incident_inference_window_h: expected hours >= 0, got {hours!r}")
        kwargs["incident_inference_window_h"] = float(hours)
    providers = data.get("providers", {}) or {}
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise ConfigError(f"{origin}: providers: expected a mapping of provider name -> its rules mapping")
    kwargs["provider_rules"] = {str(name): dict(rules) for name, rules in providers.items()}
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


DEFAULT_PARTITION_START = "2024-12-01"
# Before GitHub (2008), PagerDuty (2009) and GitLab (2011) existed, a delivery or event time is a
# placeholder or a corruption (the 1970 epoch, a zeroed field), not history: it is quarantined.
DEFAULT_HISTORY_FLOOR = "2008-01-01"
# How far past "now" a received or event time may lie (clock skew between systems) before it is quarantined.
DEFAULT_FUTURE_SKEW_HOURS = 24.0
# Where a load that reached further back than the configured partition start records the new start.
PARTITIONS_FILE = "partitions.json"


def _env_date(name: str, default: str) -> str:
    value = os.environ.get(name) or default
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a date as YYYY-MM-DD") from None
    return value


def _env_hours(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not hours >= 0:
        raise ConfigError(f"{name}={value!r}: expected a number of hours >= 0")
    return hours


@dataclass(frozen=True)
class Settings:
    """Where the product keeps its state. Everything lives under one working area by default."""

    home: Path
    warehouse_path: Path
    landing_dir: Path
    rules_path: Path
    # First day of the partitions: where the home's data starts (the first load or demo of a fresh home
    # sets it, later loads of older history move it earlier), persisted in <home>/partitions.json so the
    # UI and every later command see the same partitions; DEVMETRICS_PARTITION_START caps it.
    partition_start: str
    # Received and event times must lie in [history_floor, now + future_skew_hours] (clock.utc_now).
    history_floor: str = DEFAULT_HISTORY_FLOOR
    future_skew_hours: float = DEFAULT_FUTURE_SKEW_HOURS

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("DEVMETRICS_HOME", Path.cwd() / ".devmetrics")).resolve()
        configured = _env_date("DEVMETRICS_PARTITION_START", DEFAULT_PARTITION_START)
        return cls(
            home=home,
            warehouse_path=Path(os.environ.get("DEVMETRICS_WAREHOUSE", home / "warehouse.duckdb")),
            landing_dir=Path(os.environ.get("DEVMETRICS_LANDING", home / "landing")),
            rules_path=Path(os.environ.get("DEVMETRICS_RULES", home / "rules.yaml")),
            partition_start=_partition_start(home, configured),
            history_floor=_env_date("DEVMETRICS_HISTORY_FLOOR", DEFAULT_HISTORY_FLOOR),
            future_skew_hours=_env_hours("DEVMETRICS_FUTURE_SKEW_HOURS", DEFAULT_FUTURE_SKEW_HOURS),
        )


def persisted_partition_start(home: Path) -> str | None:
    """The start an earlier load extended the partitions to, if any."""
    path = home / PARTITIONS_FILE
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["start"]
        date.fromisoformat(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: expected {{\"start\": \"YYYY-MM-DD\"}} ({exc}); delete the file to use "
                          "DEVMETRICS_PARTITION_START") from None
    return value


def configured_partition_start() -> str:
    """DEVMETRICS_PARTITION_START (or the default), moved earlier, never later, by the environment's home's
    persisted start: for a NEW home built beside it (test fixtures, scripts) whose data is not that home's."""
    configured = _env_date("DEVMETRICS_PARTITION_START", DEFAULT_PARTITION_START)
    home = Path(os.environ.get("DEVMETRICS_HOME", Path.cwd() / ".devmetrics")).resolve()
    return min(configured, persisted_partition_start(home) or configured)


def _partition_start(home: Path, configured: str) -> str:
    """The persisted start (where the data starts); an explicit DEVMETRICS_PARTITION_START caps it."""
    persisted = persisted_partition_start(home)
    if persisted is None:
        return configured
    return min(configured, persisted) if os.environ.get("DEVMETRICS_PARTITION_START") else persisted


def extend_partition_start(settings: Settings, earliest: date, *, fresh: bool = False,
                           exact: bool = False) -> Settings:
    """Settings whose partitions reach back to `earliest`'s month (persisted in the home); unchanged
    when they already do. The start is a month's first day (`exact`: the day itself), so the first
    monthly partition is whole.

    `fresh`: the home holds no data yet, so the start FOLLOWS the data, later as well as earlier (a home
    whose history begins in 2025 has no empty 2024 partitions), unless DEVMETRICS_PARTITION_START is set.
    Once a home holds data its start only moves earlier: a later start would hide stored partitions."""
    wanted = earliest if exact else earliest.replace(day=1)
    current = date.fromisoformat(settings.partition_start)
    follow = fresh and not os.environ.get("DEVMETRICS_PARTITION_START")
    if wanted == current or (wanted > current and not follow):
        return settings
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / PARTITIONS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"start": wanted.isoformat()}) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader sees the old start or the new one, never half a file
    return replace(settings, partition_start=wanted.isoformat())
