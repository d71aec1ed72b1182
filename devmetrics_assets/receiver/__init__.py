"""Webhook receiver: GitHub, GitLab, PagerDuty and generic deliveries landed durably for Bronze.

Start it with `python -m devmetrics_assets.receiver --sources sources.yaml --port 8787`
(docs/sources.md). The app itself is `create_app(load_sources(...))`, served by uvicorn with the
configuration of server.py, which closes connections whose request head does not arrive within
`--header-timeout` (the app answers 408 to a body that does not arrive within `--body-timeout`).
"""

from devmetrics_assets.receiver.app import ReceiverConfigError, create_app

__all__ = ["ReceiverConfigError", "create_app"]
