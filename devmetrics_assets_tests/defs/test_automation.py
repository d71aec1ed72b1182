"""Freshness policies, automation conditions, the automation sensor and the tier schedules.

Automation is proven with `dg.evaluate_automation_conditions` tick by tick: a toy graph shows the
blocking-check gate (requested after passed checks; not after a failed check or an unchecked
materialisation), and the real graph on a tiny sample organisation shows that a late delivery
requests exactly its event day in Silver, then exactly that day's week and month in Gold.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from devmetrics_assets.config import Settings
from devmetrics_assets.definitions import build_definitions
from devmetrics_assets.defs import automation as A
from devmetrics_assets.defs import freshness as F
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org
from devmetrics_assets.partitions import late_arrival_mapping, partition_set
from devmetrics_assets.runner import DAILY_JOB, materialise_days, run_range
from devmetrics_assets.sources.registry import SourceSpec

AC = dg.AutomationCondition
SILVER = ["silver_changes", "silver_deployments", "silver_incidents"]
GOLD = ["gold_dora_daily", "gold_dora_weekly", "gold_dora_monthly"]
PARTITIONS = partition_set("2024-12-01")
daily_partitions, weekly_partitions = PARTITIONS.daily, PARTITIONS.weekly


def spec(name: str, tier: str) -> SourceSpec:
    return SourceSpec(name=name, type="github_jsonl", provider="github", landing_dir=Path("/nonexistent"),
                      secret_env=None, description=f"{name} source", tier=tier)


def settings_in(root: Path) -> Settings:
    return Settings(home=root, warehouse_path=root / "warehouse.duckdb", landing_dir=root / "landing",
                    rules_path=root / "rules.yaml", partition_start="2024-12-01")


# ================================================================================== freshness
@pytest.mark.parametrize(("tier", "fail"), [("near_real_time", timedelta(minutes=15)),
                                            ("hourly", timedelta(hours=1)), ("daily", timedelta(hours=26))])
def test_bronze_policy_follows_the_source_tier(tier, fail):
    policy = F.bronze_freshness_policy(spec("s", tier))
    assert policy.fail_window.to_timedelta() == fail
    assert policy.warn_window.to_timedelta() == fail / 2


def test_silver_and_gold_inherit_the_strictest_input_tier_plus_slack():
    assert F.freshness_policy("silver").fail_window.to_timedelta() == timedelta(hours=26, minutes=30)
    assert F.freshness_policy("gold") is None  # the grain decides; with_tier_freshness applies it
    mixed = ["daily", "near_real_time", "hourly"]
    assert F.strictest_tier(mixed) == "near_real_time"
    assert F.freshness_policy("silver", mixed).fail_window.to_timedelta() == timedelta(minutes=45)
    gold_week = F.freshness_policy("gold", mixed, grain="week")
    assert gold_week.fail_window.to_timedelta() == timedelta(days=7, minutes=105)
    with pytest.raises(ValueError, match="unknown source tier"):
        F.freshness_policy("silver", ["weekly"])


def test_with_tier_freshness_applies_the_configured_sources(tmp_path):
    sources = [spec("github", "daily"), spec("pagerduty", "near_real_time")]
    defs = F.with_tier_freshness(build_definitions(settings_in(tmp_path), sources), sources)
    graph = defs.resolve_asset_graph()

    def fail(name: str) -> timedelta:
        return graph.get(dg.AssetKey(name)).freshness_policy.fail_window.to_timedelta()

    assert fail("bronze_github") == timedelta(hours=26) and fail("bronze_pagerduty") == timedelta(minutes=15)
    assert fail("silver_deployments") == timedelta(minutes=45)
    assert fail("gold_dora_daily") == timedelta(minutes=105)
    assert fail("gold_dora_monthly") == timedelta(days=31, minutes=105)
    node = graph.get(dg.AssetKey("silver_deployments"))  # everything else is kept
    assert node.partitions_def is not None and "change_refs" in {k.name for k in node.check_keys}


# ================================================================================== sensor and schedules
def test_layers_get_their_conditions():
    assert A.automation_condition("bronze") is None
    assert A.automation_condition("silver").get_label() == "touched_event_days_after_checks"
    assert A.automation_condition("gold").get_label() == "eager_any_window_after_checks"
    with pytest.raises(ValueError):
        A.automation_condition("platinum")


def test_automation_sensor_is_on_by_default_and_replaces_the_default_sensor(tmp_path):
    sensors = A.automation_sensors()
    assert len(sensors) == 1 and sensors[0].default_status == dg.DefaultSensorStatus.RUNNING
    defs = build_definitions(settings_in(tmp_path), [spec("github", "daily")])
    full = dg.Definitions(assets=list(defs.assets), resources=defs.resources, sensors=sensors)
    repo = full.get_repository_def()
    assert [s.name for s in repo.sensor_defs] == [A.AUTOMATION_SENSOR]


def test_tier_schedules_request_each_tiers_latest_partition(tmp_path):
    sources = [spec("github", "daily"), spec("gitlab", "hourly"), spec("pagerduty", "hourly")]
    schedules = A.tier_schedules(sources, daily_partitions)
    assert [s.name for s in schedules] == ["bronze_hourly_schedule", "bronze_daily_schedule"]
    assert [s.cron_schedule for s in schedules] == [A.TIER_CRON["hourly"], A.TIER_CRON["daily"]]
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules)
    defs = build_definitions(settings_in(tmp_path), sources)
    full = dg.Definitions(assets=list(defs.assets), resources=defs.resources, schedules=schedules)
    hourly_job = full.resolve_job_def("bronze_hourly_job")
    assert {k.to_user_string() for k in hourly_job.asset_layer.selected_asset_keys} == {
        "bronze_gitlab", "bronze_pagerduty"}
    tick = datetime(2025, 3, 20, 0, 15, tzinfo=UTC)
    repo = full.get_repository_def()
    with dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo) as context:
        request = repo.get_schedule_def("bronze_daily_schedule").evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2025-03-19" and request.tags["devmetrics/tier"] == "daily"


def test_intra_day_tiers_load_today_and_close_yesterday_in_the_first_hour():
    after_midnight = datetime(2025, 3, 20, 0, 5, tzinfo=UTC)
    midday = datetime(2025, 3, 20, 12, 5, tzinfo=UTC)
    assert A.partitions_to_load("hourly", after_midnight, daily_partitions) == ["2025-03-19", "2025-03-20"]
    assert A.partitions_to_load("near_real_time", midday, daily_partitions) == ["2025-03-20"]
    assert A.partitions_to_load("daily", midday, daily_partitions) == ["2025-03-19"]


# ================================================================================== the blocking-check gate
PARTS = dg.DailyPartitionsDefinition(start_date="2025-01-01")
CHECK_PASSES = {"value": True}


@dg.asset(partitions_def=PARTS, check_specs=[dg.AssetCheckSpec("valid", asset="upstream", blocking=True)])
def upstream():
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="valid", passed=CHECK_PASSES["value"])


@dg.asset(partitions_def=PARTS, deps=[upstream], automation_condition=A.gold_condition())
def downstream():
    return None


class Ticks:
    """Successive automation evaluations a minute apart, carrying the cursor like the sensor does."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, start: datetime,
                 watched: list[str] | None = None) -> None:
        self.defs, self.instance, self.time, self.cursor = defs, instance, start, None
        keys = defs.resolve_asset_graph().get_all_asset_keys()
        self.watched = [k for k in keys if watched is None or k.to_user_string() in watched]

    def __call__(self) -> dict[str, set[str]]:
        self.time += timedelta(minutes=1)
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance,
                                                   evaluation_time=self.time, cursor=self.cursor)
        self.cursor = result.cursor
        requested = {}
        for key in self.watched:
            partitions = set(result.get_requested_partitions(key))
            if partitions:
                requested[key.to_user_string()] = partitions
        return requested


