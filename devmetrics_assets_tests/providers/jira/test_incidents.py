"""Jira issue webhooks and pulled issues → silver_incidents: which issues, life cycle, repo, root cause,
deletion and quarantine, with hand-computed rows (fixtures.py names the documented payload shapes)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from devmetrics_assets.checks.silver_schemas import SilverIncidentsSchema
from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.jira.lineage import lineage_keys
from devmetrics_assets.providers.jira.pull import as_delivery
from devmetrics_assets.sources.pull.records import PullResult
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.anchors import anchor_value
from devmetrics_assets.transforms.lineage import lineage
from devmetrics_assets.transforms.silver_contract import INCIDENTS_COLUMNS
from devmetrics_assets_tests.providers.gitlab.test_silver import D3, D4, SHOP, landed, story
from devmetrics_assets_tests.providers.jira.fixtures import (
    adf,
    comment,
    history,
    issue,
    jira_time,
    status_item,
    webhook,
    with_changelog,
)
from devmetrics_assets_tests.transforms.test_payloads import sha

JIRA = {
    "issue_types": ["Incident"],
    "priorities": ["Highest"],
    "components": {"Checkout": SHOP},
    "repo_field": "customfield_10060",
    "root_cause_field": "customfield_10050",
}
RULES = DoraRules(
    repo_owners={SHOP: {"service": "Shop Service"}, "acme/api": {"service": "Edge"},
                 "acme/web": {"service": "Edge"}},
    provider_rules={"jira": JIRA},
)
C1 = "2025-03-03T09:00:00Z"
C7 = "2025-03-03T13:00:00Z"


def pulled(the_issue: dict) -> dict[str, Any]:
    delivery = as_delivery(the_issue, "OPS", PullResult())
    assert delivery is not None
    return delivery.body


def hook(event: str, at: str, the_issue: dict, **kw: Any) -> tuple[str, Any, str]:
    """A webhook delivery received one second after its event."""
    got = (pd.Timestamp(at) + pd.Timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event, webhook(event, at, the_issue, **kw), got


def rows() -> list[tuple[str, Any, str]]:
    i1 = {"components": ["Checkout"], "description": "Checkout is down"}
    rc = comment(20001, f"root cause: {sha('d1')[:8]}", "2025-03-03T09:30:00Z")
    i2 = {"issue_type": "Bug", "labels": ["incident"], "description": adf("root cause: 1234567"),
          "extra": {"customfield_10060": "acme/api", "customfield_10050": "abcdef1"}}
    i7 = with_changelog(
        issue(10007, C7, "Done", components=["Checkout"], resolved="2025-03-03T15:00:00Z",
              updated="2025-03-03T15:00:00Z", description=adf(f"Timeouts\nroot cause: {sha('d2')}")),
        [history(1, "2025-03-03T13:30:00Z", "To Do", "Done"),
         # no snapshot shows `Reopened`, and the rules do not call it done: not done
         history(2, "2025-03-03T14:00:00Z", "Done", "Reopened"),
         history(3, "2025-03-03T15:00:00Z", "Reopened", "Done")],
    )
    created, updated = "jira:issue_created", "jira:issue_updated"
    t10, t11, t12 = "2025-03-03T10:00:00Z", "2025-03-03T11:00:00Z", "2025-03-03T12:00:00Z"
    odd = issue(10010, C1)
    odd["fields"]["status"] = {"name": "Odd"}
    return [
        # OPS-1: created, a root-cause comment, resolved, reopened, resolved again (webhooks only)
        hook(created, C1, issue(10001, C1, **i1)),
        hook(updated, "2025-03-03T09:30:00Z", issue(10001, C1, updated="2025-03-03T09:30:00Z", **i1),
             top_comment=rc),
        hook(updated, t10, issue(10001, C1, "Done", resolved=t10, updated=t10, comments=[rc], **i1),
             changelog=[status_item("To Do", "Done")]),
        hook(updated, t11, issue(10001, C1, "In Progress", updated=t11, comments=[rc], **i1),
             changelog=[status_item("Done", "In Progress")]),
        hook(updated, t12, issue(10001, C1, "Done", resolved=t12, updated=t12, comments=[rc], **i1),
             changelog=[status_item("In Progress", "Done")]),
        # OPS-2: a labelled Bug; repo and root cause from the configured fields (the field beats the text)
        hook(created, "2025-03-03T09:10:00Z", issue(10002, "2025-03-03T09:10:00Z", **i2)),
        # OPS-3: priority Highest makes a Task an incident; its component names a service of two repos
        hook(created, "2025-03-03T09:20:00Z", issue(10003, "2025-03-03T09:20:00Z", issue_type="Task",
                                                    priority="Highest", components=["Edge"])),
        # OPS-4: an incident whose component maps to nothing
        hook(created, "2025-03-03T09:40:00Z", issue(10004, "2025-03-03T09:40:00Z", components=["Printers"])),
        # OPS-5: a Story is no incident: no row, no quarantine
        hook(created, "2025-03-03T09:50:00Z", issue(10005, "2025-03-03T09:50:00Z", issue_type="Story",
                                                    components=["Checkout"])),
        # OPS-6: created then deleted in Jira: withdrawn, no row
        hook(created, "2025-03-03T10:10:00Z", issue(10006, "2025-03-03T10:10:00Z", components=["Checkout"])),
        hook("jira:issue_deleted", "2025-03-03T10:20:00Z",
             issue(10006, "2025-03-03T10:10:00Z", components=["Checkout"])),
        # OPS-7: pulled once after the fact: its changelog carries the resolve / reopen / resolve
        (updated, pulled(i7), "2025-03-03T15:00:00Z"),
        # OPS-8: opened the next day: another partition
        hook(created, "2025-03-04T08:00:00Z", issue(10008, "2025-03-04T08:00:00Z", components=["Checkout"])),
        # unusable deliveries
        (updated, {"webhookEvent": updated, "timestamp": 1,
                   "issue": {"key": "OPS-9", "fields": {"created": jira_time(C1)}}}, "2025-03-03T16:00:00Z"),
        hook(updated, "2025-03-03T16:10:00Z", odd),
    ]


def build(data: list[tuple[str, Any, str]] | None = None,
          rules: DoraRules = RULES) -> tuple[pd.DataFrame, pd.DataFrame]:
    out, q = silver_entities.build_incidents(landed("jira", data or rows()), landed("gitlab", story()), rules,
                                             D3, D4)
    assert list(out.columns) == INCIDENTS_COLUMNS
    SilverIncidentsSchema.validate(out)
    return out.set_index("incident_id"), q


def test_anchor_is_the_issue_creation_time() -> None:
    body = webhook("jira:issue_updated", "2025-03-05T10:00:00Z", issue(10001, C1))
    assert anchor_value("jira", "jira:issue_updated", body) == "2025-03-03T09:00:00.000+0000"
    assert anchor_value("jira", "jira:issue_deleted", {"webhookEvent": "jira:issue_deleted"}) is None


def test_exactly_the_incidents_opened_in_the_window_with_repo_qualified_ids() -> None:
    out, _ = build()
    assert sorted(out.index) == sorted(["acme/api#jira-10002", f"{SHOP}#jira-10001", f"{SHOP}#jira-10007"])
    assert set(out["provider"]) == {"jira"}


def test_webhook_life_cycle_resolve_reopen_resolve_and_root_cause_from_a_comment() -> None:
    out, _ = build()
    ops1 = out.loc[f"{SHOP}#jira-10001"]
    assert ops1["number"] == 10001 and ops1["title"] == "Incident 10001"
    assert ops1["opened_at"] == pd.Timestamp(C1)
    assert ops1["resolved_at"] == pd.Timestamp("2025-03-03T12:00:00Z") and not ops1["is_open"]
    assert ops1["reopened_count"] == 1
    # the comment names an 8-character sha; the main line (GitLab story) resolves it
    assert ops1["root_cause_raw"] == sha("d1")[:8] and ops1["root_cause_sha"] == sha("d1")


def test_pulled_issue_life_cycle_comes_from_its_changelog() -> None:
    out, _ = build()
    ops7 = out.loc[f"{SHOP}#jira-10007"]
    assert ops7["opened_at"] == pd.Timestamp(C7)
    assert ops7["resolved_at"] == pd.Timestamp("2025-03-03T15:00:00Z") and ops7["reopened_count"] == 1
    assert ops7["root_cause_sha"] == sha("d2"), "an ADF description is read as text"


def test_fields_configured_for_repo_and_root_cause_win() -> None:
    out, _ = build()
    ops2 = out.loc["acme/api#jira-10002"]
    assert ops2["is_open"] and pd.isna(ops2["resolved_at"]) and ops2["reopened_count"] == 0
    assert ops2["root_cause_raw"] == "abcdef1", "the root-cause field beats the description's text"


def test_unmapped_ambiguous_and_malformed_deliveries_are_quarantined_with_reasons() -> None:
    _, q = build()
    reasons = sorted(q["reason"])
    assert len(reasons) == 4, reasons
    assert any(r.startswith("jira issue 10003: ") and "several repos" in r for r in reasons)
    assert any(r.startswith("jira issue 10004: maps to no repo") and "Printers" in r for r in reasons)
    assert "issue.id missing or not a numeric Jira issue id" in reasons
    assert "issue.fields.status.statusCategory.key missing" in reasons


def test_default_rules_read_incident_issue_types_and_the_global_labels() -> None:
    rules = DoraRules(repo_owners={SHOP: {"service": "Checkout"}})  # no providers.jira block
    out, q = build(rules=rules)
    # OPS-1 and OPS-7 (type Incident, component = the service of SHOP); OPS-2 is labelled `incident` but
    # names no repo without the configured field; OPS-3 (priority only) is no incident now.
    assert sorted(out.index) == [f"{SHOP}#jira-10001", f"{SHOP}#jira-10007"]
    assert any(r.startswith("jira issue 10002: maps to no repo") for r in q["reason"])
    assert not any("10003" in r for r in q["reason"])


@pytest.mark.parametrize("event", ["jira:issue_updated", "jira:issue_created"])
def test_a_redelivered_snapshot_changes_nothing(event: str) -> None:
    again = rows() + [(event, webhook(event, "2025-03-03T10:00:00Z",
                                      issue(10001, C1, "Done", resolved="2025-03-03T10:00:00Z",
                                            components=["Checkout"])), "2025-03-03T18:00:00Z")]
    out, _ = build(again)
    pd.testing.assert_frame_equal(out, build()[0])


def test_lineage_links_an_incident_to_every_delivery_of_its_issue() -> None:
    bronze = pd.DataFrame([
        {"delivery_id": f"d{i}", "provider": "jira", "event_type": event, "body": json.dumps(body),
         "load_seq": i}
        for i, (event, body, _) in enumerate(rows()[:5] + rows()[9:11])
    ])
    assert lineage_keys("jira:issue_updated", json.loads(bronze["body"].iloc[0])) == [
        ("incident", None, "jira-10001")]
    incidents = pd.DataFrame({"incident_id": [f"{SHOP}#jira-10001", "acme/api#jira-10006", f"{SHOP}#10001"]})
    # Jira names no repo: the issue id matches in any repo; a GitHub-style `#10001` is another incident.
    assert lineage("incidents", incidents, bronze).tolist() == ["d0,d1,d2,d3,d4", "d5,d6", ""]
