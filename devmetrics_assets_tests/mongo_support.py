"""MongoDB servers for the `mongo` tests: SecantusDB in process, and a real MongoDB when configured.

Every `mongo_uri` test runs against
- SecantusDB as a one-node replica set (transactions and change streams available),
- SecantusDB as a standalone server (the write-then-swap path; our guards refuse transactions and
  change streams there, as real MongoDB does),
- a real MongoDB when `MONGODB_URI` is set (skipped otherwise, with the reason shown by `-ra`).

SecantusDB (`secantusdb` on PyPI, GPL-2.0, beta) is a test-only dependency: the `dev` extra.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

SECANTUS_RS = "secantus-replica-set"
SECANTUS_STANDALONE = "secantus-standalone"
REAL = "real-mongodb"
VARIANTS = (SECANTUS_RS, SECANTUS_STANDALONE, REAL)


@contextmanager
def secantus_server(replica_set: bool) -> Iterator[str]:
    """Start SecantusDB on 127.0.0.1 (free port, in memory); yields its connection URI."""
    secantus = pytest.importorskip(
        "secantus", reason="secantusdb is not installed (test-only: pip install -e '.[dev]')")
    server = secantus.SecantusDBServer(host="127.0.0.1", port=0, storage_path=":memory:",
                                       replica_set_name="rs0" if replica_set else None)
    server.start()
    try:
        host, port = server.address
        yield f"mongodb://{host}:{port}/" + ("?replicaSet=rs0" if replica_set else "")
    finally:
        server.stop()


def real_mongodb_uri() -> str:
    uri = os.environ.get("MONGODB_URI", "").strip()
    if not uri:
        pytest.skip("MONGODB_URI is not set: the real-MongoDB variant is skipped")
    return uri


@pytest.fixture(scope="session")
def secantus_rs_uri() -> Iterator[str]:
    with secantus_server(replica_set=True) as uri:
        yield uri


@pytest.fixture(scope="session")
def secantus_standalone_uri() -> Iterator[str]:
    with secantus_server(replica_set=False) as uri:
        yield uri


@pytest.fixture(params=VARIANTS)
def mongo_uri(request: pytest.FixtureRequest) -> str:
    if request.param == REAL:
        return real_mongodb_uri()
    name = "secantus_rs_uri" if request.param == SECANTUS_RS else "secantus_standalone_uri"
    return request.getfixturevalue(name)


@pytest.fixture(params=(SECANTUS_RS, REAL))
def replica_set_uri(request: pytest.FixtureRequest) -> str:
    """Deployments with change streams and transactions (a real MongoDB must be a replica set)."""
    if request.param == REAL:
        uri = real_mongodb_uri()
        from devmetrics_assets.storage.mongo import shared_client
        from devmetrics_assets.storage.mongo_guards import STANDALONE, deployment_kind

        if deployment_kind(shared_client(uri)) == STANDALONE:
            pytest.skip("MONGODB_URI is a standalone server: replica-set features are tested on SecantusDB")
        return uri
    return request.getfixturevalue("secantus_rs_uri")


@pytest.fixture
def fresh_database() -> Iterator[Callable[[str], str]]:
    """make(uri) -> a new database name on that server; every one is dropped afterwards."""
    created: list[tuple[str, str]] = []

    def make(uri: str) -> str:
        name = f"devmetrics_test_{uuid.uuid4().hex[:12]}"
        created.append((uri, name))
        return name

    yield make
    from devmetrics_assets.storage.mongo import shared_client

    for uri, name in created:
        shared_client(uri).drop_database(name)


def copy_to_mongo(duck, uri: str, database: str, partitioned: dict[str, tuple[str, object, object]]):
    """A MongoWarehouse holding what the DuckDB `duck` holds: its Bronze deliveries, and each table of
    `partitioned` (name -> (partition column, start, end)) written for that window."""
    from devmetrics_assets.storage.mongo import MongoWarehouse
    from devmetrics_assets.storage.tables import BRONZE_TABLE

    mongo = MongoWarehouse(uri, database)
    mongo.append_bronze(duck.read_table(BRONZE_TABLE).sort_values("load_seq", ignore_index=True))
    for table, (column, start, end) in partitioned.items():
        mongo.replace_partition(table, duck.read_table(table), column, start, end)
    return mongo
