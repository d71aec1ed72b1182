"""`devmetrics explain`: a Gold number, its formula with counts, and the rows behind it.

    devmetrics explain --metric change_failure_rate --scope team:payments --period 2025-03

prints the number, `change_failure_rate = change_failures / deployments = 3 / 41 = 7.3 %`, then the rows
behind the numerator and the denominator, each with its Silver id and the Bronze delivery ids it came
from (devmetrics_assets/explain.py; docs/explain.md). A metric, scope or period that does not exist is
one line listing the valid ones (exit 2).
"""

from __future__ import annotations

import argparse

import pandas as pd

from devmetrics_assets.cli.common import UserError, checked_configuration

METRIC_HELP = ("deployment_frequency, lead_time, change_failure_rate, recovery_time or rework_rate (or "
               "the Gold column: deployment_frequency_per_day, lead_time_median_h, recovery_median_h)")
SHOWN = {
    "deployment_id": None, "change_id": None, "event_day": None, "repo": None, "failure_kinds": None,
    "recovery_h": None, "is_rework": None, "lead_time_h": None, "lead_time_status": None,
    "incident_ids": None, "incident_links": None, "delivery_ids": None, "incident_delivery_ids": None,
}
NAMES = {
    "deployment_frequency": ("deployments (releases)", "calendar days"),
    "lead_time": ("changes with a lead time", "shipped changes"),
    "change_failure_rate": ("change failures", "deployments (releases)"),
    "recovery_time": ("recovered change failures", "change failures"),
    "rework_rate": ("rework deployments", "deployments (releases)"),
}


def _table(rows: pd.DataFrame, limit: int) -> str:
    if rows.empty:
        return "  (none)"
    cols = [c for c in SHOWN if c in rows.columns]
    if "change_id" in rows.columns:
        cols = [c for c in cols if c != "repo"]
    shown = rows[cols].head(limit if limit > 0 else len(rows)).copy()
    if "event_day" in shown:
        shown["event_day"] = pd.to_datetime(shown["event_day"]).dt.strftime("%Y-%m-%d")
    for col in ("recovery_h", "lead_time_h"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    text = shown.to_string(index=False, max_colwidth=None)
    more = len(rows) - len(shown)
    return text + (f"\n  ... and {more} more (--rows 0 shows all)" if more > 0 else "")


def cmd_explain(args: argparse.Namespace) -> int:
    from devmetrics_assets.explain import explain
    from devmetrics_assets.storage.selection import MONGODB, check_reachable, open_storage, storage_kind

    checked = checked_configuration(storage=False)
    if storage_kind() == MONGODB:
        check_reachable(checked.settings)
    try:
        result = explain(args.metric, args.scope, args.period, warehouse=open_storage(checked.settings))
    except ValueError as exc:  # ExplainError, UnknownScopeError: the one line lists the valid values
        raise UserError(str(exc).splitlines()[0]) from None
    value = "n/a" if result.value is None else result.formula.rsplit(" = ", 1)[-1]
    print(f"{result.metric} of {result.scope} in {result.period} ({result.grain}): {value}")
    print(result.formula)
    numerator, denominator = NAMES[result.metric]
    print(f"\nnumerator: {len(result.numerator)} {numerator}")
    print(_table(result.numerator, args.rows))
    if result.metric == "deployment_frequency":
        print(f"\ndenominator: calendar days in {result.period}")
    else:
        print(f"\ndenominator: {len(result.denominator)} {denominator}")
        print(_table(result.denominator, args.rows))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    explain = sub.add_parser("explain", help="show a Gold number, its formula and the rows behind it")
    explain.add_argument("--metric", required=True, help=METRIC_HELP)
    explain.add_argument("--scope", default="org", help="org, or TYPE:NAME (team:payments, repo:OWNER/NAME)")
    explain.add_argument("--period",
                         help="YYYY-MM-DD (day), YYYY-Www (week) or YYYY-MM (month); default the latest "
                              "complete month")
    explain.add_argument("--rows", type=int, default=25,
                         help="rows shown of the numerator and of the denominator (default 25; 0: all)")
    explain.set_defaults(func=cmd_explain)
