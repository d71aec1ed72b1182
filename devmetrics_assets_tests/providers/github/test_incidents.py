"""silver_incidents: incident detection, lifecycle, root cause and quarantine from issue/comment bodies."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github.incidents import build_silver_incidents
from devmetrics_assets.transforms.silver_contract import INCIDENTS_COLUMNS
from devmetrics_assets_tests.providers.github.test_mainline import API, story
from devmetrics_assets_tests.transforms.test_payloads import (
    bronze,
    comment_body,
    duckdb_round_trip,
    issue_body,
    issue_obj,
    sha,
)

RULES = DoraRules(incident_labels=("incident", "sev1"))
D3, D4 = pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04")
OPENED = "2025-03-03T09:00:00Z"


def build(rows: list, start: pd.Timestamp = D3, end: pd.Timestamp = D4) -> tuple[pd.DataFrame, pd.DataFrame]:
    incidents, quarantine = build_silver_incidents(bronze(rows), story(), RULES, start, end)
    assert list(incidents.columns) == INCIDENTS_COLUMNS
    SilverIncidentsSchema.validate(incidents)
    return incidents.set_index("incident_id"), quarantine


def lifecycle() -> list:
    """acme/api#7: opened, two root-cause comments, closed, reopened, closed again (+ duplicates)."""
    opened = issue_obj(7, created=OPENED, labels=("Incident",))
    closed1 = issue_obj(7, created=OPENED, closed="2025-03-03T11:00:00Z", labels=("Incident",))
    reopened = issue_obj(7, created=OPENED, updated="2025-03-03T12:00:00Z", labels=("Incident",))
    closed2 = issue_obj(7, created=OPENED, closed="2025-03-03T15:00:00Z", labels=("Incident",))
    first_guess = comment_body("api", opened, 1, "Root cause: " + sha("d1")[:7], "2025-03-03T10:00:00Z")
    real = comment_body(
        "api", reopened, 2, "Correction.\nroot cause:" + sha("s2")[:10].upper(), "2025-03-03T13:00:00Z"
    )
    return [
        ("issues", issue_body("api", "opened", opened)),
        ("issue_comment", first_guess),
        ("issues", issue_body("api", "closed", closed1)),
        ("issues", issue_body("api", "reopened", reopened)),
        ("issue_comment", real),
        ("issue_comment", real),  # the same comment delivered twice
        ("issues", issue_body("api", "closed", closed2)),
        ("issues", issue_body("api", "closed", closed2)),
    ]


def test_lifecycle_root_cause_and_dtypes() -> None:
    incidents, quarantine = build(lifecycle())
    assert quarantine.empty
    row = incidents.loc[f"{API}#7"]
    assert (row["repo"], row["number"], row["title"]) == (API, 7, "Checkout errors")
    assert row["opened_at"] == pd.Timestamp(OPENED)
    assert row["resolved_at"] == pd.Timestamp("2025-03-03T15:00:00Z")
    assert (row["reopened_count"], row["is_open"]) == (1, False)
    assert row["root_cause_raw"] == sha("s2")[:10].upper()
    assert row["root_cause_sha"] == sha("s2")  # resolved against the main line
    assert row["event_day"] == D3
    out = incidents.reset_index()
    assert (
        str(out["opened_at"].dtype) == "datetime64[us, UTC]"
        and str(out["event_day"].dtype) == "datetime64[us]"
    )
    assert str(out["number"].dtype) == "int64"


def test_events_are_ordered_by_their_own_time_not_arrival() -> None:
    rows = list(reversed(lifecycle()))  # late deliveries: the final close arrives first
    row = build(rows)[0].loc[f"{API}#7"]
    assert (row["is_open"], row["resolved_at"], row["root_cause_sha"]) == (
        False,
        pd.Timestamp("2025-03-03T15:00:00Z"),
        sha("s2"),
    )


def test_a_stale_issue_snapshot_inside_a_later_comment_does_not_reopen() -> None:
    stale = issue_obj(7, created=OPENED, labels=("Incident",))  # the issue as it was when opened
    late_comment = comment_body("api", stale, 3, "post-mortem written", "2025-03-03T18:00:00Z")
    row = build([*lifecycle(), ("issue_comment", late_comment)])[0].loc[f"{API}#7"]
    assert not row["is_open"] and row["resolved_at"] == pd.Timestamp("2025-03-03T15:00:00Z")


