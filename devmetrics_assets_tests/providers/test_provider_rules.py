"""Provider-specific rules (`providers:` in rules.yaml or a source's `rules:`) reach the provider that owns
them, are checked by it when the configuration loads, and two sources cannot disagree about them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devmetrics_assets.config import ConfigError, DoraRules, Settings, rules_from_mapping
from devmetrics_assets.sources.registry import merge_rules, sources_from_mapping


def test_rules_name_a_registered_provider_that_takes_rules() -> None:
    assert rules_from_mapping({"providers": {"github": {"x": 1}}}).provider_rules == {"github": {"x": 1}}
    with pytest.raises(ConfigError, match=r"providers\.nope: not a provider; known: \['github'"):
        merge_rules(rules_from_mapping({"providers": {"nope": {}}}), [])
    with pytest.raises(ConfigError, match=r"providers\.github: GitHub takes no provider rules"):
        merge_rules(rules_from_mapping({"providers": {"github": {}}}), [])
    with pytest.raises(ConfigError, match="providers: expected a mapping"):
        rules_from_mapping({"providers": {"github": ["not", "a", "mapping"]}})
    assert merge_rules(DoraRules(), []).provider_rules == {}


def test_two_sources_cannot_disagree_about_one_providers_rules(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEVMETRICS_HOME", str(tmp_path))
    settings = Settings.from_env()
    entry = {"type": "landing_jsonl", "provider": "gitlab"}
    specs = sources_from_mapping({"sources": [
        {**entry, "name": "a", "rules": {"providers": {"generic": {"k": 1}}}},
        {**entry, "name": "b", "rules": {"providers": {"generic": {"k": 2}}}},
    ]}, settings=settings)
    with pytest.raises(ConfigError, match=r"source 'b': rules\.providers\.generic conflicts with the one "
                                          r"declared by source 'a'"):
        merge_rules(DoraRules(), specs)
