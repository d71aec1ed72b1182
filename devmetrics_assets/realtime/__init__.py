"""Real-time alerting: follow newly stored deliveries and notify about what matters now.

Start it with `python -m devmetrics_assets.realtime` (see watcher.py and docs/mongodb.md).
"""
