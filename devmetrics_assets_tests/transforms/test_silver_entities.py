"""Dispatch over providers: GitHub output unchanged, mixed providers conform to one set of Silver rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pandas.testing as pdt

from devmetrics_assets.config import DoraRules
from devmetrics_assets.defs.silver_changes import compute_changes
from devmetrics_assets.defs.silver_deployments import compute_deployments
from devmetrics_assets.defs.silver_incidents import compute_incidents
from devmetrics_assets.providers.github.changes import build_silver_changes
from devmetrics_assets.providers.github.deployments import build_silver_deployments
from devmetrics_assets.providers.github.incidents import build_silver_incidents
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets.transforms import silver_entities as entities
from devmetrics_assets_tests.providers.generic.test_silver import SEARCH, dep, deployments
from devmetrics_assets_tests.providers.github import test_deployments as gh_deploy
from devmetrics_assets_tests.providers.github import test_incidents as gh_incidents
from devmetrics_assets_tests.providers.github.test_mainline import story_rows
from devmetrics_assets_tests.providers.gitlab.test_silver import (
    D3,
    D4,
    SHOP,
    gl_deploy,
    issue_hook,
    landed,
    story,
)
from devmetrics_assets_tests.providers.pagerduty.test_incidents import pd_event, pd_note
from devmetrics_assets_tests.transforms.test_payloads import bronze, sha

RULES = DoraRules(repo_owners={SHOP: {"service": "Shop Service"}, SEARCH: {"service": "Search"}})


def without_times(q: pd.DataFrame) -> pd.DataFrame:
    return (
        q.drop(columns=["first_seen_at", "last_seen_at"]).sort_values("quarantine_id").reset_index(drop=True)
    )


def test_event_types_and_split_by_provider() -> None:
    assert entities.event_types("deployments", ("github", "gitlab", "generic")) == (
        "deployment", "deployment_status", "Deployment Hook")
    assert entities.event_types("changes", ("github",)) == ("push", "pull_request", "pull_request_review")
    assert entities.event_types("mainline", ("github",)) == ("push", "pull_request")
    rows = pd.concat(
        [
            bronze([("deployment", {"x": 1})]),
            landed("generic", deployments()[:1]),
            landed("gitlab", [("Issue Hook", {}, "2025-03-03T00:00:00Z")]),
        ],
        ignore_index=True,
    )
    parts = entities.split(rows, "deployments")
    assert {k: len(v) for k, v in parts.items()} == {"github": 1, "generic": 1}
    assert entities.split(rows.drop(columns="provider"), "deployments")["github"]["event_type"].tolist() == [
        "deployment",
        "deployment",
    ], "rows without a provider column are GitHub's"


def test_github_only_output_is_what_the_github_builders_give() -> None:
    mainline = bronze(story_rows())
    deploys = bronze(gh_deploy.scenario())
    for start, end in ((D3, D4), (D4, D4 + pd.Timedelta(days=1))):
        want, want_q = build_silver_deployments(deploys, mainline, gh_deploy.RULES, start, end)
        got, got_q = entities.build_deployments(deploys, mainline, gh_deploy.RULES, start, end)
        pdt.assert_frame_equal(got, want)
        pdt.assert_frame_equal(without_times(got_q), without_times(want_q))
    want, _ = build_silver_changes(mainline, RULES, D3, D4)
    got, _ = entities.build_changes(mainline, RULES, D3, D4)
    pdt.assert_frame_equal(got, want)
    issues = bronze(gh_incidents.lifecycle())
    want, _ = build_silver_incidents(issues, mainline, gh_incidents.RULES, D3, D4)
    got, _ = entities.build_incidents(issues, mainline, gh_incidents.RULES, D3, D4)
    pdt.assert_frame_equal(got, want)
    assert (
        len(want) == 1 and len(build_silver_deployments(deploys, mainline, gh_deploy.RULES, D3, D4)[0]) == 6
    )


def test_one_repo_reported_by_several_providers_forms_one_sequence() -> None:
    """GitLab project code, GitLab AND generic deployments: the generic one is the rollback of GitLab's."""
    gl = landed(
        "gitlab",
        [
            *story(),
            (
                "Deployment Hook",
                gl_deploy(20, "success", "2025-03-03T12:00:00Z", "m1"),
                "2025-03-03T12:00:01Z",
            ),
            (
                "Deployment Hook",
                gl_deploy(21, "success", "2025-03-03T16:10:00Z", "d3"),
                "2025-03-03T16:10:01Z",
            ),
        ],
    )
    gen = landed(
        "generic",
        [
            (
                "deployment",
                dep(
                    22,
                    "success",
                    repo=SHOP,
                    label="m1",
                    created="2025-03-03T17:00:00Z",
                    finished="2025-03-03T17:05:00Z",
                ),
                "2025-03-03T17:05:01Z",
            )
        ],
    )
    rows = pd.concat([gl, gen], ignore_index=True)
    out, _ = entities.build_deployments(rows, rows, RULES, D3, D4)
    d = out.set_index("deployment_id")
    assert d.loc[f"{SHOP}:21", "commit_shas"].split(",")[-1] == sha("d3")
    assert (
        bool(d.loc[f"{SHOP}:22", "is_rollback"])
        and d.loc[f"{SHOP}:22", "previous_deployment_id"] == f"{SHOP}:21"
    )


