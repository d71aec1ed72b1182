"""The pull tests of every provider use the same local HTTP API and fake clock as sources/pull/."""

from devmetrics_assets_tests.sources.pull.conftest import api, fake_time

__all__ = ["api", "fake_time"]
