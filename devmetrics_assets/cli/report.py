"""`devmetrics report`: one self-contained HTML file of DORA trends for the org and each team."""

from __future__ import annotations

import argparse

from devmetrics_assets.cli.common import UserError


def cmd_report(args: argparse.Namespace) -> int:
    raise UserError("devmetrics report is not built yet")


def add_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write a self-contained HTML report of the DORA metrics")
    report.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    report.set_defaults(func=cmd_report)