def _to_bronze(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the shape a reader hands to Warehouse.append_bronze."""
    out = frame.drop(columns=["load_seq", "event_at", "received_day"], errors="ignore").copy()
    out["headers"] = "{}"
    out["payload_sha256"] = [hashlib.sha256(b.encode()).hexdigest() for b in out["body"]]
    out["signature_status"] = "verified"
    out["load_batch_id"] = "test"
    out["received_day"] = out["received_at"].dt.tz_localize(None).dt.floor("D").astype("datetime64[us]")
    return out


def test_layers_read_every_provider_from_a_real_duckdb_bronze(tmp_path: Path) -> None:
    rules = DoraRules(incident_labels=("incident",), repo_owners={SHOP: {"service": "Shop Service"}})
    frames = [
        landed("gitlab", story()),
        landed(
            "gitlab",
            [
                (
                    "Deployment Hook",
                    gl_deploy(31, "running", "2025-03-03T23:55:00Z", "d3"),
                    "2025-03-03T23:55:01Z",
                ),
                (
                    "Deployment Hook",
                    gl_deploy(31, "success", "2025-03-04T00:05:00Z", "d3"),
                    "2025-03-04T00:05:01Z",
                ),
                (
                    "Issue Hook",
                    issue_hook(7, "open", "opened", "2025-03-03T09:00:00Z", kind="Incident"),
                    "2025-03-03T09:00:01Z",
                ),
            ],
        ),
        landed("generic", deployments()),
        landed(
            "pagerduty",
            [
                (
                    "incident.triggered",
                    pd_event("incident.triggered", "P1", "2025-03-03T09:00:00Z"),
                    "2025-03-03T09:00:01Z",
                ),
                (
                    "incident.annotated",
                    pd_note("P1", "N1", f"root cause: {sha('d3')[:9]}", "2025-03-05T10:00:00Z"),
                    "2025-03-05T10:00:01Z",
                ),
            ],
        ),
        bronze(story_rows()),
    ]
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.append_bronze(pd.concat([_to_bronze(f) for f in frames], ignore_index=True))

    changes, _ = compute_changes(warehouse, rules, D3, D4)
    assert {c.split("#")[0].split("@")[0] for c in changes["change_id"]} == {SHOP, SEARCH, "acme/api"}
    deployments_out, _ = compute_deployments(warehouse, rules, D3, D4)
    d = deployments_out.set_index("deployment_id")
    assert d.loc[f"{SHOP}:31", "final_status"] == "success", "the status after midnight is read"
    assert d.loc[f"{SEARCH}:1", "commit_shas"] == f"{sha('c1')},{sha('c2')}"
    incidents, _ = compute_incidents(warehouse, rules, D3, D4)
    i = incidents.set_index("incident_id")
    assert sorted(i.index) == sorted([f"{SHOP}#7", f"{SHOP}#pagerduty-1001"])
    assert i.loc[f"{SHOP}#pagerduty-1001", "root_cause_sha"] == sha("d3"), (
        "a note received two days later counts"
    )
