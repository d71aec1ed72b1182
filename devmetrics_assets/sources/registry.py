"""The sources the graph is generated from.

Each `SourceSpec` becomes one Bronze asset (`bronze_<name>`) with its own description, group and
checks. `type` picks the reader (sources/readers.py) that turns the source into Bronze rows.
Today the registry holds one default source (GitHub deliveries recorded as JSONL in a landing
folder); `sources.yaml` (issue 3) replaces the default list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devmetrics_assets.config import DoraRules, Settings

TIERS = ("near_real_time", "hourly", "daily")


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
    rules: DoraRules | None = None
    options: dict[str, Any] = field(default_factory=dict)

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
