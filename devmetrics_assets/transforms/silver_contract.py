"""The conformed Silver contract: the three entities every provider maps to, with their dtypes.

Every provider folder (providers/<name>/) maps its payloads to these shapes, and
transforms/silver_entities.py merges the providers' rows into one table per entity. The rules that give
each column its meaning are in docs/contracts.md (§2 changes, §4 deployments, §5 shipping and rollbacks,
§6 other providers); the pandera schemas in checks/silver_schemas.py check the same columns.

- silver_changes: one row per change that landed on a default branch: a merged pull/merge request
  (`<repo>#<number>`) or a direct commit (`<repo>@<sha>`), partitioned by landing day (`event_day`).
  `first_commit_at` starts the lead time; `opened_at` and `first_review_at` split it into stages;
  `fixes_issues` lists the issues it closes and `is_hotfix` whether one of them is an incident.
- silver_deployments: one row per deployment (`<repo>:<id>`), partitioned by creation day, with its
  final status, whether production, its release and rollback facts and the changes it shipped
  (`change_ids`, `commit_shas`); `changes_known` says whether its sha is on the main line.
- silver_incidents: one row per incident (`<repo>#<number>` for issue trackers,
  `<repo>#<provider>-<number>` otherwise), partitioned by opening day, with its life cycle and the
  root-cause commit it names.
"""

from __future__ import annotations

from devmetrics_assets.transforms.payloads import DAY_DTYPE, UTC_DTYPE

CHANGES_DTYPES: dict[str, str] = {
    "change_id": "str",
    "repo": "str",
    "kind": "str",
    "pr_number": "Int64",
    "merge_method": "str",
    "head_sha": "str",
    "commit_shas": "str",
    "first_commit_at": UTC_DTYPE,
    "landed_at": UTC_DTYPE,
    "opened_at": UTC_DTYPE,
    "first_review_at": UTC_DTYPE,
    "fixes_issues": "str",
    "is_hotfix": "bool",
    "reverted_change_ids": "str",
    "mainline_pushed_at": UTC_DTYPE,
    "mainline_pos": "Int64",
    "event_day": DAY_DTYPE,
}


CHANGES_COLUMNS = list(CHANGES_DTYPES)

DEPLOYMENTS_DTYPES: dict[str, str] = {
    "deployment_id": "str",
    "repo": "str",
    "environment": "str",
    "is_production": "bool",
    "sha": "str",
    "created_at": UTC_DTYPE,
    "finished_at": UTC_DTYPE,
    "final_status": "str",
    "status_count": "int64",
    "is_rollback": "bool",
    "previous_deployment_id": "str",
    "release_id": "str",
    "is_baseline": "bool",
    "undoes_deployment_id": "str",
    "change_ids": "str",
    "commit_shas": "str",
    "changes_known": "bool",
    "event_day": DAY_DTYPE,
}


DEPLOYMENTS_COLUMNS = list(DEPLOYMENTS_DTYPES)

INCIDENTS_DTYPES: dict[str, str] = {
    "incident_id": "str",
    "repo": "str",
    "provider": "str",
    "number": "int64",
    "title": "str",
    "opened_at": UTC_DTYPE,
    "resolved_at": UTC_DTYPE,
    "reopened_count": "int64",
    "is_open": "bool",
    "root_cause_raw": "str",
    "root_cause_sha": "str",
    "event_day": DAY_DTYPE,
}


INCIDENTS_COLUMNS = list(INCIDENTS_DTYPES)
