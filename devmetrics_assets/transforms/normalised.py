"""The normalised shapes every non-GitHub provider is translated into, and the helpers their parsers share.

GitLab, PagerDuty and generic JSON each have their own payloads, but their parsers hand Silver the same
forms, so the Silver rules exist once (see generic.py's docstring for the generic format itself):
- deployments: `deps` (DEP_COLUMNS: repo, dep_id, sha, environment, created_at) and `stats`
  (STAT_COLUMNS: state in GitHub's deployment_status vocabulary). providers.build_deployments runs
  silver_deployments' final-status and shipping rules over all providers together, so a repo's
  deployments form one sequence whatever system reported them.
- incident events (EVENT_COLUMNS): one row per state change or note of a repo-qualified incident;
  incident_events.incidents_from_events turns them into silver_incidents rows.
The helpers read what all three providers send alike: time text (ISO, GitLab's `... UTC`, epoch), text
ids that must become Silver numbers, a service name instead of a repo, the received time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules

# The same received-time reader as GitHub's main line (one definition of a missing/bad received_at).
from devmetrics_assets.transforms.mainline_model import received
from devmetrics_assets.transforms.payloads import UTC_DTYPE, int_or_none, text_or_none, to_utc

SYNTHETIC_BASE = 10**12
EVENT_COLUMNS = [
    "row",
    "repo",
    "number",
    "time",
    "opened_at",
    "action",
    "state",
    "resolved_at",
    "title",
    "text",
    "note_id",
    "note_deleted",
    "received_at",
]
_EVENT_DTYPES = {
    "row": "int64",
    "number": "int64",
    "time": UTC_DTYPE,
    "opened_at": UTC_DTYPE,
    "resolved_at": UTC_DTYPE,
    "received_at": UTC_DTYPE,
    "note_deleted": "bool",
}
_DEP_DTYPES = {
    "row": "int64",
    "repo": "str",
    "dep_id": "int64",
    "sha": "str",
    "environment": "str",
    "created_at": UTC_DTYPE,
    "is_event": "bool",
}
_STAT_DTYPES = {
    "row": "int64",
    "repo": "str",
    "dep_id": "int64",
    "status_id": "int64",
    "state": "str",
    "created_at": UTC_DTYPE,
}
DEP_COLUMNS = list(_DEP_DTYPES)
STAT_COLUMNS = list(_STAT_DTYPES)
_UTC_WORD = re.compile(r"\s+UTC$", re.IGNORECASE)


def normalise_time(value: Any) -> Any:
    """Provider time text that `to_utc` reads: GitLab's trailing ` UTC` becomes `+00:00`."""
    if isinstance(value, str):
        return _UTC_WORD.sub("+00:00", value.strip())
    return value


def parse_times(values: Any) -> tuple[pd.Series, np.ndarray]:
    """`to_utc` after `normalise_time` (ISO, GitLab `... UTC` / `... +0200`, epoch)."""
    return to_utc([normalise_time(v) for v in values])


def id_number(value: Any) -> int | None:
    """Silver number for a provider id: integers as is, other text as a stable number >= 10^12.

    Silver ids are `<repo>:<n>` / `<repo>#<n>`, so a text id (`SRCH-12`, `ledger-3`) needs a number that
    is the same on every run and cannot collide with a real (small) one.
    """
    number = int_or_none(value)
    if number is not None:
        return number if number >= 1 else None
    text = text_or_none(value)
    if text is None:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SYNTHETIC_BASE + int(digest[:15], 16) % SYNTHETIC_BASE


def stable_id(*parts: Any) -> int:
    """A 62-bit integer from the parts (synthetic deployment-status ids, dedupe on natural keys)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return int(digest[:15], 16)


def repo_for_service(service: Any, rules: DoraRules) -> tuple[str | None, str | None]:
    """(repo, None) for a service configured on exactly one repo (case-insensitive), else (None, reason).

    A service spelled like a configured repo name maps to that repo. No or several candidates is a
    quarantine reason: a repo is never guessed.
    """
    name = text_or_none(service)
    if name is None:
        return None, "no repo and no service to map it from"
    key = name.strip().lower()
    repos = {r.lower(): r for r in rules.repo_owners}
    if key in repos:
        return repos[key], None
    hits = sorted(r for r, o in rules.repo_owners.items() if str(o.get("service", "")).strip().lower() == key)
    if len(hits) == 1:
        return hits[0], None
    if hits:
        return None, f"service '{name}' is configured on several repos {hits}: name the repo explicitly"
    return None, f"service '{name}' maps to no repo: set repos.<repo>.service in rules.yaml or send repo"


def reason_series(reasons: Sequence[str | None] | np.ndarray, index: pd.Index) -> pd.Series:
    """Per-delivery reasons (None = usable) aligned with the Bronze rows, as bronze_rejects reads them."""
    return pd.Series(reasons, index=index, dtype=object)


def _empty(dtypes: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def empty_events() -> pd.DataFrame:
    """No incident events, with EVENT_COLUMNS and dtypes the incident rules can run on."""
    return _empty({c: _EVENT_DTYPES.get(c, object) for c in EVENT_COLUMNS})


def empty_deployments() -> tuple[pd.DataFrame, pd.DataFrame]:
    """No (deps, stats), with the normalised deployment columns and dtypes."""
    return _empty(_DEP_DTYPES), _empty(_STAT_DTYPES)


__all__ = [
    "OUTCOMES",
    "final_status",
    "DEP_COLUMNS",
    "EVENT_COLUMNS",
    "STAT_COLUMNS",
    "SYNTHETIC_BASE",
    "empty_deployments",
    "empty_events",
    "id_number",
    "normalise_time",
    "parse_times",
    "reason_series",
    "received",
    "repo_for_service",
    "stable_id",
]


OUTCOMES = ("success", "failure", "error")


def final_status(deps: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """final_status, finished_at and status_count of normalised deployments from their statuses (contracts
    §4): the last success|failure|error by (created_at, status id); a later `inactive` only marks a success
    superseded. With none of those, `inactive` when one exists, else `pending`."""
    key = ["repo", "dep_id"]
    stats = stats.sort_values(["created_at", "status_id"], kind="stable")
    count = stats.groupby(key).size().rename("status_count")
    outcome = stats[stats["state"].isin(OUTCOMES)].drop_duplicates(key, keep="last")
    inactive = stats[stats["state"] == "inactive"].drop_duplicates(key, keep="last")
    final = pd.concat([outcome, inactive]).drop_duplicates(key, keep="first").set_index(key)
    out = deps.join(count, on=key).join(
        final[["state", "created_at"]].rename(columns={"state": "final_status", "created_at": "finished_at"}),
        on=key,
    )
    out["status_count"] = out["status_count"].fillna(0).astype("int64")
    out["final_status"] = out["final_status"].fillna("pending")
    return out
