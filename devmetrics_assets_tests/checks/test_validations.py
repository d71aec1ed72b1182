"""The pure validations: each passes on clean data and fails on data built to break it."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from devmetrics_assets.checks import validations as V

NOW = pd.Timestamp("2025-03-20 12:00", tz="UTC")


def counts_frame(per_day: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"received_day": pd.to_datetime(list(per_day)), "deliveries": list(per_day.values())})


def steady_counts(last: str, weeks: int = 8, weekday: int = 100, weekend: int = 5) -> dict[str, int]:
    """A source delivering `weekday` per working day and `weekend` per weekend day, up to `last`."""
    days = pd.date_range(pd.Timestamp(last) - pd.Timedelta(weeks=weeks), last, freq="D")
    return {d.date().isoformat(): (weekend if d.weekday() >= 5 else weekday) for d in days}


# ---- quarantine rate ----------------------------------------------------------------------------------
def test_quarantine_rate_passes_under_and_fails_over_threshold():
    ok = V.quarantine_rate(2, 100, sample_refs=["a", "b"])
    bad = V.quarantine_rate(30, 100, sample_refs=[f"r{i}" for i in range(30)])
    assert ok.passed and ok.counts["rate"] == pytest.approx(0.02)
    assert not bad.passed and bad.counts["quarantined"] == 30 and len(bad.sample) == V.SAMPLE
    assert "quarantine table" in bad.summary
    assert V.quarantine_rate(0, 0).passed  # nothing read is not a failure


# ---- volume ---------------------------------------------------------------------------------------------
def test_volume_passes_on_a_usual_day_and_fails_on_a_collapse_or_a_storm():
    counts = steady_counts("2025-03-17")  # Monday 2025-03-18 is the window
    usual = counts | {"2025-03-18": 95}
    assert V.volume_anomaly(counts_frame(usual), "2025-03-18", "2025-03-19", now=NOW).passed

    window = ("2025-03-18", "2025-03-19")
    collapsed = V.volume_anomaly(counts_frame(counts | {"2025-03-18": 20}), *window, now=NOW)
    assert not collapsed.passed
    assert collapsed.sample == [{"day": "2025-03-18", "deliveries": 20, "baseline_median": 100.0,
                                 "direction": "low"}]
    storm = V.volume_anomaly(counts_frame(counts | {"2025-03-18": 450}), *window, now=NOW)
    assert not storm.passed and storm.sample[0]["direction"] == "high"


def test_volume_compares_with_the_same_weekday_and_ignores_poisson_noise():
    counts = steady_counts("2025-03-15", weekend=4)  # Sunday 2025-03-16 is the window
    # 1 instead of about 4 on a Sunday is within noise; 100 on a Sunday is not.
    sunday = ("2025-03-16", "2025-03-17")
    assert V.volume_anomaly(counts_frame(counts | {"2025-03-16": 1}), *sunday, now=NOW).passed
    assert not V.volume_anomaly(counts_frame(counts | {"2025-03-16": 100}), *sunday, now=NOW).passed


def test_volume_without_baseline_or_complete_day_passes_with_a_note():
    new_source = {d.date().isoformat(): 100 for d in pd.date_range("2025-03-04", "2025-03-17")}
    result = V.volume_anomaly(counts_frame(new_source | {"2025-03-18": 1}), "2025-03-18", "2025-03-19",
                              now=NOW)
    assert result.passed and result.counts["days_judged"] == 0 and "not judged" in result.summary
    # Today is still filling up: 3 deliveries at noon is not a collapse.
    today = V.volume_anomaly(counts_frame(steady_counts("2025-03-19") | {"2025-03-20": 3}),
                             "2025-03-20", "2025-03-21", now=NOW)
    assert today.passed and today.counts["days_judged"] == 0


def test_volume_over_a_range_reports_each_bad_day():
    counts = steady_counts("2025-03-09") | {"2025-03-11": 10, "2025-03-13": 10}
    counts |= {d.date().isoformat(): 100 for d in pd.date_range("2025-03-10", "2025-03-14")
               if d.day not in (11, 13)}
    result = V.volume_anomaly(counts_frame(counts), "2025-03-10", "2025-03-15", now=NOW)
    assert not result.passed and result.counts["anomalous_days"] == 2
    assert [s["day"] for s in result.sample] == ["2025-03-11", "2025-03-13"]


# ---- gaps -----------------------------------------------------------------------------------------------
def test_gap_on_a_normally_active_day_fails_and_a_usually_quiet_day_passes():
    counts = steady_counts("2025-03-17", weekend=0)
    gap = V.delivery_gaps(counts_frame(counts | {"2025-03-18": 0}), "2025-03-18", "2025-03-19", now=NOW)
    assert not gap.passed and gap.sample == ["2025-03-18"] and gap.counts["gap_days"] == 1
    quiet_sunday = V.delivery_gaps(counts_frame(counts), "2025-03-16", "2025-03-17", now=NOW)
    assert quiet_sunday.passed and quiet_sunday.counts["days_judged"] == 1
    active = V.delivery_gaps(counts_frame(counts | {"2025-03-18": 7}), "2025-03-18", "2025-03-19", now=NOW)
    assert active.passed


def test_gap_needs_a_history_and_a_complete_day():
    young = {d.date().isoformat(): 50 for d in pd.date_range("2025-03-10", "2025-03-17")}
    assert V.delivery_gaps(counts_frame(young), "2025-03-18", "2025-03-19", now=NOW).passed
    today = V.delivery_gaps(counts_frame(steady_counts("2025-03-19")), "2025-03-20", "2025-03-21", now=NOW)
    assert today.passed and today.counts["days_judged"] == 0


# ---- schema drift ---------------------------------------------------------------------------------------
def push_body(i: int, **extra) -> str:
    body = {"ref": "refs/heads/main", "after": f"{i:040x}", "commits": [],
            "repository": {"id": 1, "full_name": "acme/api", "default_branch": "main"},
            "sender": {"login": "dev", "id": 7}}
    body.update(extra)
    return json.dumps(body)


def deliveries(bodies_by_day: dict[str, list[str]], event_type: str = "push") -> pd.DataFrame:
    rows = [(event_type, pd.Timestamp(day), body) for day, bodies in bodies_by_day.items() for body in bodies]
    return pd.DataFrame(rows, columns=["event_type", "received_day", "body"])


def baseline_bodies(days: int = 20, per_day: int = 3) -> dict[str, list[str]]:
    start = pd.Timestamp("2025-03-18") - pd.Timedelta(days=days)
    return {(start + pd.Timedelta(days=d)).date().isoformat(): [push_body(d * 10 + i) for i in range(per_day)]
            for d in range(days)}


def test_shape_counts_lists_top_level_and_one_nested_level():
    shapes = V.shape_counts(deliveries({"2025-03-18": [push_body(1), push_body(2, pusher={"name": "x"}),
                                                       "not json"]}))
    paths = dict(zip(shapes["path"], shapes["n"], strict=True))
    assert paths["repository.full_name"] == 2 and paths["sender.login"] == 2 and paths["pusher.name"] == 1
    assert "commits" in paths and not any(p.startswith("commits.") for p in paths)  # arrays are leaves
    assert set(shapes["deliveries"]) == {3}


def test_drift_passes_on_the_same_shape():
    data = baseline_bodies() | {"2025-03-18": [push_body(900), push_body(901)]}
    result = V.schema_drift(V.shape_counts(deliveries(data)), "2025-03-18", "2025-03-19")
    assert result.passed and result.counts["event_kinds_with_baseline"] == 1


def test_drift_fails_when_fields_appear_or_disappear():
    renamed = json.loads(push_body(900))
    renamed["repo"] = renamed.pop("repository")
    renamed["sender"]["type"] = "User"
    data = baseline_bodies() | {"2025-03-18": [json.dumps(renamed)] * 2}
    result = V.schema_drift(V.shape_counts(deliveries(data)), "2025-03-18", "2025-03-19")
    assert not result.passed
    assert result.details["appeared"] == {"push": ["repo", "repo.default_branch", "repo.full_name", "repo.id",
                                                   "sender.type"]}
    assert result.details["disappeared"] == {"push": ["repository", "repository.default_branch",
                                                      "repository.full_name", "repository.id"]}
    assert "push: +repo" in result.summary


def test_drift_lists_new_event_types_and_needs_a_baseline():
    data = deliveries(baseline_bodies())
    release = json.dumps({"action": "published", "release": {"id": 1}})
    new_type = deliveries({"2025-03-18": [release]}, "release")
    result = V.schema_drift(V.shape_counts(pd.concat([data, new_type])), "2025-03-18", "2025-03-19")
    assert result.passed and result.details["new_event_kinds"] == ["release:published"]
    young = deliveries({"2025-03-17": [push_body(1)], "2025-03-18": [json.dumps({"other": 1})]})
    result = V.schema_drift(V.shape_counts(young), "2025-03-18", "2025-03-19")
    assert result.passed and "no recorded shape yet" in result.summary


# ---- freshness -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tier", "fail"), [("near_real_time", timedelta(minutes=15)),
                                            ("hourly", timedelta(hours=1)), ("daily", timedelta(hours=26))])
def test_source_is_quiet_by_tier(tier, fail):
    last = pd.Timestamp("2025-03-20 08:00", tz="UTC")
    fresh = V.source_is_quiet(last, last + fail / 2 - timedelta(seconds=1), tier)
    late = V.source_is_quiet(last, last + fail / 2 + timedelta(seconds=1), tier)
    quiet = V.source_is_quiet(last, last + fail + timedelta(seconds=1), tier)
    assert fresh.passed and fresh.details["state"] == "fresh" and fresh.severity is None
    assert not late.passed and late.details["state"] == "late" and late.severity == "warn"
    assert not quiet.passed and quiet.details["state"] == "quiet" and quiet.severity == "error"


def test_source_that_never_delivered_is_quiet_and_unknown_tier_is_refused():
    never = V.source_is_quiet(None, NOW, "hourly")
    assert not never.passed and never.severity == "error"
    with pytest.raises(ValueError, match="unknown source tier"):
        V.source_is_quiet(NOW, NOW, "weekly")


# ---- Silver references ------------------------------------------------------------------------------------
def test_change_refs_pass_when_every_change_exists_and_name_the_dangling_ones():
    deps = pd.DataFrame({"deployment_id": ["acme/api:1", "acme/api:2", "acme/api:3"],
                         "change_ids": ["acme/api#1,acme/api#2", "", "acme/api#3,acme/api@abc1234"]})
    everything = ["acme/api#1", "acme/api#2", "acme/api#3", "acme/api@abc1234"]
    assert V.deployment_change_refs(deps, everything).passed
    bad = V.deployment_change_refs(deps, ["acme/api#1", "acme/api#3"])
    assert not bad.passed and bad.counts == {"references": 4, "missing": 2, "deployments_affected": 2}
    assert bad.sample == ["acme/api:1 -> acme/api#2", "acme/api:3 -> acme/api@abc1234"]


def test_root_cause_links_judge_full_shas_against_successful_production_deployments():
    sha_a, sha_b, sha_c = "a" * 40, "b" * 40, "c" * 40
    deps = pd.DataFrame({"deployment_id": ["r:1", "r:2"], "is_production": [True, False],
                         "final_status": ["success", "success"],
                         "commit_shas": [f"{sha_a},{'d' * 40}", sha_b]})
    incidents = pd.DataFrame({"incident_id": ["r#1", "r#2", "r#3"],
                              "root_cause_sha": [sha_a, "abc1234", None]})
    ok = V.incident_root_cause_links(incidents, deps)
    assert ok.passed and ok.counts["unresolved_short_shas"] == 1 and ok.counts["full_sha_root_causes"] == 1
    staging_only = incidents.assign(root_cause_sha=[sha_b, None, sha_c])
    bad = V.incident_root_cause_links(staging_only, deps)
    assert not bad.passed and bad.counts["unlinked"] == 2 and bad.sample[0] == f"r#1 -> {sha_b[:12]}"


# ---- Gold reconciliation -----------------------------------------------------------------------------------
def gold_frame() -> pd.DataFrame:
    rows = []
    for day in ("2025-03-17", "2025-03-18"):
        for scope_type, scope, n in [("repo", "a/x", 2), ("repo", "a/y", 3), ("team", "t1", 5),
                                     ("service", "a/x", 2), ("service", "a/y", 3), ("org", "all", 5)]:
            rows.append({"period_start": pd.Timestamp(day), "scope_type": scope_type, "scope": scope,
                         **{c: n for c in V.GOLD_ADDITIVE}})
    return pd.DataFrame(rows)


def silver_deployments(n: int) -> pd.DataFrame:
    days = ["2025-03-17"] * (n // 2) + ["2025-03-18"] * (n - n // 2)
    # a staging deployment in the window, a production one outside it: neither counts
    extra = pd.DataFrame({"event_day": pd.to_datetime(["2025-03-18", "2025-03-16"]),
                          "is_production": [False, True], "final_status": ["success", "success"]})
    main = pd.DataFrame({"event_day": pd.to_datetime(days), "is_production": True, "final_status": "success"})
    return pd.concat([main, extra], ignore_index=True)


def test_reconciliation_passes_when_gold_adds_up_and_matches_silver():
    result = V.reconcile_gold(gold_frame(), silver_deployments(10), "2025-03-17", "2025-03-19")
    assert result.passed and result.counts["org_deployments"] == 10


def test_reconciliation_fails_on_a_lost_scope_row_a_double_count_or_a_silver_mismatch():
    lost = gold_frame().drop(index=1)  # repo a/y of the first day
    result = V.reconcile_gold(lost, silver_deployments(10), "2025-03-17", "2025-03-19")
    assert not result.passed
    assert {"period_start": "2025-03-17", "column": "deployments", "org": 5, "sum_repo": 2} in result.sample
    doubled = gold_frame()
    doubled.loc[doubled["scope_type"] == "org", "incidents_opened"] = np.int64(10)
    assert not V.reconcile_gold(doubled, silver_deployments(10), "2025-03-17", "2025-03-19").passed
    mismatch = V.reconcile_gold(gold_frame(), silver_deployments(9), "2025-03-17", "2025-03-19")
    assert not mismatch.passed and mismatch.sample[0]["silver_successful_production"] == 9


def test_metadata_is_plain_json():
    result = V.reconcile_gold(gold_frame().drop(index=1), silver_deployments(10), "2025-03-17", "2025-03-19")
    meta = result.metadata()
    json.dumps(meta)
    assert meta["mismatches"] == result.counts["mismatches"] and meta["threshold_tolerance"] == 0
    quiet = V.source_is_quiet(NOW - timedelta(days=3), NOW, "daily").metadata()
    assert quiet["state"] == "quiet" and quiet["last_received_at"].startswith("2025-03-17")
