"""PagerDuty v3 webhook events → silver_incidents: life cycle, repo link, root cause, quarantine."""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.silver_contract import INCIDENTS_COLUMNS
from devmetrics_assets_tests.providers.gitlab.test_silver import D3, D4, SHOP, landed, story
from devmetrics_assets_tests.transforms.test_payloads import sha

RULES = DoraRules(
    repo_owners={
        SHOP: {"team": "shop", "service": "Shop Service"},
        "acme/api": {"service": "Edge"},
        "acme/web": {"service": "Edge"},
    }
)
CREATED = "2025-03-03T09:00:00Z"


def pd_event(
    event_type: str,
    pd_id: str,
    at: str,
    *,
    number: int = 1001,
    status: str = "triggered",
    service: str = "Shop Service",
    created: str = CREATED,
    event_id: str | None = None,
    custom: dict[str, str] | None = None,
    details: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pd_id,
        "type": "incident",
        "number": number,
        "status": status,
        "created_at": created,
        "title": f"Incident {pd_id}",
        "service": {"id": "PSVC", "summary": service, "type": "service_reference"},
    }
    if custom:
        data["custom_fields"] = [{"name": k, "value": v} for k, v in custom.items()]
    if details:
        data["body"] = {"type": "incident_body", "details": details}
    return {
        "event": {
            "id": event_id or f"{pd_id}-{event_type}-{at}",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": at,
            "data": data,
        }
    }


def pd_note(pd_id: str, note_id: str, content: str, at: str) -> dict[str, Any]:
    return {
        "event": {
            "id": f"ev-{note_id}",
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": at,
            "data": {
                "incident": {"id": pd_id, "type": "incident_reference"},
                "id": note_id,
                "content": content,
                "type": "incident_note",
            },
        }
    }


def rows() -> list[tuple[str, Any, str]]:
    return [
        ("incident.triggered", pd_event("incident.triggered", "P1", CREATED), "2025-03-03T09:00:01Z"),
        # the API pull copy of the same trigger (another delivery id): counted once
        (
            "incident.triggered",
            pd_event("incident.triggered", "P1", CREATED, event_id="api:1"),
            "2025-03-03T09:05:00Z",
        ),
        (
            "incident.acknowledged",
            pd_event("incident.acknowledged", "P1", "2025-03-03T09:10:00Z", status="acknowledged"),
            "2025-03-03T09:10:01Z",
        ),
        (
            "incident.annotated",
            pd_note("P1", "N1", f"root cause: {sha('d1')[:8]}", "2025-03-03T09:20:00Z"),
            "2025-03-03T09:20:01Z",
        ),
        (
            "incident.resolved",
            pd_event("incident.resolved", "P1", "2025-03-03T10:00:00Z", status="resolved"),
            "2025-03-03T10:00:01Z",
        ),
        (
            "incident.reopened",
            pd_event("incident.reopened", "P1", "2025-03-03T11:00:00Z", status="triggered"),
            "2025-03-03T11:00:01Z",
        ),
        # a later note (received two days later) still counts: the incident's life lives in its opening day
        (
            "incident.annotated",
            pd_note("P1", "N2", f"root cause: {sha('r_a')}", "2025-03-05T08:00:00Z"),
            "2025-03-05T08:00:01Z",
        ),
        (
            "incident.resolved",
            pd_event("incident.resolved", "P1", "2025-03-03T12:00:00Z", status="resolved"),
            "2025-03-03T12:00:01Z",
        ),
        # repo from an incident custom field, root cause from another custom field; still open
        (
            "incident.triggered",
            pd_event(
                "incident.triggered",
                "P2",
                "2025-03-03T13:00:00Z",
                number=1002,
                created="2025-03-03T13:00:00Z",
                service="Unmapped",
                custom={"repo": "acme/api", "root_cause": "abcdef1"},
            ),
            "2025-03-03T13:00:01Z",
        ),
        (
            "incident.triggered",
            pd_event("incident.triggered", "P3", "2025-03-03T14:00:00Z", number=1003, service="Nobody's"),
            "2025-03-03T14:00:01Z",
        ),
        (
            "incident.triggered",
            pd_event("incident.triggered", "P4", "2025-03-03T15:00:00Z", number=1004, service="edge"),
            "2025-03-03T15:00:01Z",
        ),
        (
            "incident.annotated",
            pd_note("P9", "N9", "an incident of another day", "2025-03-03T16:00:00Z"),
            "2025-03-03T16:00:01Z",
        ),
        ("incident.triggered", {"event": {"event_type": "incident.triggered"}}, "2025-03-03T17:00:00Z"),
    ]


