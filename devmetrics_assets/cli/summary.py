"""`devmetrics summary`: DORA metrics of a scope over a date range, as a table, CSV or JSON.

    devmetrics summary                                   # the organisation, per month
    devmetrics summary --scope team --grain week         # every team, per ISO week
    devmetrics summary --scope repo:acme/payments-api --from 2025-03 --to 2025-05 --format csv

`--from` / `--to` take a day (YYYY-MM-DD), a month (YYYY-MM: its first / last day) or a span back from
today (30d, 12w, 6m; today is `DEVMETRICS_NOW` when pinned). A weekly or monthly row is included when its
period starts in the range. An unknown scope lists the known ones (one line, exit 2).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date, timedelta

import pandas as pd

from devmetrics_assets.cli.common import UserError, checked_configuration
from devmetrics_assets.config import Settings

SCOPE_TYPES = ("org", "team", "repo", "service")
FORMATS = ("table", "csv", "json")
COLUMNS = {
    "period_start": "period", "scope": "scope", "deployments": "deploys",
    "deployment_frequency_per_day": "per day", "lead_time_median_h": "lead h (p50)",
    "lead_time_p90_h": "lead h (p90)", "change_failure_rate": "CFR", "recovery_median_h": "recovery h (p50)",
    "rework_rate": "rework", "incidents_opened": "incidents",
}
RELATIVE = re.compile(r"^(\d+)([dwm])$")
SCOPE_HELP = ("org (default), team | repo | service (every one of them), or one of them as TYPE:NAME, "
              "e.g. team:payments, repo:acme/payments-api, service:checkout")
DAY_HELP = "a day YYYY-MM-DD, a month YYYY-MM, or a span back from today: 30d, 12w, 6m"


def add_parser(sub: argparse._SubParsersAction) -> None:
    summary = sub.add_parser("summary",
                             help="print DORA metrics of the organisation, a team, repo or service")
    summary.add_argument("--scope", default="org", help=SCOPE_HELP)
    summary.add_argument("--grain", choices=["day", "week", "month"], default="month",
                         help="period of each row (default month)")
    summary.add_argument("--from", dest="start", metavar="FROM", help=f"first period: {DAY_HELP}")
    summary.add_argument("--to", dest="end", metavar="TO", help=f"last period: {DAY_HELP}")
    summary.add_argument("--format", choices=FORMATS, default="table",
                         help="table (default; periods without deployments or incidents left out), "
                              "csv or json (every Gold column, every period)")
    summary.set_defaults(func=cmd_summary)


def parse_scope(text: str) -> tuple[str, str | None]:
    """`org` -> (org, None); `team` -> (team, None); `team:payments` -> (team, payments)."""
    kind, _, name = text.partition(":")
    kind = kind.strip().lower()
    if kind not in SCOPE_TYPES or (":" in text and not name.strip()) or (kind == "org" and name):
        raise UserError(f"--scope {text!r}: expected {SCOPE_HELP}")
    return kind, (name.strip() or None)


def parse_day(text: str, flag: str, *, today: date, end: bool = False) -> date:
    """A day, a month (its first day, or its last with `end`), or N days/weeks/months before today."""
    value = text.strip()
    relative = RELATIVE.match(value)
    if relative:
        count, unit = int(relative.group(1)), relative.group(2)
        if unit == "m":
            return (pd.Timestamp(today) - pd.DateOffset(months=count)).date()
        return today - timedelta(days=count * (7 if unit == "w" else 1))
    try:
        if re.fullmatch(r"\d{4}-\d{2}", value):
            first = date.fromisoformat(value + "-01")
            return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1) if end else first
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{flag} {text!r}: expected {DAY_HELP}") from None


def load_scope(settings: Settings, grain: str, scope: str = "org", start: date | None = None,
               end: date | None = None) -> pd.DataFrame:
    """Gold rows of one scope (or every scope of a type); an unknown scope is a UserError listing the
    known ones."""
    from devmetrics_assets.storage import loaders
    from devmetrics_assets.storage.selection import open_storage

    scope_type, name = parse_scope(scope)
    storage = open_storage(settings)
    try:
        gold = loaders.load_gold(grain, start, end, scope_type=scope_type, scope=name, warehouse=storage)
        if name is not None and gold.empty:
            # Until the loader says so itself: is the name unknown, or is the range just empty?
            every = loaders.load_gold(grain, scope_type=scope_type, warehouse=storage)
            known = sorted(every["scope"].dropna().astype(str).unique())
            if name not in known:
                raise UserError(f"unknown {scope_type} {name!r} (--scope); "
                                f"known: {', '.join(known) or 'none'}")
    except ValueError as exc:  # the loader's UnknownScopeError(ValueError) lists the known scopes
        raise UserError(str(exc).splitlines()[0] if str(exc) else "unknown scope (--scope)") from None
    if gold.empty:
        raise UserError(f"no {grain} metrics for {scope} between {start or 'the start'} and "
                        f"{end or 'the end'}; {_coverage(grain, storage)}")
    return gold


def _coverage(grain: str, storage) -> str:
    from devmetrics_assets.storage.loaders import load_gold

    org = load_gold(grain, scope_type="org", warehouse=storage)
    if org.empty:
        return "nothing is materialised yet: run `devmetrics demo` or `devmetrics load FILE`"
    first, last = org["period_start"].min(), org["period_start"].max()
    return f"the stored {grain}s run from {first:%Y-%m-%d} to {last:%Y-%m-%d}"


def render(gold: pd.DataFrame, fmt: str = "table") -> str:
    out = gold.copy()
    out["period_start"] = pd.to_datetime(out["period_start"]).dt.strftime("%Y-%m-%d")
    if fmt == "csv":
        return out.to_csv(index=False)
    if fmt == "json":
        return out.to_json(orient="records", indent=1) + "\n"
    active = out["deployments"] > 0
    if "incidents_opened" in out.columns:
        active |= out["incidents_opened"] > 0
    out = out[active]
    columns = [c for c in COLUMNS if c in out.columns and (c != "scope" or out["scope_type"].ne("org").any())]
    table = out[columns].rename(columns=COLUMNS)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        text = table.round(3).to_string(index=False, na_rep="–") + "\n"
    bands = [c for c in out.columns if c.endswith("_band")]
    if len(out) and bands and out["scope"].nunique() == 1:
        last = out.iloc[-1]
        named = (f"{b[:-5]}={last[b] if pd.notna(last[b]) else '– (too little data)'}" for b in bands)
        text += "\nDORA bands, last period: " + ", ".join(named) + "\n"
    return text


def print_summary(settings: Settings, grain: str = "month") -> None:
    """The organisation's metrics per period (what `devmetrics demo` prints at the end)."""
    sys.stdout.write(render(load_scope(settings, grain)))


def cmd_summary(args: argparse.Namespace) -> int:
    from devmetrics_assets.clock import utc_now

    settings = checked_configuration().settings
    today = utc_now().date()
    start = parse_day(args.start, "--from", today=today) if args.start else None
    end = parse_day(args.end, "--to", today=today, end=True) if args.end else None
    if start and end and end < start:
        raise UserError(f"--to {args.end} is before --from {args.start}")
    sys.stdout.write(render(load_scope(settings, args.grain, args.scope, start, end), args.format))
    return 0