def test_open_incident_labeled_later_and_repo_qualified_ids() -> None:
    plain = issue_obj(1, created=OPENED, labels=())
    labeled = issue_obj(1, created=OPENED, updated="2025-03-03T09:30:00Z", labels=("sev1",))
    other_repo = issue_obj(1, created="2025-03-03T10:00:00Z", labels=("INCIDENT",))
    rows = [
        ("issues", issue_body("api", "opened", plain)),
        ("issues", issue_body("api", "labeled", labeled, label="sev1")),
        ("issues", issue_body("web", "opened", other_repo)),
    ]
    incidents, _ = build(rows)
    assert sorted(incidents.index) == [f"{API}#1", "acme/web#1"]
    api = incidents.loc[f"{API}#1"]
    assert api["is_open"] and pd.isna(api["resolved_at"]) and api["reopened_count"] == 0
    assert pd.isna(api["root_cause_raw"]) and pd.isna(api["root_cause_sha"])


def test_label_seen_only_in_a_labeled_event_still_counts() -> None:
    issue = issue_obj(4, created=OPENED, labels=())
    later = issue_obj(4, created=OPENED, updated="2025-03-03T10:00:00Z", labels=())  # label removed again
    rows = [
        ("issues", issue_body("api", "labeled", issue, label="Incident")),
        ("issues", issue_body("api", "unlabeled", later, label="Incident")),
    ]
    assert list(build(rows)[0].index) == [f"{API}#4"]


def test_body_edit_after_comment_wins_and_unresolvable_sha_stays_raw() -> None:
    base = issue_obj(5, created=OPENED, body="Errors spiking")
    edited = issue_obj(
        5, created=OPENED, updated="2025-03-03T12:00:00Z", body="Errors spiking\n\nroot cause: 0badc0de1"
    )
    deleted = comment_body(
        "api", edited, 11, "root cause: " + sha("m1"), "2025-03-03T13:00:00Z", action="deleted"
    )
    rows = [
        ("issues", issue_body("api", "opened", base)),
        (
            "issue_comment",
            comment_body("api", base, 10, "root cause: " + sha("m1")[:8], "2025-03-03T10:00:00Z"),
        ),
        ("issues", issue_body("api", "edited", edited)),
        (
            "issue_comment",
            comment_body("api", edited, 11, "root cause: " + sha("m1"), "2025-03-03T13:00:00Z"),
        ),
        (
            "issue_comment",
            {**deleted, "comment": {**deleted["comment"], "updated_at": "2025-03-03T14:00:00Z"}},
        ),
    ]
    row = build(rows)[0].loc[f"{API}#5"]
    assert row["root_cause_raw"] == "0badc0de1" == row["root_cause_sha"]


def test_non_incidents_are_ignored_and_bad_incident_deliveries_quarantined() -> None:
    feature = issue_obj(20, created=OPENED, labels=("enhancement",))
    broken_feature = {**issue_obj(21, created=OPENED, labels=("bug",)), "updated_at": "not a time"}
    incident = issue_obj(22, created=OPENED)
    no_comment_id = comment_body("api", incident, 5, "looking", "2025-03-03T10:00:00Z")
    del no_comment_id["comment"]["id"]
    bad_created = {**incident, "created_at": "03/03/2025"}
    rows = [
        ("issues", issue_body("api", "opened", feature)),
        ("issues", issue_body("api", "edited", broken_feature)),
        ("issues", issue_body("api", "opened", incident)),
        ("issue_comment", no_comment_id),
        ("issues", issue_body("api", "labeled", bad_created, label="incident")),
        ("issues", '{"action": "opened"'),
        ("issues", {"action": "opened", "issue": {"number": 3}}),
    ]
    frame = bronze(rows)
    frame["event_day"] = D3
    incidents, quarantine = build_silver_incidents(frame, story(), RULES, D3, D4)
    assert list(incidents["incident_id"]) == [f"{API}#22"]
    reasons = dict(zip(quarantine["record_ref"], quarantine["reason"], strict=True))
    ids = frame["delivery_id"]
    assert reasons == {
        ids[3]: "issue_comment without comment.id",
        ids[4]: "issue.created_at is not a valid timestamp",
        ids[5]: reasons[ids[5]],
        ids[6]: "repository.full_name missing",
    }
    assert reasons[ids[5]].startswith("body is not valid JSON")
    assert (quarantine["partition_day"] == D3).all() and set(quarantine["asset"]) == {"silver_incidents"}


def test_window_filters_on_opening_day() -> None:
    rows = [("issues", issue_body("api", "opened", issue_obj(9, created="2025-03-02T23:59:59Z")))]
    assert build(rows)[0].empty
    assert list(build(rows, pd.Timestamp("2025-03-02"), D3)[0].index) == [f"{API}#9"]


def test_round_trip_through_a_duckdb_file_keeps_the_schema(tmp_path: Path) -> None:
    incidents, _ = build_silver_incidents(bronze(lifecycle()), story(), RULES, D3, D4)
    back = duckdb_round_trip(incidents, tmp_path / "silver.duckdb")
    validated = SilverIncidentsSchema.validate(back)
    assert list(validated["incident_id"]) == [f"{API}#7"] and validated["resolved_at"].notna().all()
