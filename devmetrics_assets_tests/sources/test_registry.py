"""sources.yaml: parsing, defaults, error messages that name file/entry/field, and that the generated
graph follows the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devmetrics_assets.config import ConfigError, DoraRules, Settings
from devmetrics_assets.sources.registry import (
    default_sources,
    load_sources,
    merge_rules,
    sources_from_mapping,
    sources_path,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources.md"


def settings_in(root: Path) -> Settings:
    return Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                    rules_path=root / "rules.yaml", partition_start="2024-12-01")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return path


def test_no_file_gives_the_default_sources(tmp_path: Path):
    settings = settings_in(tmp_path)
    assert load_sources(tmp_path / "absent.yaml", settings) == default_sources(settings)


def test_path_comes_from_env_or_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings = settings_in(tmp_path)
    monkeypatch.delenv("DEVMETRICS_SOURCES", raising=False)
    assert sources_path(settings) == tmp_path / "sources.yaml"
    other = write(tmp_path, "sources:\n  - {name: hooks, type: landing_jsonl, provider: gitlab}\n")
    monkeypatch.setenv("DEVMETRICS_SOURCES", str(other))
    assert [s.name for s in load_sources(settings=settings)] == ["hooks"]


def test_full_entry_is_read_with_rules_scope_and_credentials_by_name(tmp_path: Path):
    path = write(tmp_path, """
sources:
  - name: gh_hooks
    type: landing_jsonl
    provider: github
    scope: {org: acme, repos: [acme/api]}
    secret_env: GH_SECRET
    rules:
      production_environments: [live]
      incident_labels: [sev1]
      repos: {acme/api: {team: core, service: api}}
    options: {max_body_bytes: 1000, page_size: 50}
  - name: pd_pull
    type: pagerduty_api
    token_env: PD_TOKEN
    landing_dir: pulled/pd
""")
    hooks, pull = load_sources(path, settings_in(tmp_path))
    assert hooks.asset_name == "bronze_gh_hooks" and hooks.tier == "near_real_time"
    assert hooks.landing_dir == tmp_path / "landing" / "gh_hooks"
    assert hooks.scope == {"org": "acme", "repos": ["acme/api"]} and hooks.secret_env == "GH_SECRET"
    assert hooks.rules.is_production("LIVE") and not hooks.rules.is_production("production")
    assert hooks.rules.team_of("acme/api") == "core" and hooks.options["page_size"] == 50
    assert "acme" in hooks.description
    assert (pull.provider, pull.tier, pull.token_env) == ("pagerduty", "hourly", "PD_TOKEN")
    assert pull.landing_dir == tmp_path / "pulled" / "pd" and pull.rules is None


def test_the_documented_example_is_valid(tmp_path: Path):
    example = re.search(r"```yaml\n(sources:.*?)```", DOCS.read_text(), re.S).group(1)
    specs = load_sources(write(tmp_path, example), settings_in(tmp_path))
    assert {s.type for s in specs} == {"landing_jsonl", "github_api", "gitlab_api", "pagerduty_api",
                                       "github_jsonl"}
    assert {s.provider for s in specs} == {"github", "gitlab", "pagerduty", "generic"}


@pytest.mark.parametrize(
    ("entry", "field", "detail"),
    [
        ("{name: a, type: kafka}", "type", "expected one of"),
        ("{name: a, type: gitlab_api, provider: github, token_env: T, scope: {group: g}}", "provider",
         "carries ['gitlab']"),
        ("{name: a, type: landing_jsonl}", "provider", "expected one of"),
        ("{name: a, type: landing_jsonl, provider: github, tier: weekly}", "tier", "weekly"),
        ("{name: a, type: landing_jsonl, provider: github, secret: hunter2}", "secret",
         "environment variable"),
        ("{name: a, type: landing_jsonl, provider: github, colour: red}", "colour", "unknown field"),
        ("{name: a, type: landing_jsonl, provider: github, scope: {group: g}}", "scope.group",
         "not a github scope key"),
        ("{name: a, type: landing_jsonl, provider: github, scope: {repos: [api]}}", "scope.repos",
         "owner/name"),
        ("{name: a, type: github_api, token_env: T}", "scope", "needs one of ['org', 'repos']"),
        ("{name: a, type: github_api, scope: {org: acme}}", "token_env", "environment variable"),
        ("{name: a, type: landing_jsonl, provider: github, rules: {production_environment_pattern: '('}}",
         "rules: production_environment_pattern", ""),
        ("{name: a, type: landing_jsonl, provider: github, rules: {repos: {acme/x: {owner: me}}}}",
         "rules: repos.acme/x", ""),
        ("{name: a, type: landing_jsonl, provider: github, options: {max_body_bytes: -1}}",
         "options.max_body_bytes", "positive integer"),
        ("{name: a, type: landing_jsonl, provider: generic, options: {generic_auth: basic}}",
         "options.generic_auth", "bearer"),
    ],
)
def test_malformed_entries_name_file_entry_and_field(tmp_path: Path, entry: str, field: str, detail: str):
    first = "{name: ok, type: landing_jsonl, provider: github}"
    path = write(tmp_path, f"sources:\n  - {first}\n  - {entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_sources(path, settings_in(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{path}: sources[1] 'a': {field}")
    assert detail in message


def test_a_pasted_secret_is_never_echoed(tmp_path: Path):
    path = write(tmp_path, "sources:\n  - {name: a, type: landing_jsonl, provider: github, "
                           "secret_env: 'ghp_Zx9/real+secret=='}\n")
    with pytest.raises(ConfigError, match="secret_env") as caught:
        load_sources(path, settings_in(tmp_path))
    assert "ghp_Zx9" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [\n", "not valid YAML"),
        ("- name: a\n", "expected a mapping with a 'sources:' list"),
        ("sources: []\n", "sources: expected a non-empty list"),
        ("sources:\n  - {name: a, type: landing_jsonl, provider: github}\nextra: 1\n", "unknown top-level"),
        ("sources:\n  - {name: Bad-Name, type: landing_jsonl}\n", "sources[0]: name: expected lowercase"),
        ("sources:\n  - {name: a, type: landing_jsonl, provider: github}\n"
         "  - {name: a, type: landing_jsonl, provider: gitlab}\n",
         "sources[1] 'a': name: duplicate of sources[0]"),
        ("sources:\n  - just-a-string\n", "sources[0]: expected a mapping"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, text: str, expected: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_sources(path, settings_in(tmp_path))
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)


def test_adding_and_removing_entries_changes_the_graph(tmp_path: Path):
    from devmetrics_assets.definitions import build_definitions

    settings = settings_in(tmp_path)
    three = write(tmp_path, """
