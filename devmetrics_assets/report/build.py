"""Read Gold (and the explanations of the last full period) from the warehouse and render the report.

The I/O around `data` (pure shaping) and `html` (rendering): used by `devmetrics report`, callable from a
notebook. No Dagster import, no clock: the caller passes the generation time it wants printed.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from devmetrics_assets.report.data import Section, build_sections, check_grain, metrics_for, period_label
from devmetrics_assets.report.html import ExplainResult, render_page
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.warehouse import NothingMaterializedError

EXPLAIN_MODULE = "devmetrics_assets.explain"
REPORT_SCOPE_TYPES = ("org", "team", "repo")


class NoGoldError(LookupError):
    """The warehouse has no Gold rows for the requested grain and range."""


@dataclass(frozen=True)
class Report:
    html: str
    sections: list[Section]
    charts: int
    explained: bool  # whether the page has the explain tables


def explain_available() -> bool:
    """True once devmetrics_assets/explain.py exists (built alongside; the report works without it)."""
    return importlib.util.find_spec(EXPLAIN_MODULE) is not None


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def explain_sections(sections: list[Section], grain: str,
                     warehouse: str | Path | Storage | None) -> dict[int, list[ExplainResult]]:
    """Each section's five metrics explained at its last full period (an error shows as a note).

    NothingMaterializedError (the Gold fact tables explain reads are not there) propagates: the caller
    leaves the explain tables out of the whole page.
    """
    explain: Callable[..., Any] = importlib.import_module(EXPLAIN_MODULE).explain
    out: dict[int, list[ExplainResult]] = {}
    for index, section in enumerate(sections):
        if section.at is None:
            out[index] = []
            continue
        period = period_label(section.at, grain)
        results = []
        for metric in metrics_for(grain):
            try:
                exp = explain(metric.explain_metric, section.explain_scope, period=period,
                              warehouse=warehouse)
                results.append(ExplainResult(metric, exp))
            except NothingMaterializedError:
                raise
            except Exception as exc:  # one metric that cannot be explained must not lose the report
                results.append(ExplainResult(metric, None, _one_line(exc)))
        out[index] = results
    return out


def load_report_gold(grain: str, start: Any, end: Any,
                     warehouse: str | Path | Storage | None) -> pd.DataFrame:
    """Gold rows of the org, teams and repos; NoGoldError when the org has none in the range."""
    from devmetrics_assets.storage.loaders import load_gold

    check_grain(grain)
    gold = load_gold(grain, start, end, scope_type=None, warehouse=warehouse)
    gold = gold[gold["scope_type"].isin(REPORT_SCOPE_TYPES)]
    if not (gold["scope_type"] == "org").any():
        span = f" between {start or 'the start'} and {end or 'the end'}" if start or end else ""
        raise NoGoldError(f"no Gold rows per {grain}{span}")
    return gold.reset_index(drop=True)


def build_report(grain: str = "month", start: Any = None, end: Any = None, *,
                 team_of: Callable[[str], str] | Mapping[str, str],
                 warehouse: str | Path | Storage | None = None, generated: str = "",
                 explain: bool | None = None) -> Report:
    """The report page for Gold at `grain` with period_start in [start, end].

    `team_of` maps a repo to its team (DoraRules.team_of); `explain` None = when explain.py exists.
    """
    gold = load_report_gold(grain, start, end, warehouse)
    sections = build_sections(gold, grain, team_of)
    org = sections[0].trend
    covered = (f"{period_label(org['period_start'].min(), grain)} to "
               f"{period_label(org['period_start'].max(), grain)}")
    use_explain = explain_available() if explain is None else explain
    explained, note = None, None
    if use_explain:
        try:
            explained = explain_sections(sections, grain, warehouse)
        except NothingMaterializedError as exc:
            note = f"Explain tables left out: {str(exc).splitlines()[0]}"
    page = render_page(sections, grain, covered=covered, generated=generated, explained=explained,
                       explain_note=note)
    return Report(page, sections, 5 * len(sections), explained is not None)