def materialise_upstream(instance: dg.DagsterInstance, day: str, passes: bool) -> None:
    CHECK_PASSES["value"] = passes
    dg.materialize([upstream], instance=instance, partition_key=day, raise_on_error=False)


def test_downstream_waits_for_passed_blocking_checks():
    defs = dg.Definitions(assets=[upstream, downstream])
    with dg.instance_for_test() as instance:
        tick = Ticks(defs, instance, datetime(2025, 2, 10, 6, tzinfo=UTC))
        assert tick() == {}  # first evaluation: nothing new
        materialise_upstream(instance, "2025-02-03", passes=True)
        assert tick() == {"downstream": {"2025-02-03"}}
        assert tick() == {}  # handled: not requested again

        materialise_upstream(instance, "2025-02-04", passes=False)
        assert tick() == {}  # the blocking check failed: Gold-like downstream is held back
        materialise_upstream(instance, "2025-02-04", passes=True)
        assert tick() == {"downstream": {"2025-02-04"}}  # fixed and re-checked: released

        # Unchecked: a materialisation without a check execution (reported from outside a run).
        instance.report_runless_asset_event(dg.AssetMaterialization("upstream", partition="2025-02-05"))
        assert tick() == {}
        materialise_upstream(instance, "2025-02-05", passes=True)
        assert tick() == {"downstream": {"2025-02-05"}}


# ================================================================================== touched days, toy graph
AFFECTED = {"days": []}
RANGE = {"dagster/asset_partition_range_start": "2025-01-01",
         "dagster/asset_partition_range_end": "2025-02-09"}


@dg.asset(partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
def toy_bronze():
    return dg.MaterializeResult(metadata={A.AFFECTED_KEY: dg.MetadataValue.json(AFFECTED["days"])})


def toy_silver(name: str, condition: dg.AutomationCondition) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[dg.AssetDep(toy_bronze, partition_mapping=late_arrival_mapping)],
              automation_condition=condition)
    def _silver() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    return _silver