sources:
  - {name: github_hooks, type: landing_jsonl, provider: github, secret_env: GH}
  - {name: gitlab_hooks, type: landing_jsonl, provider: gitlab, secret_env: GL}
  - {name: deploys, type: landing_jsonl, provider: generic, secret_env: GEN}
""")
    keys = {k.to_user_string() for k in build_definitions(settings, load_sources(three, settings))
            .resolve_asset_graph().get_all_asset_keys()}
    assert {"bronze_github_hooks", "bronze_gitlab_hooks", "bronze_deploys"} <= keys
    assert "bronze_github" not in keys

    one = write(tmp_path, "sources:\n  - {name: gitlab_hooks, type: landing_jsonl, provider: gitlab}\n")
    keys = {k.to_user_string() for k in build_definitions(settings, load_sources(one, settings))
            .resolve_asset_graph().get_all_asset_keys()}
    assert {k for k in keys if k.startswith("bronze_")} == {"bronze_gitlab_hooks"}


def test_merge_rules_widens_the_base_and_refuses_conflicting_owners(tmp_path: Path):
    settings = settings_in(tmp_path)
    specs = sources_from_mapping({"sources": [
        {"name": "a", "type": "landing_jsonl", "provider": "gitlab",
         "rules": {"production_environments": ["live"], "production_environment_pattern": "prd-.*",
                   "incident_labels": ["sev1"], "repos": {"g/x": {"team": "t1"}}}},
        {"name": "b", "type": "landing_jsonl", "provider": "github"},
    ]}, settings=settings)
    base = DoraRules(production_environment_pattern="prod-.*", repo_owners={"o/y": {"team": "t0"}})
    merged = merge_rules(base, specs)
    assert all(merged.is_production(e) for e in ("production", "live", "prod-eu", "PRD-us"))
    assert not merged.is_production("staging")
    assert merged.is_incident_label("incident") and merged.is_incident_label("SEV1")
    assert (merged.team_of("g/x"), merged.team_of("o/y")) == ("t1", "t0")

    clash = DoraRules(repo_owners={"g/x": {"team": "other"}})
    with pytest.raises(ConfigError, match="source 'a': rules.repos.g/x"):
        merge_rules(clash, specs)
