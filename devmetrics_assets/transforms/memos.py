"""Memos of pure results that a caller can tell are no longer reusable.

The GitHub main line is memoised per shard of Bronze history (providers/github/mainline.py) so the three
Silver models of a run parse each shard once. A run with more shards than the memo keeps walks them in
the same order for each model, so by the next model the first shard's entry is gone, and so on: every
entry is a miss, and the memo only holds up to ENTRIES results (about 50 MB each at 100,000 deliveries a
shard) for nothing. The sharded runner (defs/silver_shards.py) then drops them after each shard.
"""

from __future__ import annotations

from collections.abc import Callable

# How many shards' results a shard-keyed memo keeps: a run of up to this many shards reuses them all.
ENTRIES = 4

_DROPS: list[Callable[[], None]] = []


def register(drop: Callable[[], None]) -> Callable[[], None]:
    """Register a memo's `clear`; returned unchanged."""
    _DROPS.append(drop)
    return drop


def reusable(shards: int) -> bool:
    """Whether a run of `shards` shards can reuse what the shard-keyed memos keep."""
    return shards <= ENTRIES


def drop_all() -> None:
    """Empty every registered memo."""
    for drop in _DROPS:
        drop()
