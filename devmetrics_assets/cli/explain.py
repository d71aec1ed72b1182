"""`devmetrics explain`: a Gold number, its formula with counts, and the rows behind it."""

from __future__ import annotations

import argparse

from devmetrics_assets.cli.common import UserError


def cmd_explain(args: argparse.Namespace) -> int:
    raise UserError("devmetrics explain is not built yet")


def add_parser(sub: argparse._SubParsersAction) -> None:
    explain = sub.add_parser("explain", help="show a Gold number, its formula and the rows behind it")
    explain.add_argument("--metric", required=True, help="the metric to explain")
    explain.add_argument("--scope", default="org", help="org, or TYPE:NAME (team:payments, repo:OWNER/NAME)")
    explain.add_argument("--period", required=True,
                         help="YYYY-MM-DD (day), YYYY-Www (week) or YYYY-MM (month)")
    explain.set_defaults(func=cmd_explain)
