"""Properties of the whole Silver -> Gold path: what must NOT change Silver or Gold.

Each example takes a hand-written scenario (fixtures/), turns it into Bronze once, then changes how the
same history arrives, and compares Silver (production rows) and Gold with the untouched run exactly:
- delivery order permuted and received times moved later within the late window (7 days);
- deliveries duplicated under new delivery ids (a webhook and an API-pull copy of the same event);
- the history (in any order) split into several loads, each followed by a re-run of the Silver days from
  the earliest event day it touched to the last one (a Silver day reads earlier days' history, and a day
  before it can gain a push or a status), the final tables being the union of the last partitions written;
- staging deployments added.
A re-run on the same input must also give identical tables (no hidden order or clock dependence).
Bounded (max_examples, no deadline): the path costs about a second per example.
"""

from __future__ import annotations

import functools
import json

import hypothesis.strategies as st
import pandas as pd
import pandas.testing as pdt
from hypothesis import HealthCheck, given, settings

from devmetrics_assets.transforms.payloads import as_day
from devmetrics_assets_tests.scenarios.harness import (
    DAY,
    bronze_of,
    envelopes,
    gold_all,
    rules_of,
    silver_window,
)

SCENARIOS = (
    "rollback_during_incident_is_its_recovery",
    "staggered_regions_one_release",
    "revert_pr_is_rework",
    "update_branch_merge_does_not_move_first_commit",
    "gitlab_mr_commit_message_closes_incident",
    "pagerduty_number_never_matches_github_issue",
    "late_approval_is_not_a_rollback",
    "double_rollback_blames_once",
)
GITHUB_SCENARIOS = tuple(s for s in SCENARIOS if not s.startswith(("gitlab", "pagerduty")))
KEYS = {"changes": "change_id", "deployments": "deployment_id", "incidents": "incident_id"}
LATE_WINDOW_S = 7 * 86_400
PROPERTY = settings(
    max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@functools.cache
def baseline(name: str) -> tuple[pd.DataFrame, dict, dict, tuple]:
    bronze = bronze_of(envelopes(name))
    days = as_day(bronze["event_day"])
    span = (days.min(), days.max())
    silver = silver_window(bronze, rules_of(name), span[0], span[1] + DAY)
    return bronze, silver, gold_of(silver, name, span), span


def gold_of(silver: dict, name: str, span: tuple) -> dict:
    gold = gold_all(silver, rules_of(name), *span)
    return {p: gold[p] for p in ("day", "month")}


def production(silver: dict) -> dict[str, pd.DataFrame]:
    """Silver as compared: every entity sorted by its key; deployments restricted to production."""
    out = {}
    for entity, key in KEYS.items():
        frame = silver[entity]
        if entity == "deployments":
            frame = frame[frame["is_production"].astype(bool)]
        out[entity] = frame.sort_values(key, kind="stable").reset_index(drop=True)
    return out


def assert_same(name: str, silver: dict, gold: dict) -> None:
    _, want_silver, want_gold, _ = baseline(name)
    for entity, frame in production(silver).items():
        pdt.assert_frame_equal(frame, production(want_silver)[entity], check_exact=True, obj=entity)
    for period, frame in gold.items():
        pdt.assert_frame_equal(frame, want_gold[period], check_exact=True, obj=f"gold {period}")


def rerun(name: str, bronze: pd.DataFrame) -> tuple[dict, dict]:
    span = baseline(name)[3]
    silver = silver_window(bronze.reset_index(drop=True), rules_of(name), span[0], span[1] + DAY)
    return silver, gold_of(silver, name, span)


def test_a_rerun_gives_byte_identical_tables() -> None:
    name = SCENARIOS[0]
    _, want_silver, want_gold, _ = baseline(name)
    silver, gold = rerun(name, baseline(name)[0].copy())
    for entity in KEYS:
        assert silver[entity].to_csv().encode() == want_silver[entity].to_csv().encode(), entity
    for period, frame in gold.items():
        assert frame.to_csv().encode() == want_gold[period].to_csv().encode(), period


@PROPERTY
@given(name=st.sampled_from(SCENARIOS), data=st.data())
def test_delivery_order_and_late_received_times_change_nothing(name: str, data: st.DataObject) -> None:
    bronze = baseline(name)[0]
    order = data.draw(st.permutations(range(len(bronze))), label="load order")
    shifts = data.draw(st.lists(st.integers(0, LATE_WINDOW_S), min_size=len(bronze), max_size=len(bronze)))
    moved = bronze.iloc[list(order)].copy()
    moved["received_at"] = moved["received_at"] + pd.to_timedelta([shifts[i] for i in order], unit="s")
    moved["received_day"] = moved["received_at"].dt.tz_convert(None).dt.floor("D").astype("datetime64[us]")
    assert_same(name, *rerun(name, moved))


@PROPERTY
@given(name=st.sampled_from(SCENARIOS), data=st.data())
def test_duplicated_deliveries_change_nothing(name: str, data: st.DataObject) -> None:
    bronze = baseline(name)[0]
    picks = data.draw(
        st.lists(st.integers(0, len(bronze) - 1), min_size=1, max_size=len(bronze)), label="copies"
    )
    copies = bronze.iloc[picks].copy()
    # Another transport's copy (an API pull) of the same event: its own delivery id, received later.
    copies["delivery_id"] = [f"copy-{k}-{d}" for k, d in enumerate(copies["delivery_id"])]
    copies["received_at"] = copies["received_at"] + pd.Timedelta(hours=1)
    position = data.draw(st.integers(0, len(bronze)), label="where the copies land")
    merged = pd.concat([bronze.iloc[:position], copies, bronze.iloc[position:]], ignore_index=True)
    assert_same(name, *rerun(name, merged))


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SCENARIOS), data=st.data())
def test_splitting_a_file_into_several_loads_changes_nothing(name: str, data: st.DataObject) -> None:
    bronze, _, _, span = baseline(name)
    # An export is not necessarily in event order: a later load may bring an earlier day's push.
    bronze = bronze.iloc[list(data.draw(st.permutations(range(len(bronze))), label="file order"))]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(bronze) - 1), min_size=1, max_size=2), label="cuts"))
    rules = rules_of(name)
    stored = bronze.iloc[:0]
    partitions: dict[str, dict[pd.Timestamp, pd.DataFrame]] = {e: {} for e in KEYS}
    for lo, hi in zip([0, *cuts], [*cuts, len(bronze)], strict=True):
        load = bronze.iloc[lo:hi]
        stored = pd.concat([stored, load], ignore_index=True)
        # The runner re-materialises Silver from the earliest event day this load touched to the end.
        first = as_day(load["event_day"]).min()
        silver = silver_window(stored, rules, first, span[1] + DAY)
        for entity in KEYS:
            for day in pd.date_range(first, span[1], freq="D", unit="us"):
                rows = silver[entity]
                partitions[entity][day] = rows[as_day(rows["event_day"]) == day]
    final = {e: pd.concat(list(p.values()), ignore_index=True) for e, p in partitions.items()}
    final = {e: f.astype(baseline(name)[1][e].dtypes.to_dict()) for e, f in final.items()}
    assert_same(name, final, gold_of(final, name, span))


