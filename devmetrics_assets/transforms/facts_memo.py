"""Deployment and lead-time facts memoised on the content of the Silver frames they come from.

A run that materialises daily Gold and the fact tables (and weekly/monthly Gold) derives the same
`deployment_facts` and `lead_time_facts` from the same Silver history in each step: about a second each
on a year of history. The results are pure functions of (Silver frames, rules), so they are kept on a
key made of the frames' columns, dtypes and a digest of every row's hash (pandas' hash_pandas_object,
order included) plus the rules; a hit returns a deep copy, so no caller can change what another gets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms import gold_facts

MEMO_ENTRIES = 4  # a few windows' worth; one entry is the size of the facts (~10 MB per 20k releases)
_MEMO: dict[tuple, pd.DataFrame] = {}


def _frame_key(df: pd.DataFrame) -> tuple:
    rows = pd.util.hash_pandas_object(df, index=True).to_numpy()
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16).hexdigest()
    return tuple(df.columns), tuple(str(t) for t in df.dtypes), len(df), digest


def _memoised(name: str, compute: Callable[[], pd.DataFrame], frames: tuple[pd.DataFrame, ...],
              rules: DoraRules | None) -> pd.DataFrame:
    try:
        key: Any = (name, repr(rules), *(_frame_key(f) for f in frames))
    except TypeError:  # a column pandas cannot hash (unhashable objects): compute, as without the memo
        return compute()
    result = _MEMO.pop(key, None)
    if result is None:
        result = compute()
    _MEMO[key] = result  # now the most recently used
    while len(_MEMO) > MEMO_ENTRIES:
        del _MEMO[next(iter(_MEMO))]
    return result.copy(deep=True)


def deployment_facts(
    deployments: pd.DataFrame, changes: pd.DataFrame, incidents: pd.DataFrame, rules: DoraRules | None = None
) -> pd.DataFrame:
    """gold_facts.deployment_facts, memoised on its inputs."""
    return _memoised(
        "deployment_facts",
        lambda: gold_facts.deployment_facts(deployments, changes, incidents, rules),
        (deployments, changes, incidents),
        rules,
    )


def lead_time_facts(
    deployments: pd.DataFrame, changes: pd.DataFrame, rules: DoraRules | None = None
) -> pd.DataFrame:
    """gold_facts.lead_time_facts, memoised on its inputs."""
    return _memoised(
        "lead_time_facts",
        lambda: gold_facts.lead_time_facts(deployments, changes, rules),
        (deployments, changes),
        rules,
    )
