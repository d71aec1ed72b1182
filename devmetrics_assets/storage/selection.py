"""Choose the storage backend from configuration: MongoDB when MONGODB_URI is set, else DuckDB.

One rule for every entry point, so the assets, the loaders, the CLI and the real-time watcher read
and write the same warehouse:
- `storage_resources(settings)`: the {io_manager, warehouse} resources for `Definitions`. With
  MongoDB the URI is passed as `dg.EnvVar("MONGODB_URI")`, so credentials are resolved at run time
  and never stored in run config or shown in the UI.
- `open_storage(settings)`: a `Storage` for code outside Dagster (loaders, CLI, watcher). No Dagster
  import at module level, so notebooks stay cheap.

MONGODB_DATABASE names the database (default `devmetrics`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from devmetrics_assets.config import Settings
from devmetrics_assets.storage.backend import Storage

MONGODB_URI_ENV = "MONGODB_URI"
MONGODB_DATABASE_ENV = "MONGODB_DATABASE"
DEFAULT_DATABASE = "devmetrics"
DUCKDB = "duckdb"
MONGODB = "mongodb"


def storage_kind(environ: Mapping[str, str] | None = None) -> str:
    """`mongodb` when MONGODB_URI is set (non-empty), else `duckdb`."""
    env = os.environ if environ is None else environ
    return MONGODB if env.get(MONGODB_URI_ENV, "").strip() else DUCKDB


def mongo_database(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(MONGODB_DATABASE_ENV, "").strip() or DEFAULT_DATABASE


def open_storage(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> Storage:
    """The configured warehouse as a `Storage` (MongoWarehouse or the DuckDB Warehouse)."""
    env = os.environ if environ is None else environ
    if storage_kind(env) == MONGODB:
        from devmetrics_assets.storage.mongo import MongoWarehouse

        return MongoWarehouse(env[MONGODB_URI_ENV].strip(), mongo_database(env))
    from devmetrics_assets.storage.warehouse import Warehouse

    return Warehouse((settings or Settings.from_env()).warehouse_path)


class StorageUnreachableError(RuntimeError):
    """The configured warehouse cannot be reached; the message says which setting to fix."""


def check_reachable(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> None:
    """Fail fast, in one line, when the configured warehouse cannot be used (before anything is written)."""
    env = os.environ if environ is None else environ
    if storage_kind(env) == MONGODB:
        from pymongo.errors import ConfigurationError, InvalidURI, PyMongoError

        from devmetrics_assets.storage.mongo import shared_client
        from devmetrics_assets.storage.mongo_guards import redact_uri

        uri = env[MONGODB_URI_ENV].strip()
        try:
            shared_client(uri).admin.command("ping")
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise StorageUnreachableError(f"{MONGODB_URI_ENV} is not a valid MongoDB URI: {exc}") from None
        except PyMongoError as exc:
            reason = str(exc).split(",")[0].split("\n")[0][:200]
            raise StorageUnreachableError(
                f"{MONGODB_URI_ENV}: cannot reach {redact_uri(uri)} ({type(exc).__name__}: {reason}); check "
                "the host, port and credentials, or unset MONGODB_URI to use the DuckDB file") from None
        return
    folder = (settings or Settings.from_env()).warehouse_path.parent
    if folder.exists() and not os.access(folder, os.W_OK):
        raise StorageUnreachableError(f"DEVMETRICS_WAREHOUSE: folder {folder} is not writable")


def describe_storage(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Where the warehouse is, without credentials (for CLI and log messages)."""
    env = os.environ if environ is None else environ
    if storage_kind(env) == MONGODB:
        from devmetrics_assets.storage.mongo_guards import redact_uri

        return f"MongoDB {redact_uri(env[MONGODB_URI_ENV].strip())} (database {mongo_database(env)})"
    return f"DuckDB file {(settings or Settings.from_env()).warehouse_path}"


def storage_resources(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """{"io_manager": ..., "warehouse": ...} for `dg.Definitions(resources=...)`."""
    import dagster as dg

    from devmetrics_assets.storage.io_manager import (
        DuckDBPartitionIOManager,
        MongoPartitionIOManager,
        MongoWarehouseResource,
        WarehouseResource,
    )

    env = os.environ if environ is None else environ
    if storage_kind(env) == MONGODB:
        database = mongo_database(env)
        return {
            "io_manager": MongoPartitionIOManager(uri=dg.EnvVar(MONGODB_URI_ENV), database=database),
            "warehouse": MongoWarehouseResource(uri=dg.EnvVar(MONGODB_URI_ENV), database=database),
        }
    path = str((settings or Settings.from_env()).warehouse_path)
    return {"io_manager": DuckDBPartitionIOManager(path=path), "warehouse": WarehouseResource(path=path)}
