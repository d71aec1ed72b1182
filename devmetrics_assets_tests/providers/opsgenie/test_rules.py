"""The `providers: {opsgenie: ...}` rules: good blocks parse, a bad one fails once, naming the field."""

from __future__ import annotations

import pytest

from devmetrics_assets.config import ConfigError, rules_from_mapping
from devmetrics_assets.providers.opsgenie.rules import OpsgenieRules, parse_rules
from devmetrics_assets.sources.registry import merge_rules


def test_defaults_and_a_full_block() -> None:
    assert parse_rules({}) == OpsgenieRules(priorities=("P1", "P2"))
    rules = parse_rules(
        {
            "priorities": ["p1"],
            "tags": ["sev1"],
            "teams": ["SRE"],
            "team_repos": {"Checkout": "acme/api"},
            "repo_detail": "github_repo",
            "service_detail": "svc",
            "root_cause_detail": "culprit",
        }
    )
    assert rules.priorities == ("P1",) and rules.team_repos == {"checkout": "acme/api"}
    assert (rules.repo_detail, rules.service_detail, rules.root_cause_detail) == (
        "github_repo",
        "svc",
        "culprit",
    )
    assert rules.is_incident("P1", set(), set()) and rules.is_incident("P5", {"sev1"}, set())
    assert rules.is_incident(None, set(), {"sre"}) and not rules.is_incident("P2", {"sev2"}, {"web"})
    assert not parse_rules({"priorities": []}).is_incident("P1", set(), set())


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"priority": ["P1"]}, r"^priority: not an opsgenie rule; known: \['priorities'"),
        ({"priorities": ["P9"]}, r"^priorities: 'P9' is not an Opsgenie priority"),
        ({"priorities": "P1"}, r"^priorities: expected a list of non-empty names, got 'P1'"),
        ({"tags": ["ok", ""]}, r"^tags: expected a list"),
        ({"teams": [3]}, r"^teams: expected a list"),
        ({"team_repos": ["acme/api"]}, r"^team_repos: expected a mapping"),
        ({"team_repos": {"checkout": "api"}}, r"^team_repos\.checkout: expected 'owner/name', got 'api'"),
        ({"repo_detail": ""}, r"^repo_detail: expected a non-empty details key"),
        ({"root_cause_detail": 7}, r"^root_cause_detail: expected a non-empty details key"),
    ],
)
def test_bad_blocks_name_the_field(block: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(block)


def test_configuration_load_checks_the_block() -> None:
    good = rules_from_mapping({"providers": {"opsgenie": {"priorities": ["P1"]}}})
    assert merge_rules(good, []).provider_rules == {"opsgenie": {"priorities": ["P1"]}}
    bad = rules_from_mapping({"providers": {"opsgenie": {"team_repos": {"web": "nope"}}}})
    with pytest.raises(
        ConfigError, match=r"^rules: providers\.opsgenie: team_repos\.web: expected 'owner/name'"
    ):
        merge_rules(bad, [])
