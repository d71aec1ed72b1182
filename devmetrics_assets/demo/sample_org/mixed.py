"""A small seeded mixed organisation: GitLab projects, PagerDuty incidents and generic webhook deployments.

`generate_mixed_org(out_dir)` writes landing envelopes (docs/contracts.md §6) to
`<out>/landing/{gitlab,pagerduty,generic}/<received day>.jsonl`, the rules fragment for its repos
(`rules_mixed.yaml`) and `truth/` in the GitHub generator's format (truth_daily.csv, truth_lead_times.csv,
truth_recoveries.csv), computed by the same independent `truth.org_truth` from facts, never from files.

Repos (each exercises another provider combination):
- acme-gitlab/billing: GitLab pushes and merge requests (merge commit, squash, fast-forward), GitLab
  Deployment Hooks (failed, canceled, retried, rolled back, one crossing midnight), GitLab incident issues
  (type Incident or label) with `root cause:` notes, reopen, hotfix MRs (`Closes #N`).
- acme-gitlab/ledger: GitLab code, generic deployments (env `prod`, text ids), PagerDuty incidents
  (triggered / acknowledged / annotated / resolved / reopened) linked by service name or by the `repo`
  custom field, root cause in notes or the `root_cause` custom field.
- acme-ext/search: generic deployments listing their `changes` (its only main line) and generic incidents
  naming only the service.
Plants: a GitLab redelivery (same UUID), API-pull copies of a GitLab status and a PagerDuty trigger, a
late main-branch push, and a PagerDuty incident of an unmapped service (quarantined: not in the truth).

This module is the entry point; the pieces: mixed_sim.py (what happens, and the facts), mixed_payloads.py
(each provider's webhook bodies), mixed_landing.py (envelopes and day files).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import yaml

from devmetrics_assets.config import rules_from_mapping

from .mixed_landing import SOURCES, Landing
from .mixed_sim import BILLING, LEDGER, SEARCH, SERVICES, Sim
from .model import OrgModel
from .truth import org_truth, write_truth_tables


@dataclass(frozen=True)
class MixedOrg:
    """What was written."""

    root: Path
    landing_dir: Path
    truth_dir: Path
    rules_path: Path
    rules: dict[str, Any]
    start: date
    days: int
    repos: tuple[str, ...]
    delivery_count: int
    plants: dict[str, list[str]]


def rules_mapping() -> dict[str, Any]:
    teams = {BILLING: "payments", LEDGER: "payments", SEARCH: "growth"}
    return {
        "production_environments": ["production", "prod"],
        "incident_labels": ["incident"],
        "repos": {r: {"team": teams[r], "service": SERVICES[r]} for r in (BILLING, LEDGER, SEARCH)},
    }


def generate_mixed_org(
    out_dir: Path, *, days: int = 21, start: date = date(2025, 1, 1), seed: int = 3
) -> MixedOrg:
    """Write the mixed organisation's landing files, rules fragment and truth. Same arguments, same bytes."""
    if days < 8:
        raise ValueError("days must be at least 8 (the plants need them)")
    root = Path(out_dir)
    landing_dir, truth_dir = root / "landing", root / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    start_ts = OrgModel(start, days, []).start_ts
    rng = Random(seed * 7_727 + 1)
    landing = Landing(landing_dir, start_ts, days, rng)
    sim = Sim(landing, rng, seed)
    sim.run(start_ts, days)
    landing.write()
    rules = rules_mapping()
    rules_path = root / "rules_mixed.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    dora_rules = rules_from_mapping(rules, origin=str(rules_path))
    write_truth_tables(org_truth(list(sim.repos.values()), dora_rules), truth_dir)
    return MixedOrg(
        root,
        landing_dir,
        truth_dir,
        rules_path,
        rules,
        start,
        days,
        tuple(sim.repos),
        landing.count,
        dict(sim.plants),
    )


__all__ = [
    "BILLING",
    "LEDGER",
    "SEARCH",
    "SERVICES",
    "SOURCES",
    "MixedOrg",
    "generate_mixed_org",
    "rules_mapping",
]
