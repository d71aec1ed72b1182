"""Dagster resources that are not storage: business rules and webhook secrets."""

from __future__ import annotations

import dagster as dg

from devmetrics_assets.config import DoraRules, load_rules


class RulesResource(dg.ConfigurableResource):
    """Business rules (production environments, incident labels, ownership) from a YAML file."""

    path: str | None = None

    def rules(self) -> DoraRules:
        return load_rules(self.path)


class WebhookSecretResource(dg.ConfigurableResource):
    """A source's webhook signing secret, configured from the environment with `dg.EnvVar`.

    None means "not configured": deliveries are loaded with signature_status 'unchecked'.
    """

    secret: str | None = None
