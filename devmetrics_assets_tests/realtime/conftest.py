"""MongoDB fixtures for the real-time tests (see devmetrics_assets_tests/mongo_support.py)."""

from devmetrics_assets_tests.mongo_support import (  # noqa: F401 - pytest fixtures
    fresh_database,
    mongo_uri,
    replica_set_uri,
    secantus_rs_uri,
    secantus_standalone_uri,
)
