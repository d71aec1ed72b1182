"""A home holding an organisation's history, loaded through the graph: what the freshness benchmark
(freshness.py) and its tick costs (tick_costs.py) start from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES_YAML = """sources:
  - name: github
    type: landing_jsonl
    provider: github
    secret_env: GITHUB_WEBHOOK_SECRET
    tier: near_real_time
"""
GOLD_DAILY = "gold_dora_daily"


@dataclass(frozen=True)
class History:
    home: Path
    generated: Path
    today: date
    env: dict[str, str]

    @property
    def today_file(self) -> Path:
        return self.generated / "deliveries" / f"{self.today.isoformat()}.jsonl"


def environment(home: Path, start: date) -> dict[str, str]:
    from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET
    from devmetrics_assets.instance_setup import EVENT_BATCH_ENV, EVENT_BATCH_SIZE

    return {"DEVMETRICS_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
            "DEVMETRICS_PARTITION_START": start.isoformat(), "DEVMETRICS_SOURCES": str(home / "sources.yaml"),
            "GITHUB_WEBHOOK_SECRET": SAMPLE_WEBHOOK_SECRET, "DEVMETRICS_PROFILE": "local",
            EVENT_BATCH_ENV: EVENT_BATCH_SIZE}  # as instance_setup.prepare_environment sets it


class QuietToday(ValueError):
    """No seed tried gives today the recorded deliveries the replay needs: a setting to change."""


# Seeds tried after `seed` for a today with enough recorded deliveries (see prepare_history).
SEED_TRIES = 50


def prepare_history(work: Path, repos: int, days: int, seed: int = 7, today: date | None = None,
                    instance_env: dict[str, str] | None = None, min_today: int = 0) -> History:
    """A home holding `days` days of history (ending yesterday) loaded through the graph; today's recorded
    deliveries stay in the generated folder for the replay. `instance_env` (the production profile's
    variables, DEVMETRICS_PROFILE and DAGSTER_PG_URL) puts the home's Dagster instance on PostgreSQL.

    `min_today`: the replay needs that many recorded deliveries of today. A small organisation's day can
    be quiet (2 repos on 2026-12-08 with seed 7: 4 deliveries), so the next seeds are tried in turn: the
    history differs by day anyway, since today is the real date."""
    import shutil

    from devmetrics_assets.instance_setup import dagster_yaml

    today = today or datetime.now(UTC).date()
    start = today - timedelta(days=days)
    generated, home = work / f"generated-{days}d", work / f"home-{days}d"
    for folder in (generated, home):
        if folder.exists():
            shutil.rmtree(folder)
    _generate(generated, repos, days, start, today, seed, min_today)
    landing = home / "landing" / "github"
    landing.mkdir(parents=True)
    for path in (generated / "deliveries").glob("*.jsonl"):
        day = date.fromisoformat(path.stem)
        if day < today:
            shutil.copyfile(path, landing / path.name)
            # As the receiver left it: last written at the end of its received day, not at copy time.
            closed = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
            os.utime(landing / path.name, ns=(int(closed.timestamp() * 1e9) - 1_000_000_000,) * 2)
    shutil.copyfile(generated / "rules.yaml", home / "rules.yaml")
    (home / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8")
    (home / "dagster_home").mkdir()
    env = {**environment(home, start), **(instance_env or {})}
    (home / "dagster_home" / "dagster.yaml").write_text(dagster_yaml(env["DEVMETRICS_PROFILE"], env),
                                                         encoding="utf-8")
    history = History(home, generated, today, env)
    with env_vars(history.env):
        import dagster as dg

        from devmetrics_assets.definitions import build_definitions
        from devmetrics_assets.runner import materialise_days

        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            days_list = [start + timedelta(days=i) for i in range(days)]
            results = materialise_days(build_definitions(), instance, days_list)
            assert all(r.success for r in results)
    return history


def _generate(generated: Path, repos: int, days: int, start: date, today: date, seed: int,
              min_today: int) -> int:
    """The sample organisation in `generated` from the first seed (from `seed`) whose today holds at least
    `min_today` deliveries; that seed."""
    import shutil

    from devmetrics_assets.demo.sample_org import generate_sample_org

    today_file = generated / "deliveries" / f"{today.isoformat()}.jsonl"
    for candidate in range(seed, seed + SEED_TRIES):
        generate_sample_org(generated, repos=repos, days=days + 1, start=start, seed=candidate)
        with today_file.open("rb") as handle:
            if sum(1 for line in handle if line.strip()) >= min_today:
                return candidate
        shutil.rmtree(generated)
    raise QuietToday(f"no seed in [{seed}, {seed + SEED_TRIES}) gives {repos} repos {min_today} deliveries "
                     f"on {today}: raise --repos or lower --deliveries")


@contextlib.contextmanager
def env_vars(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block; each variable back as it was afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
