"""MongoDB fixtures for the checks' backend-equality tests (see devmetrics_assets_tests/mongo_support.py)."""

from devmetrics_assets_tests.mongo_support import (  # noqa: F401 - pytest fixtures
    fresh_database,
    secantus_rs_uri,
)
