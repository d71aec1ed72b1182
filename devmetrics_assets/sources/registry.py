"""The sources the graph is generated from.

Each `SourceSpec` becomes one Bronze asset (`bronze_<name>`) with its own description and
checks. Today one provider exists (GitHub deliveries recorded as JSONL in a landing folder);
the spec is where further providers plug in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devmetrics_assets.config import Settings


@dataclass(frozen=True)
class SourceSpec:
    name: str
    provider: str
    landing_dir: Path
    # Name of the environment variable holding the webhook secret (never the secret itself).
    secret_env: str | None
    description: str

    @property
    def asset_name(self) -> str:
        return f"bronze_{self.name}"


def default_sources(settings: Settings | None = None) -> list[SourceSpec]:
    settings = settings or Settings.from_env()
    return [
        SourceSpec(
            name="github",
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
