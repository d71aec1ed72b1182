"""The generic JSON format's validation: what the receiver accepts is what the generic Silver parser reads."""

from __future__ import annotations

import json

import pytest

from devmetrics_assets.providers.generic.schema import delivery_id, validate

DEPLOYMENT = {"type": "deployment", "id": 4711, "repo": "acme/api", "environment": "production",
              "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8", "status": "success",
              "created_at": "2025-03-04T10:00:00Z", "finished_at": "2025-03-04T10:07:31+01:00"}
INCIDENT = {"type": "incident", "id": "INC-342", "repo": "acme/api", "status": "resolved",
            "opened_at": "2025-03-04T10:30:00Z", "resolved_at": "2025-03-04T11:05:00Z"}


@pytest.mark.parametrize("change", [
    {}, {"status": "Succeeded"}, {"status": "running", "finished_at": None}, {"repo": None, "service": "api"},
    {"repo": None, "repository": "acme/api"}, {"changes": ["9fceb02", {"sha": "abc1234", "message": "fix"}]},
    {"id": "deploy-7", "extra_field": {"kept": True}},
])
def test_valid_deployments(change):
    assert validate({**DEPLOYMENT, **change}) == ("deployment", [])


@pytest.mark.parametrize(("change", "problem"), [
    ({"status": "done"}, "status: expected one of"),
    ({"finished_at": None}, "finished_at: required when status is 'success'"),
    ({"repo": None}, "repo: required unless service"),
    ({"repo": "api"}, "repo: expected 'owner/name'"),
    ({"sha": None}, "sha: required"),
    ({"created_at": "2025-03-04 10:00"}, "created_at: expected an ISO-8601 time with a UTC offset"),
    ({"id": True}, "id: expected a non-empty text or integer"),
    ({"changes": "abc"}, "changes: expected a list"),
])
def test_invalid_deployments(change, problem):
    event_type, problems = validate({**DEPLOYMENT, **change})
    assert event_type == "deployment" and any(p.startswith(problem) for p in problems), problems


@pytest.mark.parametrize(("change", "problems"), [
    ({}, []),
    ({"status": "acknowledged", "resolved_at": None}, []),
    ({"repo": None, "service": "checkout"}, []),
    ({"opened_at": None, "created_at": "2025-03-04T10:30:00Z"}, []),
    ({"status": "closed", "resolved_at": None}, ["resolved_at: required when status is 'closed'"]),
    ({"opened_at": None}, ["opened_at: required"]),
    ({"root_cause_sha": "nope"}, ["root_cause_sha: expected a commit sha (7 to 40 hex characters)"]),
])
def test_incidents(change, problems):
    assert validate({**INCIDENT, **change}) == ("incident", problems)


def test_unknown_type_and_non_objects():
    assert validate({"type": "build"})[1] == ["type: expected one of ['deployment', 'incident'], got 'build'"]
    assert validate([1])[1] == ["body: expected a JSON object"]


def test_delivery_id_is_stable_per_state():
    assert delivery_id(DEPLOYMENT) == "generic:deployment:4711:success:2025-03-04T10:07:31+01:00"
    running = {**DEPLOYMENT, "status": "in_progress", "finished_at": None}
    assert delivery_id(running) == "generic:deployment:4711:in_progress:2025-03-04T10:00:00Z"
    assert delivery_id(INCIDENT) == "generic:incident:INC-342:resolved:2025-03-04T11:05:00Z"


def test_huge_and_deep_values_are_judged_at_the_top_and_quoted_short():
    """What bounded_json lets through (128 levels, megabytes) is validated without recursion and quoted
    back in a few dozen characters, so the 400, the log line and the rejects log stay small."""
    deep = json.loads("[" * 128 + "]" * 128)
    record = {**DEPLOYMENT, "status": deep, "sha": "a" * 1_000_000, "changes": [deep] * 10_000,
              "description": {"nested": deep}, "extra": deep}
    event_type, problems = validate(record)
    assert event_type == "deployment"
    assert [p.split(":")[0] for p in problems] == ["sha", "status", "description", "changes"]
    assert all(len(p) < 400 for p in problems), problems
    assert validate({"type": "x" * 1_000_000})[1][0].endswith("...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'")
