"""What the automation conditions read from the warehouse (defs/automation.py), memoised per tick.

Several assets evaluate the same condition in one tick (daily Gold and the three fact tables all ask
`ReachBackDays`; the three Silver models all ask for late reviews), and each answer reads the stored
Silver. The answers depend only on the days asked, the stored data and the rules, which do not change
within one tick, so each is computed once per (tick, storage, days): the tick is `automation_tick(context)`
(the evaluation time and the instance's newest storage id, shared by every asset of one evaluation), the
storage the configured warehouse and rules. An answer of "storage busy" is never kept.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import date
from typing import TypeVar

import dagster as dg

T = TypeVar("T")
_MEMO: OrderedDict[tuple, object] = OrderedDict()
_MEMO_SIZE = 32


def automation_tick(context: dg.AutomationContext) -> tuple:
    """What every asset's context of one automation evaluation shares, and the next evaluation does not."""
    return (context.evaluation_time.isoformat(), context.max_storage_id)


def _storage_identity() -> tuple[str, ...]:
    """Which storage and rules an answer was read from (tests run several homes in one process)."""
    from devmetrics_assets.config import Settings
    from devmetrics_assets.storage.selection import MONGODB_URI_ENV, mongo_database

    settings = Settings.from_env()
    return (str(settings.warehouse_path), str(settings.rules_path), os.environ.get(MONGODB_URI_ENV, ""),
            mongo_database())


def _per_tick(key: tuple, tick: tuple | None, compute: Callable[[], T]) -> T:
    """`compute()` once per (key, tick, storage); None (storage busy) is not kept. No tick: no memo."""
    if tick is None:
        return compute()
    full = (tick, _storage_identity(), *key)
    if full in _MEMO:
        _MEMO.move_to_end(full)
        return _MEMO[full]  # type: ignore[return-value]
    value = compute()
    if value is not None:
        _MEMO[full] = value
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def _storage_and_rules():
    """The configured storage and business rules, as the definitions build them (the code server's env)."""
    from devmetrics_assets.config import Settings
    from devmetrics_assets.defs.resources import RulesResource
    from devmetrics_assets.sources.registry import sources_path
    from devmetrics_assets.storage.selection import open_storage

    settings = Settings.from_env()
    rules = RulesResource(path=str(settings.rules_path), sources_path=str(sources_path(settings))).rules()
    return open_storage(settings), rules


def reach_back_partition_keys(changed: Iterable[str], tick: tuple | None = None) -> set[str] | None:
    """Earlier deployment days (partition keys) whose Gold these Silver days change (None: storage busy).

    The rule is `runner.reach_back`'s (transforms/gold_facts.reach_back_days), on the stored Silver.
    `tick`: memoise per tick (module docstring).
    """
    days = tuple(sorted(set(changed)))
    found = _per_tick(("reach_back", days), tick, lambda: _reach_back(days))
    return None if found is None else set(found)


def _reach_back(changed: Iterable[str]) -> set[str] | None:
    from pymongo.errors import PyMongoError

    from devmetrics_assets.runner import reach_back
    from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

    days = sorted(date.fromisoformat(d) for d in set(changed))
    try:
        storage, rules = _storage_and_rules()
        return {d.isoformat() for d in reach_back(storage, days, rules)}
    except (WarehouseLockedError, NothingMaterializedError, PyMongoError):
        return None


def late_review_partition_keys(days: Iterable[str], tick: tuple | None = None) -> set[str]:
    """Landing days (partition keys) of the changes reviews on these days name (`runner.late_review_days`).

    Empty when storage is busy: the review's own day still re-runs, as before this rule existed.
    `tick`: memoise per tick (module docstring).
    """
    asked = tuple(sorted(set(days)))
    found = _per_tick(("late_review", asked), tick, lambda: _late_reviews(asked))
    return set() if found is None else set(found)


def _late_reviews(days: Iterable[str]) -> set[str] | None:
    from pymongo.errors import PyMongoError

    from devmetrics_assets.runner import late_review_days
    from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

    wanted = sorted(date.fromisoformat(d) for d in set(days))
    if not wanted:
        return set()
    try:
        storage, _ = _storage_and_rules()
        return {d.isoformat() for d in late_review_days(storage, wanted)}
    except (WarehouseLockedError, NothingMaterializedError, PyMongoError):
        return None


def pending_partition_keys(
    instance: dg.DagsterInstance | None = None, key: dg.AssetKey | None = None
) -> set[str]:
    """Event days in the pending-work ledger, as partition keys (empty when storage is busy or absent).

    With `instance` and `key`: only the days whose `key` partition was not materialised after their row
    was recorded.
    """
    import pandas as pd
    from pymongo.errors import PyMongoError

    from devmetrics_assets.config import Settings
    from devmetrics_assets.pending_work import latest_materialisations
    from devmetrics_assets.storage.selection import open_storage
    from devmetrics_assets.storage.warehouse import NothingMaterializedError, WarehouseLockedError

    try:
        pending = open_storage(Settings.from_env()).pending_event_days()
    except (WarehouseLockedError, NothingMaterializedError, PyMongoError):
        return set()
    days = [d.date().isoformat() for d in pd.to_datetime(pending["event_day"])]
    if instance is None or key is None or pending.empty:
        return set(days)
    recorded = [t.timestamp() for t in pd.to_datetime(pending["recorded_at"], utc=True)]
    newest = latest_materialisations(instance, key.to_user_string(), days, min(recorded) - 1.0)
    return {d for d, at in zip(days, recorded, strict=True) if newest.get(d, 0.0) < at}
