"""Dagster resources that are not storage: business rules and webhook secrets."""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.config import DoraRules, load_rules


class RulesResource(dg.ConfigurableResource):
    """Business rules (production environments, incident labels, ownership) from rules.yaml,
    widened by the rules each source declares in sources.yaml (when `sources_path` is set)."""

    path: str | None = None
    sources_path: str | None = None

    def rules(self) -> DoraRules:
        base = load_rules(self.path)
        if not self.sources_path:
            return base
        from devmetrics_assets.sources.registry import load_sources, merge_rules

        return merge_rules(base, load_sources(self.sources_path))


class WebhookSecretResource(dg.ConfigurableResource):
    """A source's webhook signing secret, configured from the environment with `dg.EnvVar`.

    None means "not configured": deliveries are loaded with signature_status 'unchecked'.
    """

    secret: str | None = None
