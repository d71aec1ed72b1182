"""Notebook loaders: Gold metrics, the Gold fact rows, Silver entities and quarantine as DataFrames.

No Dagster import (a notebook pays only for pandas + the driver). Reads go through the `Storage`
interface of the configured warehouse (`storage/selection.py`: MongoDB when MONGODB_URI is set, else
the DuckDB file); with DuckDB each call opens one short-lived read-only connection, because DuckDB
lets a single process write the file and a notebook holding a connection would block the pipeline.

    from devmetrics_assets import load_facts, load_gold
    load_gold("week", "2025-01-01", "2025-03-31", scope_type="team")
    load_facts("deployments", "2025-03-01", "2025-03-31", scope_type="team", scope="payments")

- `load_gold`: the DORA metrics per period and scope (gold_dora_daily / _weekly / _monthly).
- `load_facts`: the rows daily Gold is computed from (gold_fact_deployments / _changes / _incidents), by the
  day each is attributed to; a team or service scope selects its repos through the rules' repo -> team /
  service mapping (rules.yaml widened by sources.yaml, or `rules=`), and the rows carry `team` and
  `service` columns from the same mapping.
- `load_silver`, `load_quarantine`: Silver entities and quarantined records.
A `scope` (or repo) that the warehouse has never seen raises `UnknownScopeError` (a ValueError) whose
message lists the known ones, instead of returning an empty frame; a known scope with no rows in the
window gives an empty frame.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd

from devmetrics_assets.config import DoraRules, Settings, load_rules
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.selection import open_storage
from devmetrics_assets.storage.tables import LAYERS, QUARANTINE_TABLE
from devmetrics_assets.storage.warehouse import NothingMaterializedError, Warehouse

GOLD_TABLES = {"day": "gold_dora_daily", "week": "gold_dora_weekly", "month": "gold_dora_monthly"}
FACT_TABLES = {"deployments": "gold_fact_deployments", "changes": "gold_fact_changes",
               "incidents": "gold_fact_incidents"}
FACT_SORT = {"deployments": "deployment_id", "changes": "change_id", "incidents": "incident_id"}
SILVER_ENTITIES = ("changes", "deployments", "incidents")
SCOPE_TYPES = ("repo", "team", "service", "org")

DayLike = str | date | datetime | pd.Timestamp | None

__all__ = [
    "NothingMaterializedError",
    "UnknownScopeError",
    "configured_rules",
    "load_facts",
    "load_gold",
    "load_quarantine",
    "load_silver",
]
MAX_LISTED = 40


class UnknownScopeError(ValueError):
    """A scope or repo the warehouse has never seen; the message lists the known ones."""

    def __init__(self, scope_type: str | None, scope: str, known: list[str]) -> None:
        self.scope_type, self.scope, self.known = scope_type, scope, known
        more = f", ... ({len(known)} in all)" if len(known) > MAX_LISTED else ""
        shown = ", ".join(known[:MAX_LISTED]) + more
        what = f"{scope_type} " if scope_type else "scope "
        super().__init__(f"unknown {what}{scope!r}; known: {shown or '(none yet)'}")


def _warehouse(warehouse: str | Path | Storage | None) -> Storage:
    """A path means that DuckDB file; a Storage is used as is; None means the configured warehouse."""
    if isinstance(warehouse, str | Path):
        return Warehouse(warehouse)
    if warehouse is not None:
        return warehouse
    return open_storage(Settings.from_env())


def _day(value: DayLike, name: str) -> pd.Timestamp | None:
    """A UTC calendar day as a naive midnight; aware datetimes are converted to UTC first."""
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date (use 'YYYY-MM-DD', a date or a datetime)") from exc
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _inclusive_window(start: DayLike, end: DayLike) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    lo, hi = _day(start, "start"), _day(end, "end")
    if lo is not None and hi is not None and hi < lo:
        raise ValueError(f"end {hi.date()} is before start {lo.date()}")
    return lo, None if hi is None else hi + pd.Timedelta(days=1)


def _choice(value: str, valid: tuple[str, ...] | list[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def _read(
    warehouse: Storage,
    table: str,
    day_column: str,
    start: DayLike,
    end: DayLike,
    filters: dict[str, str | None],
    sort: list[str],
) -> pd.DataFrame:
    lo, hi = _inclusive_window(start, end)
    active = {c: v for c, v in filters.items() if v is not None}
    df = warehouse.read_window(table, day_column, lo, hi, filters=active)  # filtered by the backend
    return df.sort_values(sort, kind="stable", ignore_index=True)


def load_gold(
    grain: str = "day",
    start: DayLike = None,
    end: DayLike = None,
    *,
    scope_type: str | None = "org",
    scope: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """DORA metrics per period: rows with period_start in [start, end] (inclusive days).

    grain day|week|month; scope_type repo|team|service|org (None = all), scope one name of it.
    A weekly/monthly row is included when its period STARTS in the range.
    """
    table = GOLD_TABLES[_choice(grain, list(GOLD_TABLES), "grain")]
    if scope_type is not None:
        _choice(scope_type, SCOPE_TYPES, "scope_type")
    store = _warehouse(warehouse)
    rows = _read(
        store,
        table,
        "period_start",
        start,
        end,
        {"scope_type": scope_type, "scope": scope},
        ["period_start", "scope_type", "scope"],
    )
    if scope is not None and rows.empty:
        _check_gold_scope(store, table, scope_type, scope)
    return rows


def _check_gold_scope(store: Storage, table: str, scope_type: str | None, scope: str) -> None:
    """Raise UnknownScopeError when no row of `table` (any period) has this scope."""
    scopes = store.read_table(table, columns=["scope_type", "scope"]).drop_duplicates()
    if scope_type is not None:
        scopes = scopes[scopes["scope_type"] == scope_type]
        names = sorted(set(scopes["scope"].astype(str)))
    else:
        names = sorted(f"{t}:{n}" for t, n in zip(scopes["scope_type"], scopes["scope"], strict=True))
    if scope not in set(scopes["scope"].astype(str)):
        raise UnknownScopeError(scope_type, scope, names)


def configured_rules(settings: Settings | None = None) -> DoraRules:
    """The rules the assets use: rules.yaml widened by the rules sources.yaml declares (RulesResource)."""
    from devmetrics_assets.sources.registry import load_sources, merge_rules, sources_path

    settings = settings or Settings.from_env()
    base = load_rules(settings.rules_path)
    if not sources_path(settings).exists():
        return base
    return merge_rules(base, load_sources(settings=settings))


def scope_names(repos: list[str], rules: DoraRules) -> dict[str, dict[str, list[str]]]:
    """scope_type -> scope name -> its repos (repo, team, service; org is every repo, scope `all`)."""
    names: dict[str, dict[str, list[str]]] = {"repo": {}, "team": {}, "service": {}, "org": {"all": []}}
    for repo in sorted(set(repos)):
        for scope_type, name in (("repo", repo), ("team", rules.team_of(repo)),
                                 ("service", rules.service_of(repo)), ("org", "all")):
            names[scope_type].setdefault(name, []).append(repo)
    return names


def scope_repos(
    scope_type: str | None, scope: str | None, repos: list[str], rules: DoraRules
) -> list[str] | None:
    """The repos of a scope (None: every repo). `repos`: the repos the warehouse knows; the rules' repos
    count as known too. Raises UnknownScopeError for a name no known repo maps to."""
    if scope_type is not None:
        _choice(scope_type, SCOPE_TYPES, "scope_type")
    if scope is None or scope_type == "org" or (scope_type is None and scope in ("org", "all")):
        if scope_type == "org" and scope not in (None, "all", "org"):
            raise UnknownScopeError("org", scope, ["all"])
        return None
    names = scope_names([*repos, *rules.repo_owners], rules)
    types = [scope_type] if scope_type is not None else ["repo", "team", "service"]
    for kind in types:
        if scope in names[kind]:
            return names[kind][scope]
    known = (sorted(names[scope_type]) if scope_type is not None
             else [f"{t}:{n}" for t in types for n in sorted(names[t])])
    raise UnknownScopeError(scope_type, scope, known)


def load_facts(
    kind: str,
    start: DayLike = None,
    end: DayLike = None,
    *,
    scope_type: str | None = None,
    scope: str | None = None,
    warehouse: str | Path | Storage | None = None,
    rules: DoraRules | None = None,
) -> pd.DataFrame:
    """Gold fact rows of kind deployments|changes|incidents with event_day in [start, end] (inclusive days).

    deployments: one row per release and failed attempt (change failure, failure_kinds, recovery, rework);
    changes: one row per shipped change (lead time and its stages); incidents: one row per incident with
    the release it was linked to and how. scope_type repo|team|service|org with scope one name of it
    (`org` or no scope: every row; scope_type None: the name is looked up as a repo, team, then service).
    The rows carry `team` and `service` columns from the rules (`rules`, default the configured ones).
    """
    table = FACT_TABLES[_choice(kind, list(FACT_TABLES), "kind")]
    store = _warehouse(warehouse)
    rules = rules if rules is not None else configured_rules()
    everything = scope is None or scope_type == "org" or (scope_type is None and scope in ("org", "all"))
    known = [] if everything else store.read_table(table, columns=["repo"])["repo"].astype(str).unique()
    repos = scope_repos(scope_type, scope, list(known), rules)
    rows = _read(store, table, "event_day", start, end, {}, ["event_day", "repo", FACT_SORT[kind]])
    if repos is not None:
        rows = rows[rows["repo"].isin(repos)].reset_index(drop=True)
    return rows.assign(
        team=pd.Series([rules.team_of(r) for r in rows["repo"]], index=rows.index, dtype="str"),
        service=pd.Series([rules.service_of(r) for r in rows["repo"]], index=rows.index, dtype="str"),
    )


def load_silver(
    entity: str,
    start: DayLike = None,
    end: DayLike = None,
    *,
    repo: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """Silver rows of entity changes|deployments|incidents, event_day in [start, end], optionally one repo."""
    table = f"silver_{_choice(entity, SILVER_ENTITIES, 'entity')}"
    return _read(_warehouse(warehouse), table, "event_day", start, end, {"repo": repo}, ["event_day", "repo"])


def load_quarantine(
    start: DayLike = None,
    end: DayLike = None,
    *,
    layer: str | None = None,
    warehouse: str | Path | Storage | None = None,
) -> pd.DataFrame:
    """Quarantined records with partition_day in [start, end], optionally one layer (bronze|silver|gold).

    Rows without a partition_day are returned only when neither start nor end is given.
    """
    if layer is not None:
        _choice(layer, LAYERS, "layer")
    return _read(
        _warehouse(warehouse),
        QUARANTINE_TABLE,
        "partition_day",
        start,
        end,
        {"layer": layer},
        ["partition_day", "layer", "asset", "record_ref"],
    )
