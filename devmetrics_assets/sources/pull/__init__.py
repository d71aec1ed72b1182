"""API pull with incremental extraction: GitHub, GitLab and PagerDuty REST into Bronze (docs/api-pull.md).

Modules: http (retrying client), pagination, cursors (durable SQLite state), landing_io (landing
files), github / gitlab / pagerduty (API records → webhook-shaped bodies), reader (the reader types
`github_api`, `gitlab_api`, `pagerduty_api` registered in sources/readers.py).
"""
