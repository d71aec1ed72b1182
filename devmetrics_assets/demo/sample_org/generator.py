"""Orchestrates the sample organisation: simulate day by day, stream deliveries, write rules and truth.

Memory stays bounded for large organisations: deliveries are written per received day as soon as the
day is complete; only compact facts (commits, changes, deployments, issues) are kept for the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from random import Random
from typing import Any

import yaml

from devmetrics_assets.config import rules_from_mapping

from .catalog import ORG, TZ_OFFSETS_MIN, plan_repos
from .edge_cases import write_edge_cases
from .model import OrgModel, RepoModel
from .outbox import DAY_S, Outbox
from .scenarios import guaranteed_schedule, random_scenario, simulate_day
from .simulation import Counters, RepoSim, SimContext
from .truth import compute_truth, write_truth_tables

PRODUCTION_ENVIRONMENTS = ["production", "prod"]
INCIDENT_LABELS = ["incident"]


@dataclass(frozen=True)
class SampleOrg:
    """What was written."""

    root: Path
    deliveries_dir: Path
    truth_dir: Path
    rules_path: Path
    start: date
    days: int
    repos: tuple[str, ...]
    delivery_count: int


def rules_mapping(model: OrgModel) -> dict[str, Any]:
    """The rules.yaml content (accepted by `devmetrics_assets.config.load_rules`)."""
    return {
        "production_environments": list(PRODUCTION_ENVIRONMENTS),
        "incident_labels": list(INCIDENT_LABELS),
        "repos": {r.full_name: {"team": r.spec.team, "service": r.spec.service} for r in model.repos},
    }


def _repo_models(n: int, seed: int) -> tuple[list[RepoModel], list[Random]]:
    models, rngs = [], []
    for i, spec in enumerate(plan_repos(n)):
        rng = Random(seed * 1_000_003 + i)
        prod_env = rng.choices(("production", "prod", "Production"), (0.7, 0.22, 0.08))[0]
        models.append(
            RepoModel(
                spec=spec,
                repo_id=610_000_000 + 7_919 * i,
                tz_offset_min=rng.choice(TZ_OFFSETS_MIN),
                prod_env=prod_env,
                activity=rng.uniform(0.55, 1.35),
                staging_share=rng.choice((0.0, 0.3, 0.6, 0.9)),
            )
        )
        rngs.append(rng)
    return models, rngs


def run_generation(
    out_dir: Path, *, repos: int = 8, days: int = 365, start: date = date(2025, 1, 1), seed: int = 7
) -> tuple[SampleOrg, OrgModel]:
    """Generate everything and also return the in-memory model (tests compare the two)."""
    if repos < 1 or days < 1:
        raise ValueError("repos and days must be positive")
    root = Path(out_dir)
    deliveries_dir, truth_dir = root / "deliveries", root / "truth"
    deliveries_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    models, rngs = _repo_models(repos, seed)
    model = OrgModel(start=start, days=days, repos=models)
    outbox = Outbox(model, Random(seed * 7_919 + 17), deliveries_dir)
    ctx = SimContext(outbox, Counters(), model.start_ts, model.end_ts)
    sims = [RepoSim(m, ctx, rng) for m, rng in zip(models, rngs, strict=True)]
    schedule = guaranteed_schedule(len(sims), days)
    org_rng = Random(seed * 104_729 + 3)
    for day in range(days):
        day_start = model.start_ts + day * DAY_S
        weekday = date.fromordinal(start.toordinal() + day).weekday() < 5
        colliding = _collisions(sims, day, org_rng)
        for i, sim in enumerate(sims):
            scenario = schedule.get((i, day)) or random_scenario(sim.rng, weekday)
            simulate_day(sim, day, day_start, weekday, scenario, i in colliding)
        outbox.flush_through(day)
    rules = rules_mapping(model)
    rules_path = root / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False, allow_unicode=True))
    dora_rules = rules_from_mapping(rules, origin=str(rules_path))
    truths = compute_truth(model, dora_rules)
    write_truth_tables(truths, truth_dir)
    write_edge_cases(model, truths, dora_rules, truth_dir / "truth_edge_cases.json")
    sample = SampleOrg(
        root=root,
        deliveries_dir=deliveries_dir,
        truth_dir=truth_dir,
        rules_path=rules_path,
        start=start,
        days=days,
        repos=tuple(m.full_name for m in models),
        delivery_count=outbox.count,
    )
    return sample, model


def _collisions(sims: list[RepoSim], day: int, rng: Random) -> set[int]:
    """Repos that open an incident first thing today under a number another repo uses too.

    GitHub numbers issues per repo, so `#N` alone is ambiguous across repos. On day 3 (and at random
    later) a pair of repos aligns its next number and both open an incident with it.
    """
    if len(sims) < 2:
        return set()
    pairs = []
    if day == 3:
        pairs.append((0, 1))
    elif day > 3 and rng.random() < 0.05:
        a = rng.randrange(len(sims) - 1)
        pairs.append((a, a + 1))
    chosen: set[int] = set()
    for a, b in pairs:
        number = max(sims[a].next_number, sims[b].next_number)
        sims[a].next_number = sims[b].next_number = number
        chosen |= {a, b}
    return chosen


def generate_sample_org(
    out_dir: Path, *, repos: int = 8, days: int = 365, start: date = date(2025, 1, 1), seed: int = 7
) -> SampleOrg:
    """Write a deterministic sample organisation (`acme`) of webhook deliveries, rules and truth.

    Same arguments give byte-identical files. See docs/contracts.md §1, §2, §5.
    """
    sample, _ = run_generation(out_dir, repos=repos, days=days, start=start, seed=seed)
    return sample


__all__ = ["ORG", "SampleOrg", "generate_sample_org", "run_generation", "rules_mapping"]
