"""Every source system the product reads: one folder each, registered here (one line per provider).

The order matters where two providers report the same repo and id: the earlier one keeps the id and
the other's row is quarantined (transforms/silver_entities.py). The interface is providers/interface.py.
"""

from __future__ import annotations

from devmetrics_assets.providers import generic, github, github_actions, gitlab, jira, opsgenie, pagerduty
from devmetrics_assets.providers.interface import Provider

PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        github.PROVIDER,
        gitlab.PROVIDER,
        pagerduty.PROVIDER,
        generic.PROVIDER,
        jira.PROVIDER,
        opsgenie.PROVIDER,
        github_actions.PROVIDER,
    )
}
NAMES: tuple[str, ...] = tuple(PROVIDERS)
# The provider of a Bronze row that names none (rows written before providers existed were GitHub's).
DEFAULT_PROVIDER = "github"


def api_sources() -> dict[str, Provider]:
    """sources.yaml `type` of each API pull → its provider."""
    return {p.api.source_type: p for p in PROVIDERS.values() if p.api is not None}


def issue_trackers() -> tuple[str, ...]:
    """Providers whose incident numbers are issue numbers a change's `Closes #N` can name."""
    return tuple(name for name, p in PROVIDERS.items() if p.issue_tracker)
