"""Opsgenie alert actions → silver_incidents: which alerts are incidents, life cycle, repo link, root
cause, quarantine. Bodies in the documented webhook shape (payloads.py); expectations computed by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.opsgenie.incidents import epoch_text
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.normalised import id_number
from devmetrics_assets.transforms.silver_contract import INCIDENTS_COLUMNS
from devmetrics_assets_tests.providers.gitlab.test_silver import D3, D4, SHOP, landed, story
from devmetrics_assets_tests.providers.opsgenie.payloads import og
from devmetrics_assets_tests.transforms.test_payloads import sha

RULES = DoraRules(
    repo_owners={
        SHOP: {"team": "shop", "service": "Shop Service"},
        "acme/api": {"service": "Edge"},
        "acme/web": {"service": "Edge"},
        "acme/pay": {"team": "payments"},
        "acme/pay-ui": {"team": "payments"},
    },
    provider_rules={
        "opsgenie": {"priorities": ["P1"], "tags": ["sev1"], "team_repos": {"Checkout": "acme/api"}}
    },
)
C1 = "2025-03-03T09:00:00Z"
A1 = "8418d193-2dab-4490-b331-8c02cdd196b7"
SHOP_DETAILS = {"service": "Shop Service"}


def rows() -> list[tuple[str, Any, str]]:
    create = og("Create", A1, "23", C1, description="Checkout returns 500", details=SHOP_DETAILS)
    return [
        ("Create", create, "2025-03-03T09:00:01Z"),
        ("Create", create, "2025-03-03T09:00:05Z"),  # a redelivery of the same body: counted once
        ("Acknowledge", og("Acknowledge", A1, "23", C1, "2025-03-03T09:10:00Z"), "2025-03-03T09:10:01Z"),
        (
            "AddNote",
            og("AddNote", A1, "23", C1, "2025-03-03T09:20:00Z", note=f"root cause: {sha('d1')[:8]}"),
            "2025-03-03T09:20:01Z",
        ),
        ("Close", og("Close", A1, "23", C1, "2025-03-03T10:00:00Z"), "2025-03-03T10:00:01Z"),
        # the alert created again after its close: a reopen
        (
            "Create",
            og("Create", A1, "23", C1, "2025-03-03T11:00:00Z", details=SHOP_DETAILS),
            "2025-03-03T11:00:01Z",
        ),
        (
            "AddNote",
            og("AddNote", A1, "23", C1, "2025-03-03T11:30:00Z", note=f"Root cause: {sha('r_a')}"),
            "2025-03-05T08:00:01Z",  # received two days later: read with the alert's creation day
        ),
        ("Close", og("Close", A1, "23", C1, "2025-03-03T12:00:00Z"), "2025-03-03T12:00:01Z"),
        # P3 but tagged sev1; team Checkout → acme/api through team_repos; root cause in details; open
        (
            "Create",
            og(
                "Create",
                "a2",
                "24",
                "2025-03-03T13:00:00Z",
                priority="P3",
                tags=["sev1"],
                teams=["Checkout"],
                details={"root_cause": "abcdef1"},
            ),
            "2025-03-03T13:00:01Z",
        ),
        # team payments owns two repos: ambiguous, quarantined
        (
            "Create",
            og("Create", "a3", "25", "2025-03-03T14:00:00Z", teams=["payments"]),
            "2025-03-03T14:00:01Z",
        ),
        # no repo at all: quarantined
        (
            "Create",
            og("Create", "a4", "26", "2025-03-03T15:00:00Z", teams=["nobody"]),
            "2025-03-03T15:00:01Z",
        ),
        # P4 without an incident tag or team: not an incident, not quarantined either
        ("Create", og("Create", "a5", "27", "2025-03-03T15:30:00Z", priority="P4"), "2025-03-03T15:30:01Z"),
        # raised to P1 later: an incident from its creation; repo from details.repo
        (
            "Create",
            og("Create", "a6", "28", "2025-03-03T16:00:00Z", priority="P3", details={"repo": "acme/web"}),
            "2025-03-03T16:00:01Z",
        ),
        (
            "UpdatePriority",
            og("UpdatePriority", "a6", "28", "2025-03-03T16:00:00Z", "2025-03-03T16:30:00Z", priority="P1"),
            "2025-03-03T16:30:01Z",
        ),
        ("Create", {"action": "Create", "alert": {"tinyId": "29"}}, "2025-03-03T17:00:00Z"),
        ("Close", {"action": "Close", "alert": {"alertId": "a7", "tinyId": "30"}}, "2025-03-03T17:10:00Z"),
        ("Create", "{not json", "2025-03-03T17:20:00Z"),
    ]


def build(items: list[tuple[str, Any, str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    out, q = silver_entities.build_incidents(
        landed("opsgenie", rows() if items is None else items), landed("gitlab", story()), RULES, D3, D4
    )
    assert list(out.columns) == INCIDENTS_COLUMNS
    SilverIncidentsSchema.validate(out)
    return out.set_index("incident_id"), q


def test_times_are_read_by_their_magnitude_and_anchor_on_the_creation() -> None:
    assert epoch_text(1420452191104) == "2015-01-05T10:03:11.104000+00:00"  # ms (documented createdAt)
    assert epoch_text(1420452193166002000) == "2015-01-05T10:03:13.166002+00:00"  # ns (updatedAt)
    assert epoch_text(1420452191) == "2015-01-05T10:03:11+00:00" and epoch_text("x") == "x"
    close = og("Close", A1, "23", C1, "2025-03-03T10:00:00Z")
    assert anchor_value("opsgenie", "Close", close) == "2025-03-03T09:00:00+00:00"


def test_life_cycle_create_close_recreate_and_notes() -> None:
    out, _ = build()
    a1 = out.loc[f"{SHOP}#opsgenie-23"]
    assert a1["provider"] == "opsgenie" and a1["number"] == 23 and a1["title"] == "Checkout 500s"
    assert a1["opened_at"] == pd.Timestamp(C1)
    assert a1["reopened_count"] == 1 and not a1["is_open"]
    assert a1["resolved_at"] == pd.Timestamp("2025-03-03T12:00:00Z")
    assert a1["root_cause_raw"] == sha("r_a") and a1["root_cause_sha"] == sha("r_a"), "the last note wins"
    assert a1["event_day"] == D3


def test_incident_rules_repo_links_and_quarantine() -> None:
    out, q = build()
    assert sorted(out.index) == sorted(
        [f"{SHOP}#opsgenie-23", "acme/api#opsgenie-24", "acme/web#opsgenie-28"]
    )
    a2 = out.loc["acme/api#opsgenie-24"]
    assert bool(a2["is_open"]) and pd.isna(a2["resolved_at"]) and a2["reopened_count"] == 0
    assert a2["root_cause_raw"] == "abcdef1" and a2["root_cause_sha"] == "abcdef1", "unknown sha stays raw"
    a6 = out.loc["acme/web#opsgenie-28"]
    assert a6["opened_at"] == pd.Timestamp("2025-03-03T16:00:00Z") and bool(a6["is_open"])
    reasons = sorted(q["reason"])
    assert len(reasons) == 5, reasons
    assert any(
        "opsgenie alert 25 (a3)" in r and "several repos ['acme/pay', 'acme/pay-ui']" in r for r in reasons
    )
    assert any("opsgenie alert 26 (a4)" in r and "map to no repo" in r for r in reasons)
    assert "alert.alertId missing" in reasons
    assert "opsgenie alert a7: alert.createdAt missing" in reasons
    assert sum("JSON" in r or "json" in r for r in reasons) == 1, reasons


def test_short_root_cause_in_a_note_resolves_against_the_main_line() -> None:
    first_note_only = [r for r in rows() if sha("r_a") not in str(r[1])]
    out, _ = build(first_note_only)
    assert out.loc[f"{SHOP}#opsgenie-23", "root_cause_sha"] == sha("d1")


def test_no_incident_rules_means_p1_and_p2_and_the_id_never_matches_an_issue() -> None:
    from devmetrics_assets_tests.providers.gitlab.test_silver import issue_hook

    defaults = DoraRules(repo_owners=RULES.repo_owners)
    items = [
        ("Create", og("Create", "b1", "1001", C1, priority="P2", teams=["shop"]), "2025-03-03T09:00:01Z"),
        ("Create", og("Create", "b2", "1002", C1, priority="P3", teams=["shop"]), "2025-03-03T09:00:02Z"),
    ]
    gl = landed(
        "gitlab",
        [("Issue Hook", issue_hook(1001, "open", "opened", C1, kind="Incident"), "2025-03-03T09:00:01Z")],
    )
    both = pd.concat([gl, landed("opsgenie", items)], ignore_index=True)
    out, q = silver_entities.build_incidents(both, landed("gitlab", story()), defaults, D3, D4)
    # The team `shop` owns one repo (rules.yaml repos.<repo>.team); P3 is not an incident by default.
    assert sorted(out["incident_id"]) == [f"{SHOP}#1001", f"{SHOP}#opsgenie-1001"] and q.empty


def test_lineage_keys_name_the_incident_of_every_action() -> None:
    from devmetrics_assets.providers.opsgenie.lineage import lineage_keys

    note = og("AddNote", A1, "23", C1, "2025-03-03T09:20:00Z", note="hi")
    assert lineage_keys("AddNote", note) == [("incident", None, "opsgenie-23"), ("ref:opsgenie", None, A1)]
    odd = {"alert": {"alertId": "x", "tinyId": "abc"}}  # a non-numeric tinyId: Silver's stable number
    assert lineage_keys("Create", odd) == [
        ("incident", None, f"opsgenie-{id_number('abc')}"),
        ("ref:opsgenie", None, "x"),
    ]
    assert lineage_keys("Create", "not an object") == []


def test_a_reopen_action_reopens_and_leaves_the_incident_open() -> None:
    created = "2025-03-03T18:00:00Z"
    items = [
        ("Create", og("Create", "c1", "40", created, details={"repo": "acme/api"}), "2025-03-03T18:00:01Z"),
        ("Close", og("Close", "c1", "40", created, "2025-03-03T18:30:00Z"), "2025-03-03T18:30:01Z"),
        ("Reopen", og("Reopen", "c1", "40", created, "2025-03-03T19:00:00Z"), "2025-03-03T19:00:01Z"),
    ]
    out, q = build(items)
    row = out.loc["acme/api#opsgenie-40"]
    assert row["reopened_count"] == 1 and bool(row["is_open"]) and pd.isna(row["resolved_at"]) and q.empty
