"""The Dagster Definitions: the asset graph generated from the source registry, resources configured once.

Loaded by `dagster dev -w workspace.yaml` (the lazy `defs` below) and by the `devmetrics` command
(`build_definitions()`), which share one DAGSTER_HOME so command-line runs show up in the UI.
"""

from __future__ import annotations

import os

import dagster as dg

from devmetrics_assets.alerting.notifier import build_notifier
from devmetrics_assets.alerting.routing import config_path
from devmetrics_assets.alerting.sensors import notification_sensors
from devmetrics_assets.config import Settings
from devmetrics_assets.defs.arrivals import EVENT_TIERS, arrival_sensors
from devmetrics_assets.defs.automation import automation_sensors, tier_schedules
from devmetrics_assets.defs.bronze import build_bronze_asset, secret_resource_key
from devmetrics_assets.defs.daemon_tuning import run_executor, sensor_interval_seconds
from devmetrics_assets.defs.freshness import with_tier_freshness
from devmetrics_assets.defs.gold_dora import build_gold_asset
from devmetrics_assets.defs.gold_facts import build_gold_facts_asset
from devmetrics_assets.defs.housekeeping import housekeeping_sensors
from devmetrics_assets.defs.openlineage import RESOURCE_KEY as LINEAGE_KEY
from devmetrics_assets.defs.openlineage import lineage_resource, lineage_sensors
from devmetrics_assets.defs.quarantine import build_quarantine_asset
from devmetrics_assets.defs.resources import RulesResource, WebhookSecretResource
from devmetrics_assets.defs.silver_changes import build_silver_changes_asset
from devmetrics_assets.defs.silver_deployments import build_silver_deployments_asset
from devmetrics_assets.defs.silver_incidents import build_silver_incidents_asset
from devmetrics_assets.instance_setup import warehouse_tags
from devmetrics_assets.partitions import partitions_for
from devmetrics_assets.process_memory import release_freed_memory
from devmetrics_assets.runner import DAILY_JOB, MONTHLY_JOB, QUARANTINE_JOB, WEEKLY_JOB
from devmetrics_assets.sources.registry import SourceSpec, load_sources, sources_path
from devmetrics_assets.storage.selection import storage_kind, storage_resources
from devmetrics_assets.transforms.fact_tables import FACT_TABLES


def secret_resource(spec: SourceSpec) -> WebhookSecretResource:
    # The secret's value comes from the environment through EnvVar, so it is never stored in
    # run config or shown in the UI; an unset variable means "not configured".
    if spec.secret_env and os.environ.get(spec.secret_env):
        return WebhookSecretResource(secret=dg.EnvVar(spec.secret_env))
    return WebhookSecretResource(secret=None)


def build_definitions(
    settings: Settings | None = None, sources: list[SourceSpec] | None = None
) -> dg.Definitions:
    # Every process that runs the graph loads these definitions first: run workers, step processes, the
    # code server and the CLI's in-process runs. Frees then go back to the OS (process_memory.py).
    release_freed_memory()
    settings = settings or Settings.from_env()
    declared = sources is None
    sources = sources if sources is not None else load_sources(settings=settings)
    # Read here, when the definitions load (never at import): a load of older history moves the start.
    partitions = partitions_for(settings)
    kind = storage_kind()  # the assets' `kinds` name the backend storage_resources below configures
    bronze = [build_bronze_asset(spec, partitions.daily, settings, kind) for spec in sources]
    bronze_keys = [asset.key for asset in bronze]
    silver = [
        build_silver_changes_asset(bronze_keys, partitions.daily, kind),
        build_silver_deployments_asset(bronze_keys, partitions.daily, kind),
        build_silver_incidents_asset(bronze_keys, partitions.daily, kind),
    ]
    gold = [build_gold_asset(period, partitions, kind) for period in ("day", "week", "month")]
    # The rows daily Gold is computed from (explain, load_facts), written after daily Gold and checked on it.
    gold.append(build_gold_facts_asset(partitions, kind))
    quarantine = build_quarantine_asset([*bronze_keys, *(a.key for a in silver)], kind)
    home = settings.home
    sensors = notification_sensors(lambda: build_notifier(config_path(home), home),
                                   minimum_interval_seconds=sensor_interval_seconds(30))
    resources: dict[str, object] = {
        # DuckDB file by default; MongoDB when MONGODB_URI is set (read through dg.EnvVar).
        **storage_resources(settings),
        "rules": RulesResource(
            path=str(settings.rules_path),
            sources_path=str(sources_path(settings)) if declared else None,
        ),
    }
    for spec in sources:
        resources[secret_resource_key(spec)] = secret_resource(spec)
    # The DuckDB file the runs write: the production run queue admits one such run at a time.
    tags = warehouse_tags(settings)
    # OpenLineage only when DEVMETRICS_OPENLINEAGE_URL is set (defs/openlineage.py): unset costs nothing.
    lineage = lineage_resource(home)
    if lineage is not None:
        resources[LINEAGE_KEY] = lineage
    # An arrival run takes its received day on to daily Gold itself (defs/arrivals.py); weeks, months,
    # late event days and reach-back days stay with automation.
    arrival_follow = [*(a.key for a in silver), dg.AssetKey("gold_dora_daily"),
                      *(dg.AssetKey(t) for t in FACT_TABLES.values())]
    jobs = [
        # One job per partitioning: a date range of each runs as ONE run (single-run backfill policy).
        dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.groups("bronze", "silver")
                            | dg.AssetSelection.assets("gold_dora_daily", *FACT_TABLES.values()), tags=tags),
        dg.define_asset_job(WEEKLY_JOB, selection=dg.AssetSelection.assets("gold_dora_weekly"), tags=tags),
        dg.define_asset_job(MONTHLY_JOB, selection=dg.AssetSelection.assets("gold_dora_monthly"), tags=tags),
        dg.define_asset_job(QUARANTINE_JOB, selection=dg.AssetSelection.assets("quarantine"), tags=tags),
    ]
    # Freshness policies per source tier; declarative automation with schedules per tier as the fallback.
    return with_tier_freshness(
        dg.Definitions(
            assets=[*bronze, *silver, *gold, quarantine], resources=resources, jobs=jobs,
            sensors=[*sensors,
                     *automation_sensors(minimum_interval_seconds=sensor_interval_seconds(30), run_tags=tags),
                     *housekeeping_sensors(settings, interval_seconds=sensor_interval_seconds(60)),
                     *lineage_sensors(lineage),
                     *arrival_sensors(sources, partitions.daily, run_tags=tags, follow=arrival_follow)],
            # near_real_time Bronze loads on arrival (defs/arrivals.py); the other tiers keep their schedule.
            schedules=tier_schedules([s for s in sources if s.tier not in EVENT_TIERS], partitions.daily,
                                     run_tags=tags),
            # In process unless DEVMETRICS_EXECUTOR says otherwise (defs/daemon_tuning.py).
            executor=run_executor(),
        ),
        sources,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Built when Dagster loads the code location (`dagster dev`, the daemon, a code server), so settings,
    sources.yaml and the partition start are read then, not when this module is imported."""
    return build_definitions()
