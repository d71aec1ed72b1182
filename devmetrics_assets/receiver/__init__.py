"""Webhook receiver: GitHub, GitLab, PagerDuty and generic deliveries landed durably for Bronze.

Start it with `python -m devmetrics_assets.receiver --sources sources.yaml --port 8787`
(docs/sources.md). The app itself is `create_app(load_sources(...))`, served by uvicorn.
"""

from devmetrics_assets.receiver.app import ReceiverConfigError, create_app

__all__ = ["ReceiverConfigError", "create_app"]
