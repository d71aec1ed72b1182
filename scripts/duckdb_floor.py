"""The benchmark's floor: a hand-written pure DuckDB SQL pipeline, no Dagster, no pandas transforms.

It reads the same JSONL files, verifies each delivery's HMAC signature in SQL (HMAC-SHA256 built
from DuckDB's sha256), drops redeliveries, and computes the Gold COUNTS per repo and day:
production deployments, failed deploy attempts and incidents opened. It is the lower bound of
what the work costs on this machine; it does not compute lead times, failures or recovery.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from devmetrics_assets.config import load_rules
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET

SQL = r"""
WITH lines AS (
    SELECT line FROM read_csv($files, columns = {'line': 'VARCHAR'}, header = false, delim = '\x01',
                              quote = '', escape = '', max_line_size = 16777216)
), envelopes AS (
    SELECT json_extract_string(line, '$.delivery_id') AS delivery_id,
           json_extract_string(line, '$.headers."X-GitHub-Event"') AS event,
           json_extract_string(line, '$.headers."X-Hub-Signature-256"') AS signature,
           json_extract_string(line, '$.received_at')::TIMESTAMPTZ AS received_at,
           json_extract(line, '$.body')::VARCHAR AS body
    FROM lines WHERE json_valid(line)
), verified AS (
    SELECT * FROM envelopes
    WHERE signature = 'sha256=' || sha256(unhex($opad) || unhex(sha256(unhex($ipad) || encode(body))))
), deliveries AS (
    SELECT DISTINCT ON (delivery_id) * FROM verified ORDER BY delivery_id, received_at
), statuses AS (
    SELECT json_extract_string(body, '$.repository.full_name') AS repo,
           json_extract_string(body, '$.deployment.id') AS deployment_id,
           lower(json_extract_string(body, '$.deployment.environment')) AS environment,
           (json_extract_string(body, '$.deployment.created_at')::TIMESTAMPTZ
               AT TIME ZONE 'UTC')::DATE AS day,
           json_extract_string(body, '$.deployment_status.state') AS state,
           json_extract_string(body, '$.deployment_status.created_at')::TIMESTAMPTZ AS status_at,
           json_extract(body, '$.deployment_status.id')::BIGINT AS status_id
    FROM deliveries WHERE event = 'deployment_status'
), final AS (
    SELECT DISTINCT ON (repo, deployment_id) repo, deployment_id, environment, day, state
    FROM statuses WHERE state IN ('success', 'failure', 'error')
    ORDER BY repo, deployment_id, status_at DESC, status_id DESC
), deployments AS (
    SELECT repo, day,
           count(*) FILTER (WHERE state = 'success') AS deployments,
           count(*) FILTER (WHERE state IN ('failure', 'error')) AS failed_deploy_attempts
    FROM final WHERE list_contains($production, environment) GROUP BY ALL
), incidents AS (
    SELECT repo, day, count(DISTINCT number) AS incidents_opened FROM (
        SELECT json_extract_string(body, '$.repository.full_name') AS repo,
               json_extract(body, '$.issue.number')::BIGINT AS number,
               (json_extract_string(body, '$.issue.created_at')::TIMESTAMPTZ AT TIME ZONE 'UTC')::DATE AS day,
               unnest(json_extract_string(body, '$.issue.labels[*].name')) AS label
        FROM deliveries WHERE event IN ('issues', 'issue_comment')
    ) WHERE list_contains($labels, lower(label)) GROUP BY ALL
)
SELECT coalesce(d.repo, i.repo) AS repo, coalesce(d.day, i.day) AS day,
       coalesce(deployments, 0) AS deployments, coalesce(failed_deploy_attempts, 0) AS failed_deploy_attempts,
       coalesce(incidents_opened, 0) AS incidents_opened
FROM deployments d FULL OUTER JOIN incidents i ON d.repo = i.repo AND d.day = i.day
ORDER BY repo, day
"""


def _pads(secret: str) -> tuple[str, str]:
    key = secret.encode("utf-8")
    key = key.ljust(64, b"\0")  # secrets longer than the block size would be hashed first; ours is short
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def floor_counts(generated: Path, secret: str = SAMPLE_WEBHOOK_SECRET) -> pd.DataFrame:
    rules = load_rules(generated / "rules.yaml")
    ipad, opad = _pads(secret)
    files = [str(p) for p in sorted((generated / "deliveries").glob("*.jsonl"))]
    with duckdb.connect() as con:
        return con.execute(SQL, {
            "files": files, "ipad": ipad, "opad": opad,
            "production": [e.lower() for e in rules.production_environments],
            "labels": [label.lower() for label in rules.incident_labels],
        }).df()