def test_touched_event_days_not_the_latest_partition_and_not_the_whole_mapped_week():
    ours = toy_silver("silver_ours", A.silver_condition())
    eager = toy_silver("silver_eager", AC.eager() & AC.all_deps_blocking_checks_passed())
    defs = dg.Definitions(assets=[toy_bronze, ours, eager])
    with dg.instance_for_test() as instance:
        AFFECTED["days"] = []
        assert dg.materialize([toy_bronze, ours, eager], instance=instance, tags=RANGE).success
        tick = Ticks(defs, instance, datetime(2025, 2, 10, 6, tzinfo=UTC))  # latest partition: 02-09
        assert tick() == {}
        # Received on 02-09, a delivery for 01-25: beyond the 7-day input window of the mapping.
        AFFECTED["days"] = ["2025-01-25"]
        dg.materialize([toy_bronze], instance=instance, partition_key="2025-02-09")
        assert tick() == {"silver_ours": {"2025-01-25"}, "silver_eager": {"2025-02-09"}}
        assert tick() == {}


def test_the_sensor_runs_the_custom_condition_and_keeps_its_cursor():
    ours = toy_silver("silver_ours", A.silver_condition())
    sensor = A.automation_sensors()[0]
    defs = dg.Definitions(assets=[toy_bronze, ours], sensors=[sensor])
    with dg.instance_for_test() as instance:
        AFFECTED["days"] = []
        assert dg.materialize([toy_bronze, ours], instance=instance, tags=RANGE).success
        cursor, requested = None, []
        for step in range(3):
            if step == 1:
                AFFECTED["days"] = ["2025-01-25"]
                dg.materialize([toy_bronze], instance=instance, partition_key="2025-02-09")
            context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
            result = sensor(context)
            cursor = result.cursor
            requested.append([(r.asset_selection, r.partition_key) for r in result.run_requests or []])
            assert cursor  # the serialised cursor survives a custom (non-serialisable) condition
    assert requested == [[], [([dg.AssetKey("silver_ours")], "2025-01-25")], []]
    assert result.run_requests == [] and sensor.default_status == dg.DefaultSensorStatus.RUNNING


# ================================================================================== late delivery, real graph
def hold_back_one_late_delivery(org_dir: Path, landing: Path) -> tuple[dict, str]:
    """Remove a late deployment_status delivery from the landing folder; returns it and its line."""
    edge = json.loads((org_dir / "truth" / "truth_edge_cases.json").read_text())
    redelivered = set(edge["redelivered_delivery_ids"])
    late = next(d for d in edge["late_deliveries"]
                if d["event_type"] == "deployment_status" and d["delivery_id"] not in redelivered)
    path = landing / f"{late['received_day']}.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    held = next(line for line in lines if late["delivery_id"] in line)
    path.write_text("".join(line for line in lines if line is not held))
    return late, held


@pytest.mark.slow
def test_a_late_delivery_requests_exactly_its_event_day_then_its_gold_periods(tmp_path, monkeypatch):
    # February whole, so the late day's month is a complete Gold partition too.
    org = generate_sample_org(tmp_path / "org", repos=2, days=28, start=date(2025, 2, 1), seed=11)
    settings = settings_in(tmp_path / "home")
    landing = settings.landing_dir / "github"
    shutil.copytree(org.deliveries_dir, landing)
    shutil.copyfile(org.rules_path, settings.rules_path)
    late, held = hold_back_one_late_delivery(org.root, landing)
    received = sorted(date.fromisoformat(p.stem) for p in landing.glob("*.jsonl"))
    days = [received[0] + timedelta(days=i) for i in range((received[-1] - received[0]).days + 1)]
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SAMPLE_WEBHOOK_SECRET)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert all(r.success for r in materialise_days(defs, instance, days))
        # The sensor's clock: just after the last received day closed (its partitions all exist).
        # Silver and Gold only: other assets (the quarantine view) have conditions of their own.
        after_last_day = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), UTC)
        tick = Ticks(defs, instance, after_last_day, watched=SILVER + GOLD)
        assert tick() == {}
        assert tick() == {}  # a settled graph requests nothing

        # The late delivery arrives: appended to its received day's file, Bronze reloads that day.
        with (landing / f"{late['received_day']}.jsonl").open("a") as f:
            f.write(held)
        received_day = date.fromisoformat(late["received_day"])
        bronze = run_range(defs, instance, DAILY_JOB, received_day, received_day, ["bronze_github"])
        assert bronze.success
        event_day = late["anchor_day"]
        assert event_day != late["received_day"]
        # Exactly the event day in Silver, and that day's daily Gold in the same run (in-tick chaining:
        # should a Silver blocking check fail in that run, the Gold step is skipped).
        assert tick() == {**{name: {event_day} for name in SILVER}, "gold_dora_daily": {event_day}}

        day = date.fromisoformat(event_day)
        assert run_range(defs, instance, DAILY_JOB, day, day, [*SILVER, "gold_dora_daily"]).success
        week = (day - timedelta(days=day.weekday())).isoformat()
        with dg.partition_loading_context(effective_dt=tick.time):
            assert weekly_partitions.has_partition_key(week)
        # Then the week and the month holding that day (other partitionings: the next tick).
        assert tick() == {"gold_dora_weekly": {week}, "gold_dora_monthly": {"2025-02-01"}}
        assert tick() == {}
