"""What the MongoDB deployment can do, and clear refusals where real MongoDB would fail obscurely.

Real MongoDB rules we rely on (docs/mongodb.md):
- multi-document transactions and change streams need a replica set or a sharded cluster; a
  standalone `mongod` refuses them (some protocol-compatible test servers accept them, so we refuse
  ourselves instead of trusting the server);
- change streams cannot be opened on time-series collections;
- time-series collections cannot be written inside transactions, and their measurements can only be
  deleted by metaField filters before MongoDB 7.0, so Gold is replaced by versioned writes instead.

No Dagster import: the loaders and the real-time watcher use these too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database

T = TypeVar("T")
STANDALONE = "standalone"
REPLICA_SET = "replica_set"
SHARDED = "sharded"


class MongoDeploymentError(RuntimeError):
    """The MongoDB deployment cannot do what was asked (see docs/mongodb.md for the set-up)."""


def redact_uri(uri: str) -> str:
    """The URI without user:password, safe for logs, errors and the UI."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "mongodb://<unparseable uri>"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def deployment_kind(client: MongoClient) -> str:
    """standalone | replica_set | sharded, from the server's `hello` answer."""
    hello: dict[str, Any] = client.admin.command("hello")
    if hello.get("msg") == "isdbgrid":
        return SHARDED
    if hello.get("setName"):
        return REPLICA_SET
    return STANDALONE


def supports_transactions(kind: str) -> bool:
    return kind in (REPLICA_SET, SHARDED)


def require_replica_set(kind: str, feature: str, where: str) -> None:
    """Refuse `feature` (transactions, change streams) on a standalone server with a useful message."""
    if not supports_transactions(kind):
        raise MongoDeploymentError(
            f"{feature} need a replica set or a sharded cluster, but {where} is a standalone server. "
            "Start mongod with --replSet rs0 and run rs.initiate() once (a one-node replica set is "
            "enough), or use MongoDB Atlas; see docs/mongodb.md."
        )


def is_time_series(db: Database, name: str) -> bool:
    """True when the collection was created as a time-series collection."""
    for info in db.list_collections(filter={"name": name}):
        return info.get("type") == "timeseries" or "timeseries" in (info.get("options") or {})
    return False


@contextmanager
def transaction(client: MongoClient, kind: str, where: str) -> Iterator[ClientSession]:
    """A session with a started transaction (committed on exit, aborted on error); refused on standalone."""
    require_replica_set(kind, "Multi-document transactions", where)
    with client.start_session() as session, session.start_transaction():
        yield session


def run_transaction(client: MongoClient, kind: str, where: str, work: Callable[[ClientSession], T]) -> T:
    """work(session) in a transaction, retried by the driver on transient errors (write conflicts,
    elections): `work` must only write through `session`. Refused on standalone."""
    require_replica_set(kind, "Multi-document transactions", where)
    with client.start_session() as session:
        return session.with_transaction(work)


def guard_transaction_target(db: Database, name: str) -> None:
    """Time-series collections cannot be written inside a transaction on real MongoDB."""
    if is_time_series(db, name):
        raise MongoDeploymentError(
            f"{db.name}.{name} is a time-series collection: MongoDB does not allow writing it inside a "
            "transaction; it is replaced by versioned writes instead (storage/mongo.py)."
        )


def watch_collection(
    collection: Collection, kind: str, where: str, **kwargs: Any
):  # -> pymongo ChangeStream
    """`collection.watch(**kwargs)` after checking what real MongoDB requires of change streams."""
    require_replica_set(kind, "Change streams", where)
    if is_time_series(collection.database, collection.name):
        raise MongoDeploymentError(
            f"{collection.full_name} is a time-series collection: MongoDB does not support change "
            "streams on time-series collections. Watch the raw events collection (bronze_deliveries) "
            "instead."
        )
    return collection.watch(**kwargs)
