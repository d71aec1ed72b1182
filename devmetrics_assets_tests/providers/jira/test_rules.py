"""`providers: {jira: {...}}`: good blocks parse into JiraRules; a bad one fails at configuration load with
one error naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devmetrics_assets.config import ConfigError, rules_from_mapping
from devmetrics_assets.providers.jira.rules import DEFAULT_DONE, JiraRules, parse_rules
from devmetrics_assets.sources.registry import load_sources, merge_rules
from devmetrics_assets_tests.sources.test_registry import settings_in, write


def test_empty_block_gives_the_defaults() -> None:
    assert parse_rules({}) == JiraRules()
    assert JiraRules().issue_types == ("Incident",) and JiraRules().labels is None
    assert JiraRules().done_statuses == DEFAULT_DONE


def test_a_full_block() -> None:
    rules = parse_rules({
        "issue_types": ["Incident", "Outage"], "labels": "sev1", "priorities": ["Highest"],
        "root_cause_field": "customfield_10050", "repo_field": "customfield_10060",
        "service_field": "customfield_10070", "components": {"Checkout": "acme/shop", " API ": "acme/api"},
        "done_statuses": ["Done", "Won't Fix"],
    })
    assert rules.issue_types == ("Incident", "Outage") and rules.labels == ("sev1",)
    assert rules.priorities == ("Highest",) and rules.root_cause_field == "customfield_10050"
    assert rules.repo_field == "customfield_10060" and rules.service_field == "customfield_10070"
    assert dict(rules.components) == {"checkout": "acme/shop", "api": "acme/api"}
    assert rules.done_statuses == ("Done", "Won't Fix")


@pytest.mark.parametrize(("block", "message"), [
    ({"issue_type": ["Incident"]}, r"unknown field\(s\) \['issue_type'\]"),
    ({"issue_types": [1]}, "issue_types: expected a list of non-empty names"),
    ({"labels": {"a": 1}}, "labels: expected a list of non-empty names"),
    ({"priorities": [""]}, "priorities: expected a list of non-empty names"),
    ({"root_cause_field": "root cause"}, "root_cause_field: expected a Jira field id"),
    ({"repo_field": 10060}, "repo_field: expected a Jira field id"),
    ({"components": ["Checkout"]}, "components: expected a mapping"),
    ({"components": {"Checkout": "shop"}}, "components.Checkout: expected a repo 'owner/name'"),
])
def test_a_bad_block_names_the_field(block: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(block)


def test_configuration_load_checks_the_jira_block() -> None:
    good = rules_from_mapping({"providers": {"jira": {"components": {"Checkout": "acme/shop"}}}})
    assert merge_rules(good, []).provider_rules == {"jira": {"components": {"Checkout": "acme/shop"}}}
    bad = rules_from_mapping({"providers": {"jira": {"repo_field": ""}}})
    with pytest.raises(ConfigError, match=r"rules: providers\.jira: repo_field: expected a Jira field id"):
        merge_rules(bad, [])


def test_the_documented_jira_sources_load_and_a_pull_needs_projects(tmp_path) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "sources.md").read_text()
    section = docs[docs.index("## Jira incidents"):]
    example = re.search(r"```yaml\n(sources:.*?)```", section, re.S).group(1)
    settings = settings_in(tmp_path)
    specs = load_sources(write(tmp_path, example), settings)
    assert [(s.type, s.provider, s.scope) for s in specs] == [
        ("landing_jsonl", "jira", {"projects": ["OPS"]}), ("jira_api", "jira", {"projects": ["OPS"]})]
    merged = merge_rules(rules_from_mapping({}), specs)
    assert parse_rules(merged.provider_rules["jira"]).root_cause_field == "customfield_10050"
    no_projects = "sources:\n  - {name: j, type: jira_api, token_env: T}\n"
    with pytest.raises(ConfigError, match="projects"):
        load_sources(write(tmp_path, no_projects), settings)