def _staging_status(body: dict, dep_id: int, state: str, created: pd.Timestamp, done: pd.Timestamp) -> dict:
    """A GitHub deployment_status delivery (webhook docs) for a staging deployment of the same repo."""
    repo = body["repository"]
    deployment = {
        "id": dep_id, "sha": body["deployment"]["sha"], "ref": "main", "task": "deploy",
        "environment": "staging", "created_at": created.isoformat().replace("+00:00", "Z"),
        "updated_at": done.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    status = {
        "id": dep_id * 10 + 1,
        "state": state,
        "environment": "staging",
        "created_at": deployment["updated_at"],
        "updated_at": deployment["updated_at"],
    }
    return {
        "action": "created",
        "deployment_status": status,
        "deployment": deployment,
        "repository": repo,
        "sender": {"login": "deploy-bot"},
    }


@PROPERTY
@given(name=st.sampled_from(GITHUB_SCENARIOS), data=st.data())
def test_staging_deployments_change_nothing(name: str, data: st.DataObject) -> None:
    bronze = baseline(name)[0]
    production_statuses = bronze[bronze["event_type"] == "deployment_status"]
    count = data.draw(st.integers(1, 4), label="staging deployments")
    rows = []
    for k in range(count):
        source = json.loads(
            production_statuses["body"].iloc[data.draw(st.integers(0, len(production_statuses) - 1))]
        )
        created = pd.Timestamp(source["deployment"]["created_at"]) - pd.Timedelta(
            minutes=data.draw(st.integers(5, 600), label="minutes before production")
        )
        state = data.draw(st.sampled_from(["success", "failure", "error"]), label="staging outcome")
        body = _staging_status(source, 900_000 + k, state, created, created + pd.Timedelta(minutes=3))
        rows.append(
            {
                "received_at": (created + pd.Timedelta(minutes=3, seconds=1)).isoformat(),
                "delivery_id": f"staging-{k}",
                "headers": {"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": f"staging-{k}"},
                "body": body,
            }
        )
    staged = pd.concat([bronze, bronze_of(rows)], ignore_index=True)
    assert_same(name, *rerun(name, staged))
