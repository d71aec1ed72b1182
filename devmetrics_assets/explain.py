"""Explain a Gold number from the warehouse: `explain("change_failure_rate", "team:payments", "2025-03")`.

Reads the period's fact rows (`load_facts`: gold_fact_deployments / _changes / _incidents), the Bronze
deliveries of the days those rows came from (through the Storage interface, `read_bronze`), traces each
Silver id to its delivery ids (transforms/lineage.py) and hands everything to the pure
`transforms.gold_explain.explain_facts`. No Dagster import. docs/explain.md describes the rows and the
lineage method.

    from devmetrics_assets.explain import explain
    e = explain("change_failure_rate", "team:payments", "2025-03")
    e.value, e.formula, e.numerator, e.denominator
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.loaders import (
    GOLD_TABLES,
    _warehouse,
    configured_rules,
    load_facts,
)
from devmetrics_assets.storage.warehouse import NothingMaterializedError
from devmetrics_assets.transforms.gold_explain import (
    ExplainError,
    Explanation,
    parse_period,
    parse_scope,
    resolve_metric,
)
from devmetrics_assets.transforms.gold_explain import explain_facts as _explain_facts
from devmetrics_assets.transforms.lineage import bronze_kinds, bronze_window, lineage

__all__ = ["ExplainError", "Explanation", "explain"]
ONE_DAY = pd.Timedelta(days=1)


def latest_month(store: Storage) -> str:
    """The default period, as YYYY-MM: the latest complete month of gold_dora_monthly (the organisation's
    row says whether a month is partial), else the latest stored month."""
    months = store.read_table(GOLD_TABLES["month"], columns=["period_start", "scope_type", "is_partial"])
    if months.empty:
        raise ExplainError("no month in gold_dora_monthly yet; give a period (YYYY-MM-DD, YYYY-Www, YYYY-MM)")
    org = months[months["scope_type"] == "org"]
    complete = org[~org["is_partial"].fillna(True).astype(bool)]
    chosen = complete if len(complete) else months
    return pd.Timestamp(chosen["period_start"].max()).strftime("%Y-%m")


def explain(
    metric: str,
    scope: str = "org",
    period: str | None = None,
    *,
    warehouse: str | Path | Storage | None = None,
) -> Explanation:
    """The Gold `metric` of `scope` (org | repo:NAME | team:NAME | service:NAME) in `period` (YYYY-MM-DD day,
    YYYY-Www ISO week, YYYY-MM month; default the latest complete stored month), with its formula and the rows
    behind its numerator and denominator, each with its Silver id and Bronze delivery ids.

    Raises ExplainError / UnknownScopeError (both ValueError) for names that do not exist, and
    NothingMaterializedError when the fact tables are not materialised yet.
    """
    spec = resolve_metric(metric)  # a wrong name is reported before anything is read
    scope_type, name = parse_scope(scope)
    store = _warehouse(warehouse)
    when = parse_period(period if period is not None else latest_month(store))
    rules = configured_rules()
    last_day = when.end - ONE_DAY
    scoped = {"scope_type": scope_type, "scope": name, "warehouse": store, "rules": rules}
    try:
        facts = {
            "deployments": load_facts("deployments", when.start, last_day, **scoped),
            "changes": load_facts("changes", when.start, last_day, **scoped),
            # A change failure's incident may open after its period (or in another scope's repo).
            "incidents": load_facts("incidents", warehouse=store, rules=rules),
        }
    except NothingMaterializedError as exc:
        raise NothingMaterializedError(
            "Nothing to explain yet: the Gold fact tables (gold_fact_deployments, gold_fact_changes, "
            "gold_fact_incidents) are not materialised; `devmetrics demo` or `devmetrics load` builds them, "
            "and for days loaded before they existed, backfill the gold_facts asset in `devmetrics ui`"
        ) from exc
    deliveries = _deliveries(store, facts, _traced(spec.name))
    return _explain_facts(metric, scope, when.label, facts, rules, deliveries)


def _traced(metric: str) -> tuple[str, ...]:
    """The entities whose rows a metric's explanation shows."""
    if metric == "lead_time":
        return ("changes",)
    if metric in ("change_failure_rate", "recovery_time"):
        return ("deployments", "incidents")
    return ("deployments",)


def _deliveries(store: Storage, facts: dict[str, pd.DataFrame], entities: tuple[str, ...]) -> dict[str, str]:
    """Silver id -> comma list of Bronze delivery ids, for the deployments, changes or linked incidents."""
    out: dict[str, str] = {}
    if not store.table_exists("bronze_deliveries"):
        return out
    for entity in entities:
        rows, column = _traced_rows(store, facts, entity)
        window = bronze_window(entity, rows)
        if window is None:
            continue
        bronze = store.read_bronze(bronze_kinds(entity), window[1], window[0])
        out.update(zip(rows[column].astype(str), lineage(entity, rows, bronze), strict=True))
    return out


def _traced_rows(store: Storage, facts: dict[str, pd.DataFrame], entity: str) -> tuple[pd.DataFrame, str]:
    """The rows of an entity to trace, and their Silver id column."""
    if entity == "deployments":
        return facts["deployments"], "deployment_id"
    if entity == "changes":
        return _with_commit_shas(store, facts["changes"]), "change_id"
    incidents = facts["incidents"]
    linked = incidents["deployment_id"].isin(set(facts["deployments"]["deployment_id"]))
    return incidents[linked], "incident_id"


def _with_commit_shas(store: Storage, changes: pd.DataFrame) -> pd.DataFrame:
    """The change rows with Silver's commit_shas (the default-branch commits each brought)."""
    if changes.empty or not store.table_exists("silver_changes"):
        return changes
    first = pd.to_datetime(changes["first_commit_at"], utc=True).dt.tz_localize(None).dt.normalize().min()
    last = pd.to_datetime(changes["event_day"]).max() + ONE_DAY
    start = first if pd.notna(first) else None
    silver = store.read_window("silver_changes", "event_day", start, last,
                               columns=["change_id", "commit_shas"])
    shas = silver.drop_duplicates("change_id").set_index("change_id")["commit_shas"]
    return changes.assign(commit_shas=shas.reindex(changes["change_id"].astype(str)).fillna("").to_numpy())