def build() -> tuple[pd.DataFrame, pd.DataFrame]:
    out, q = silver_entities.build_incidents(landed("pagerduty", rows()), landed("gitlab", story()), RULES,
                                             D3, D4)
    assert list(out.columns) == INCIDENTS_COLUMNS
    SilverIncidentsSchema.validate(out)
    return out.set_index("incident_id"), q


def test_anchor_is_the_incident_creation_and_notes_have_none() -> None:
    assert anchor_value("pagerduty", "incident.resolved", pd_event("incident.resolved", "P1", "x")) == CREATED
    assert anchor_value("pagerduty", "incident.annotated", pd_note("P1", "N1", "hi", "x")) is None


def test_life_cycle_from_triggered_resolved_reopened_and_notes() -> None:
    out, _ = build()
    p1 = out.loc[f"{SHOP}#pagerduty-1001"]
    assert p1["opened_at"] == pd.Timestamp(CREATED) and p1["title"] == "Incident P1"
    assert p1["reopened_count"] == 1 and not p1["is_open"]
    assert p1["resolved_at"] == pd.Timestamp("2025-03-03T12:00:00Z")
    assert p1["root_cause_raw"] == sha("r_a") and p1["root_cause_sha"] == sha("r_a"), "the last note wins"


def test_repo_link_by_custom_field_and_quarantine_of_unmapped_or_ambiguous_services() -> None:
    out, q = build()
    p2 = out.loc["acme/api#pagerduty-1002"]
    assert bool(p2["is_open"]) and p2["root_cause_sha"] == "abcdef1", "unresolvable sha stays raw"
    assert sorted(out.index) == sorted(["acme/api#pagerduty-1002", f"{SHOP}#pagerduty-1001"])
    reasons = sorted(q["reason"])
    assert len(reasons) == 3
    assert "event.data missing" in reasons
    assert any("P3" in r and "maps to no repo" in r for r in reasons)
    assert any("P4" in r and "several repos" in r for r in reasons)


def test_short_root_cause_resolves_against_the_gitlab_main_line() -> None:
    only_first_note = [r for r in rows() if not (r[0] == "incident.annotated" and "N2" in str(r[1]))]
    out, _ = silver_entities.build_incidents(
        landed("pagerduty", only_first_note), landed("gitlab", story()), RULES, D3, D4
    )
    assert out.set_index("incident_id").loc[f"{SHOP}#pagerduty-1001", "root_cause_sha"] == sha("d1")


def test_incident_number_equal_to_a_gitlab_issue_is_another_incident() -> None:
    from devmetrics_assets_tests.providers.gitlab.test_silver import issue_hook

    gl = landed(
        "gitlab",
        [
            (
                "Issue Hook",
                issue_hook(1001, "open", "opened", CREATED, kind="Incident"),
                "2025-03-03T09:00:01Z",
            )
        ],
    )
    both = pd.concat([gl, landed("pagerduty", rows()[:1])], ignore_index=True)
    out, q = silver_entities.build_incidents(both, landed("gitlab", story()), RULES, D3, D4)
    # Namespaced by provider: PagerDuty #1001 and GitLab issue #1001 are two incidents, nothing collides.
    assert sorted(out["incident_id"]) == [f"{SHOP}#1001", f"{SHOP}#pagerduty-1001"] and q.empty
    assert dict(zip(out["incident_id"], out["provider"], strict=True)) == {
        f"{SHOP}#1001": "gitlab",
        f"{SHOP}#pagerduty-1001": "pagerduty",
    }
