"""A small seeded mixed organisation: GitLab projects, PagerDuty incidents, generic webhook deployments, and a
GitHub repo deploying from GitHub Actions with Jira and Opsgenie incidents.

`generate_mixed_org(out_dir)` writes landing envelopes (docs/contracts.md §6) to
`<out>/landing/<source>/<received day>.jsonl` (sources: `SOURCES`, their providers: `SOURCE_PROVIDERS`),
the rules fragment for its repos and the new providers' `providers:` blocks (`rules_mixed.yaml`) and
`truth/` in the GitHub generator's format (truth_daily.csv, truth_lead_times.csv, truth_recoveries.csv),
computed by the same independent `truth.org_truth` from facts, never from files.

Repos (each exercises another provider combination):
- acme-gitlab/billing: GitLab pushes and merge requests (merge commit, squash, fast-forward), GitLab
  Deployment Hooks (failed, canceled, retried, rolled back, one crossing midnight), GitLab incident issues
  (type Incident or label) with `root cause:` notes, reopen, hotfix MRs (`Closes #N`).
- acme-gitlab/ledger: GitLab code, generic deployments (env `prod`, text ids), PagerDuty incidents
  (triggered / acknowledged / annotated / resolved / reopened) linked by service name or by the `repo`
  custom field, root cause in notes or the `root_cause` custom field.
- acme-ext/search: generic deployments listing their `changes` (its only main line) and generic incidents
  naming only the service.
- acme-gh/storefront: GitHub pushes straight to main (source `github_hooks`, provider github: its main line
  and direct changes), deployments from the `Deploy` workflow's `workflow_run` events on main (failed
  runs, a failed run re-run successfully: one successful deployment; a later run of an older sha: a
  rollback), incidents from Jira (Incident issues mapped by component `Storefront`: opened, a
  `root cause:` comment, resolved by a status of category done, the first one reopened and resolved
  again) and from Opsgenie (P1/P2 alerts: Create, Acknowledge, AddNote `root cause: <sha>`, Close; mapped
  by team through `team_repos`, the first one by `details.repo`). Not deployments or incidents by the
  rules, so in no truth and not quarantined: a `CI` workflow run, a Jira Bug, a P3 alert.
Plants: a GitLab redelivery (same UUID), API-pull copies of a GitLab status and a PagerDuty trigger, a
late main-branch push, and a PagerDuty incident of an unmapped service (quarantined: not in the truth).

This module is the entry point; the pieces: mixed_sim.py (what happens, and the facts), mixed_payloads.py
(each provider's webhook bodies), mixed_landing.py (envelopes and day files), mixed_new_sim.py and
mixed_new_payloads.py (the storefront repo on GitHub, GitHub Actions, Jira and Opsgenie, with its own seeded
Random: the other repos' bytes do not depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import yaml

from devmetrics_assets.config import rules_from_mapping

from .mixed_landing import SOURCE_PROVIDERS, SOURCES, Landing
from .mixed_new_sim import STOREFRONT, NewProvidersSim, rules_fragment
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
    repos = {r: {"team": teams[r], "service": SERVICES[r]} for r in (BILLING, LEDGER, SEARCH)}
    return {
        "production_environments": ["production", "prod"],
        "incident_labels": ["incident"],
        "repos": repos | {STOREFRONT: {"team": "web", "service": "Storefront"}},
        "providers": rules_fragment(),
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
    new = NewProvidersSim(landing, seed)
    new.simulate(start_ts, days)
    landing.write()
    rules = rules_mapping()
    rules_path = root / "rules_mixed.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    dora_rules = rules_from_mapping(rules, origin=str(rules_path))
    repos = [*sim.repos.values(), new.repo]
    write_truth_tables(org_truth(repos, dora_rules), truth_dir)
    return MixedOrg(
        root,
        landing_dir,
        truth_dir,
        rules_path,
        rules,
        start,
        days,
        tuple(r.full_name for r in repos),
        landing.count,
        dict(sim.plants) | dict(new.plants),
    )


__all__ = [
    "BILLING",
    "LEDGER",
    "SEARCH",
    "SERVICES",
    "SOURCES",
    "SOURCE_PROVIDERS",
    "STOREFRONT",
    "MixedOrg",
    "generate_mixed_org",
    "rules_mapping",
]
