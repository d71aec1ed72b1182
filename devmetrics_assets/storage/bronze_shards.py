"""Bronze split into repo shards, so Silver holds one shard's history in memory, not the whole warehouse's.

A Silver day needs the history before it (the main line, earlier deployments, a PR's feature-branch
pushes), and all of that history is per repository. So instead of slicing by time, which would still
read the whole history for the last slice, Silver is computed per shard of repositories: every Bronze
row of a repo lands in the same shard, and the shard count grows with the number of stored deliveries
(`max_deliveries` per shard), so the memory a shard needs does not grow with the window's length.

Only providers whose every payload names its repository at one JSON path are sharded (REPO_PATHS); a
warehouse holding any other provider (PagerDuty maps services to repos through the rules, generic
deployments name services) is read in one pass, exactly as before. Rows without a repo (unparseable
bodies, quarantined anyway) all go to one shard. DuckDB only; other backends are read in one pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.storage import tables as T
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.frames import TimeLike
from devmetrics_assets.storage.warehouse import BRONZE_READ_COLUMNS, Warehouse, bronze_kinds_sql

# Provider -> the JSON path of the repository every one of its deliveries carries.
REPO_PATHS = {"github": "$.repository.full_name"}
# Deliveries per shard: a shard's Silver work took about 400 MB at the sample org's delivery size
# (docs/benchmark.md). DEVMETRICS_SHARD_DELIVERIES overrides it (experiments, equivalence runs).
SHARD_DELIVERIES = int(os.environ.get("DEVMETRICS_SHARD_DELIVERIES", "100000"))
# The latest plan: the three Silver models of a run ask for the same one (Bronze is append-only, so the
# row count and the newest load_seq identify its content).
_LATEST: dict[tuple, list[np.ndarray] | None] = {}


def shard_plan(storage: Storage, max_deliveries: int = SHARD_DELIVERIES) -> list[np.ndarray] | None:
    """The load_seq values of each shard's Bronze rows, or None when one pass is right (small enough,
    not DuckDB, or a provider without a repo path)."""
    if not isinstance(storage, Warehouse) or not storage.table_exists(T.BRONZE_TABLE):
        return None
    counts = storage.query(f"SELECT provider, count(*) AS n FROM {T.BRONZE_TABLE} GROUP BY provider")
    if not set(counts["provider"]) <= set(REPO_PATHS):
        return None
    shards = math.ceil(int(counts["n"].sum()) / max_deliveries)
    if shards <= 1:
        return None
    total = int(counts["n"].sum())
    memo = (str(storage.path), storage.path.stat().st_ino, total, storage.max_load_seq(), shards)
    if memo not in _LATEST:
        _LATEST.clear()
        _LATEST[memo] = _plan(storage, shards)
    return _LATEST[memo]


def _plan(storage: Warehouse, shards: int) -> list[np.ndarray]:
    cases = " ".join(f"WHEN provider = '{p}' THEN TRY(json_extract_string(body, '{path}'))"
                     for p, path in REPO_PATHS.items())
    # hash() of the repo name: a repo's rows always share a shard, whatever the window or load order.
    got = storage.query(
        f"SELECT load_seq, CAST(hash(coalesce(CASE {cases} END, '')) % {shards} AS BIGINT) AS shard "
        f"FROM {T.BRONZE_TABLE}")
    seqs, shard = got["load_seq"].to_numpy(dtype="int64"), got["shard"].to_numpy(dtype="int64")
    return [np.sort(seqs[shard == k]) for k in range(shards) if (shard == k).any()]


class ShardView:
    """A warehouse whose Bronze reads see one shard's rows only; every other call goes to the warehouse."""

    def __init__(self, warehouse: Warehouse, load_seqs: np.ndarray) -> None:
        self._warehouse = warehouse
        self._seqs = [int(s) for s in load_seqs]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warehouse, name)

    def read_bronze(
        self, kinds: Sequence[str | tuple[str, str]], end: TimeLike, start: TimeLike | None = None
    ) -> pd.DataFrame:
        """Warehouse.read_bronze restricted to the shard's rows (same columns, dtypes and load order)."""
        kinds_sql, params = bronze_kinds_sql(kinds)
        where = f"{kinds_sql} AND load_seq IN (SELECT unnest(?::BIGINT[]))"
        rows = self._warehouse.read_window(T.BRONZE_TABLE, "event_day", start, end, where_sql=where,
                                           params=[*params, self._seqs], columns=BRONZE_READ_COLUMNS)
        return rows.sort_values("load_seq", kind="stable").reset_index(drop=True)
