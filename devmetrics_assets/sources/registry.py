"""The sources the graph is generated from, declared as metadata in `sources.yaml`.

Each `SourceSpec` becomes one Bronze asset (`bronze_<name>`) with its own description, group and
checks; `type` picks the reader (sources/readers.py) that turns the source into Bronze rows. Adding or
removing an entry in `sources.yaml` changes the generated graph without a code change. Without a
`sources.yaml` the registry holds one default source (GitHub deliveries recorded as JSONL).

Credentials are never written in the file: an entry names the ENVIRONMENT VARIABLES that hold them
(`secret_env` for a webhook secret, `token_env` for an API token), so the file can be committed and
reviewed. A malformed file fails with a message naming the file, the entry and the field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from devmetrics_assets.config import ConfigError, DoraRules, Settings, rules_from_mapping
from devmetrics_assets.providers import PROVIDERS

TIERS = ("near_real_time", "hourly", "daily")
# type -> providers it can carry. landing_jsonl is the receiver's (and pullers') envelope: any provider;
# each provider adds its API pull (`<name>_api`) and its own readers (e.g. github_jsonl).
TYPE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "landing_jsonl": tuple(PROVIDERS),
    **{source_type: (name,) for name, p in PROVIDERS.items() for source_type in p.readers},
    **{p.api.source_type: (name,) for name, p in PROVIDERS.items() if p.api is not None},
}
API_TYPES = tuple(p.api.source_type for p in PROVIDERS.values() if p.api is not None)
# How fresh a source can be is decided by its transport: webhooks arrive as they happen, pulls run on a
# schedule, recorded files are loaded in batches.
DEFAULT_TIER = {t: "near_real_time" if t == "landing_jsonl" else "hourly" if t in API_TYPES else "daily"
                for t in TYPE_PROVIDERS}
# An API pull needs to know what to pull (PagerDuty without services means "every service the token sees").
REQUIRED_SCOPE = {p.api.source_type: p.api.required_scope for p in PROVIDERS.values()
                  if p.api is not None and p.api.required_scope}
ENTRY_FIELDS = ("name", "type", "provider", "description", "scope", "secret_env", "token_env", "tier",
                "rules", "options", "landing_dir")
# Keys someone might use to paste a credential into the file: refused with a pointer to *_env.
SECRET_LOOKING = ("secret", "token", "password", "api_key", "apikey", "webhook_secret")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REPO_RE = re.compile(r"^[^/\s]+/[^/\s]+$")


@dataclass(frozen=True)
class SourceSpec:
    name: str
    type: str
    provider: str
    landing_dir: Path
    # Name of the environment variable holding the webhook secret (never the secret itself).
    secret_env: str | None
    description: str
    tier: str = "daily"
    # Per-source business rules (None: the organisation-wide rules.yaml applies).
    rules: DoraRules | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # What the source covers: github {org, repos}, gitlab {group, projects}, pagerduty {services},
    # generic {repos, services}. Pull clients read it; Bronze ignores it.
    scope: dict[str, Any] = field(default_factory=dict)
    # Name of the environment variable holding the API token of a pull source.
    token_env: str | None = None

    @property
    def asset_name(self) -> str:
        return f"bronze_{self.name}"


def default_sources(settings: Settings | None = None) -> list[SourceSpec]:
    settings = settings or Settings.from_env()
    return [
        SourceSpec(
            name="github",
            type="github_jsonl",
            provider="github",
            landing_dir=settings.landing_dir / "github",
            secret_env="GITHUB_WEBHOOK_SECRET",
            description=(
                "Raw GitHub webhook deliveries (push, pull_request, deployment, deployment_status, "
                "issues, issue_comment) recorded as JSONL in the landing folder. Append-only: a "
                "delivery id is stored once, payload kept whole, with ingestion metadata."
            ),
        )
    ]


def sources_path(settings: Settings | None = None) -> Path:
    """Where `sources.yaml` is looked for: $DEVMETRICS_SOURCES, else `<DEVMETRICS_HOME>/sources.yaml`."""
    if os.environ.get("DEVMETRICS_SOURCES"):
        return Path(os.environ["DEVMETRICS_SOURCES"])
    return (settings or Settings.from_env()).home / "sources.yaml"


def load_sources(
    path: str | os.PathLike[str] | None = None, settings: Settings | None = None
) -> list[SourceSpec]:
    """The declared sources; no file gives `default_sources()`, so a fresh checkout still runs."""
    settings = settings or Settings.from_env()
    path = Path(path) if path is not None else sources_path(settings)
    if not path.exists():
        return default_sources(settings)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return sources_from_mapping(data, origin=str(path), settings=settings, base_dir=path.parent)


def sources_from_mapping(
    data: Any, origin: str = "<mapping>", settings: Settings | None = None, base_dir: Path | None = None
) -> list[SourceSpec]:
    """Validate a parsed `sources.yaml`; every error names `origin`, the entry and the field."""
    settings = settings or Settings.from_env()
    if not isinstance(data, dict) or "sources" not in data:
        raise ConfigError(f"{origin}: expected a mapping with a 'sources:' list at the top level")
    unknown = sorted(set(data) - {"sources"})
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level field(s) {unknown}; known: ['sources']")
    entries = data["sources"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{origin}: sources: expected a non-empty list of source entries")
    specs: list[SourceSpec] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        spec = _entry_to_spec(entry, index, origin, settings, base_dir)
        if spec.name in seen:
            raise ConfigError(f"{origin}: sources[{index}] '{spec.name}': name: duplicate of "
                              f"sources[{seen[spec.name]}]; names must be unique")
        seen[spec.name] = index
        specs.append(spec)
    return specs


def _entry_to_spec(
    entry: Any, index: int, origin: str, settings: Settings, base_dir: Path | None
) -> SourceSpec:
    label = f"{origin}: sources[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: expected a mapping (name, type, provider, ...), got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"{label}: name: expected lowercase letters, digits and '_' starting with a "
                          f"letter (it becomes the asset bronze_<name>), got {name!r}")
    where = f"{label} '{name}'"

    def fail(field_name: str, message: str) -> ConfigError:
        return ConfigError(f"{where}: {field_name}: {message}")

    pasted = sorted(k for k in entry if str(k).lower() in SECRET_LOOKING)
    if pasted:
        raise fail(pasted[0], "credentials never go in sources.yaml; put the value in an environment "
                              "variable and name that variable in secret_env / token_env")
    unknown = sorted(set(entry) - set(ENTRY_FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field; known: {list(ENTRY_FIELDS)}")

    source_type = entry.get("type")
    if source_type not in TYPE_PROVIDERS:
        raise fail("type", f"expected one of {sorted(TYPE_PROVIDERS)}, got {source_type!r}")
    allowed = TYPE_PROVIDERS[source_type]
    provider = entry.get("provider", allowed[0] if len(allowed) == 1 else None)
    if provider not in PROVIDERS:
        raise fail("provider", f"expected one of {list(PROVIDERS)}, got {provider!r}")
    if provider not in allowed:
        raise fail("provider", f"type {source_type} carries {list(allowed)}, not {provider!r}")

    secret_env = _env_name(entry.get("secret_env"), fail, "secret_env")
    token_env = _env_name(entry.get("token_env"), fail, "token_env")
    if source_type in API_TYPES and token_env is None:
        raise fail("token_env", f"type {source_type} pulls an API: name the environment variable that "
                                "holds the token")

    tier = entry.get("tier", DEFAULT_TIER[source_type])
    if tier not in TIERS:
        raise fail("tier", f"expected one of {list(TIERS)}, got {tier!r}")

    scope = _scope(entry.get("scope"), provider, source_type, fail)
    rules = None
    if entry.get("rules") is not None:
        rules = rules_from_mapping(entry["rules"], origin=f"{where}: rules")
    options = entry.get("options") or {}
    if not isinstance(options, dict):
        raise fail("options", f"expected a mapping, got {options!r}")
    _check_options(options, fail)

    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise fail("description", f"expected text, got {description!r}")
    landing_dir = _landing_dir(entry.get("landing_dir"), name, settings, base_dir, fail)
    return SourceSpec(
        name=name, type=source_type, provider=provider, landing_dir=landing_dir, secret_env=secret_env,
        description=description or _describe(source_type, provider, scope), tier=tier, rules=rules,
        options=dict(options), scope=scope, token_env=token_env,
    )


def _env_name(value: Any, fail: Any, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not ENV_RE.match(value):
        # Never echo the value: someone may have pasted the secret itself here.
        raise fail(field_name, "expected the NAME of an environment variable (letters, digits, '_'), "
                               "not a credential")
    return value


def _scope(value: Any, provider: str, source_type: str, fail: Any) -> dict[str, Any]:
    scope = value or {}
    if not isinstance(scope, dict):
        raise fail("scope", f"expected a mapping, got {scope!r}")
    known = PROVIDERS[provider].scope_keys
    unknown = sorted(set(scope) - set(known))
    if unknown:
        raise fail(f"scope.{unknown[0]}", f"not a {provider} scope key; known: {sorted(known)}")
    for key, kind in known.items():
        if key not in scope:
            continue
        item = scope[key]
        if kind == "str" and not (isinstance(item, str) and item):
            raise fail(f"scope.{key}", f"expected a non-empty text, got {item!r}")
        if kind in ("list", "repo_list") and not (
            isinstance(item, list) and all(isinstance(v, str | int) for v in item)
        ):
            raise fail(f"scope.{key}", f"expected a list of names or ids, got {item!r}")
        for repo in item if kind == "repo_list" else []:
            if not isinstance(repo, str) or not REPO_RE.match(repo):
                raise fail(f"scope.{key}", f"expected 'owner/name', got {repo!r}")
    needed = REQUIRED_SCOPE.get(source_type, ())
    if needed and not any(scope.get(key) for key in needed):
        raise fail("scope", f"type {source_type} needs one of {list(needed)} to know what to pull")
    return dict(scope)


def _check_options(options: dict[str, Any], fail: Any) -> None:
    """The options this package reads; any other key passes through for pull clients."""
    limit = options.get("max_body_bytes")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0):
        raise fail("options.max_body_bytes", f"expected a positive integer, got {limit!r}")
    unsigned = options.get("allow_unsigned")
    if unsigned is not None and not isinstance(unsigned, bool):
        raise fail("options.allow_unsigned", f"expected true or false, got {unsigned!r}")
    auth = options.get("generic_auth")
    if auth is not None and auth not in ("bearer", "hmac", "either"):
        raise fail("options.generic_auth", f"expected bearer, hmac or either, got {auth!r}")


def _landing_dir(value: Any, name: str, settings: Settings, base_dir: Path | None, fail: Any) -> Path:
    if value is None:
        return settings.landing_dir / name
    if not isinstance(value, str) or not value:
        raise fail("landing_dir", f"expected a folder path, got {value!r}")
    path = Path(value).expanduser()
    # A relative folder is relative to sources.yaml, so the file means the same from any working dir.
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _describe(source_type: str, provider: str, scope: dict[str, Any]) -> str:
    title = PROVIDERS[provider].title
    if source_type == "landing_jsonl":
        transport = f"{title} webhook deliveries written by the receiver"
    elif source_type in API_TYPES:
        transport = f"{title} REST API pulls"
    else:
        transport = f"recorded {title} webhook deliveries (JSONL files)"
    covered = "; ".join(f"{k}: {v if isinstance(v, str) else ', '.join(map(str, v))}"
                        for k, v in scope.items() if v)
    return (f"Raw {transport}{f' ({covered})' if covered else ''}. Append-only: a delivery id is "
            "stored once, payload kept whole, with ingestion metadata.")


def merge_rules(base: DoraRules, sources: list[SourceSpec]) -> DoraRules:
    """One rule set for the cross-source Silver layer: the base rules widened by each source's own.

    Production names and incident labels are unions; patterns are alternatives; repo ownership is
    merged, and two declarations of one repo that disagree are an error (a metric cannot belong to
    two teams).
    """
    production = list(base.production_environments)
    labels = list(base.incident_labels)
    patterns = [base.production_environment_pattern] if base.production_environment_pattern else []
    owners: dict[str, dict[str, str]] = {k: dict(v) for k, v in base.repo_owners.items()}
    declared_by: dict[str, str] = dict.fromkeys(owners, "rules.yaml")
    provider_rules: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base.provider_rules.items()}
    provider_by: dict[str, str] = dict.fromkeys(provider_rules, "rules.yaml")
    for spec in sources:
        rules = spec.rules
        if rules is None:
            continue
        production += [e for e in rules.production_environments if e not in production]
        labels += [x for x in rules.incident_labels if x not in labels]
        pattern = rules.production_environment_pattern
        if pattern and pattern not in patterns:
            patterns.append(pattern)
        for repo, owner in rules.repo_owners.items():
            if repo in owners and owners[repo] != owner:
                raise ConfigError(f"source {spec.name!r}: rules.repos.{repo}: {owner} conflicts with "
                                  f"{owners[repo]} declared by {declared_by[repo]}")
            owners[repo] = dict(owner)
            declared_by[repo] = f"source {spec.name!r}"
        for name, declared in rules.provider_rules.items():
            if name in provider_rules and provider_rules[name] != declared:
                raise ConfigError(f"source {spec.name!r}: rules.providers.{name} conflicts with the one "
                                  f"declared by {provider_by[name]}")
            provider_rules[name] = dict(declared)
            provider_by[name] = f"source {spec.name!r}"
    check_provider_rules(provider_rules)
    # replace(): every other rule of rules.yaml (deployment unit, inference window, ...) is kept as is.
    return replace(
        base,
        production_environments=tuple(production),
        production_environment_pattern="|".join(f"(?:{p})" for p in patterns) if patterns else None,
        incident_labels=tuple(labels),
        repo_owners=owners,
        provider_rules=provider_rules,
    )


def check_provider_rules(provider_rules: dict[str, dict[str, Any]]) -> None:
    """Every `providers:` rule block names a registered provider and passes that provider's own parser."""
    for name, declared in provider_rules.items():
        provider = PROVIDERS.get(name)
        if provider is None:
            raise ConfigError(f"rules: providers.{name}: not a provider; known: {list(PROVIDERS)}")
        if provider.parse_rules is None:
            raise ConfigError(f"rules: providers.{name}: {provider.title} takes no provider rules")
        try:
            provider.parse_rules(declared)
        except ValueError as exc:
            raise ConfigError(f"rules: providers.{name}: {exc}") from None
