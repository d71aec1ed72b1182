"""When has a failed check really recovered? When a later execution passed over the partitions that failed.

Checks judge the run's window only, so "the latest execution passed" says nothing about days outside
that window: a check that failed on day A and then passed on a run of day B would announce "passed
again" while day A's data is still wrong. Each check result names the partitions it judged
(`partitions: first..last`) and, on failure, the ones that failed (`failed_partitions`; metadata written
by checks/results.py, names in checks/validations_scope.py). The alerting sensor folds the executions of
a check, oldest first, through `fold`, keeping the partitions still failing in its cursor, and sends the
recovery only when that set becomes empty.

- A failure adds its `failed_partitions`; a failure that names none (an unpartitioned check, a check
  judging time such as freshness, an execution written before this metadata existed) adds `*`.
- A pass removes the failing partitions inside the range it judged, and `*`. A pass that names no range
  (unpartitioned, or judging time) clears everything.

Pure: plain dicts in, no Dagster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devmetrics_assets.checks.validations_scope import FAILED_PARTITIONS, JUDGES, PARTITIONS

WHOLE = "*"  # the check failed as a whole (not tied to partitions)
SHOWN = 10  # failing partitions named in a notification


@dataclass(frozen=True)
class Step:
    failing: tuple[str, ...]  # partitions still failing after this execution (sorted)
    recovered: bool  # this pass cleared the last failing partition
    cleared: tuple[str, ...]  # partitions this execution cleared


def _value(metadata: Mapping[str, Any], name: str) -> Any:
    raw = metadata.get(name)
    return getattr(raw, "value", raw)


def judged_range(metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(first, last) partition key an execution judged; None when it judged no range (everything)."""
    if _value(metadata, JUDGES) == "now":
        return None
    label = _value(metadata, PARTITIONS)
    if not isinstance(label, str) or not label:
        return None
    first, _, last = label.partition("..")
    return first, last or first


def failed_partitions(metadata: Mapping[str, Any]) -> list[str]:
    """The partitions a failed execution names ([WHOLE] when it names none)."""
    keys = _value(metadata, FAILED_PARTITIONS)
    if isinstance(keys, list | tuple) and keys:
        return sorted({str(k) for k in keys})
    return [WHOLE]


def fold(failing: Iterable[str], passed: bool, metadata: Mapping[str, Any]) -> Step:
    """The failing partitions after one more execution (failed or passed) of the same check."""
    before = set(failing)
    if not passed:
        return Step(tuple(sorted(before | set(failed_partitions(metadata)))), False, ())
    span = judged_range(metadata)
    if span is None:
        cleared = before
    else:
        first, last = span
        cleared = {k for k in before if k == WHOLE or first <= k <= last}
    left = before - cleared
    return Step(tuple(sorted(left)), bool(before) and not left, tuple(sorted(cleared)))


def describe(keys: Iterable[str], shown: int = SHOWN) -> str:
    """`2025-03-01, 2025-03-04 (+3 more)`; the whole check for WHOLE."""
    keys = sorted(keys)
    if not keys or keys == [WHOLE]:
        return "the whole check"
    named = [k for k in keys if k != WHOLE]
    more = f" (+{len(named) - shown} more)" if len(named) > shown else ""
    return ", ".join(named[:shown]) + more
