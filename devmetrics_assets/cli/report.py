"""`devmetrics report`: one self-contained HTML file of DORA trends for the org and each team.

The page (devmetrics_assets/report/) needs no network to open: plotly.js is inlined once. Mistakes a
person can fix (no Gold yet, an unwritable --out, a malformed date) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from devmetrics_assets.cli.common import UserError, checked_configuration

GRAINS = ("day", "week", "month")


def _day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{flag} {value!r}: expected a date as YYYY-MM-DD") from None


def _check_out(out: Path) -> None:
    """Fail before any work when the file cannot be written there."""
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory; name the HTML file to write")
    folder = out.parent
    if not folder.is_dir():
        raise UserError(f"--out {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UserError(f"--out {out}: not writable")


def _write(out: Path, text: str) -> None:
    """Write next to the target, then rename: a failed write never leaves half a report."""
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    try:
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write ({exc.strerror or exc})") from None


def cmd_report(args: argparse.Namespace) -> int:
    from devmetrics_assets.clock import utc_now
    from devmetrics_assets.report.build import NoGoldError, build_report
    from devmetrics_assets.storage.selection import MONGODB, check_reachable, open_storage, storage_kind
    from devmetrics_assets.storage.warehouse import NothingMaterializedError

    start, end = _day(args.start, "--from"), _day(args.end, "--to")
    if start and end and end < start:
        raise UserError(f"--to {end} is before --from {start}")
    out = Path(args.out).expanduser()
    _check_out(out)
    # Reading needs no write access to the warehouse folder, so only a MongoDB URI is checked up front.
    checked = checked_configuration(storage=False)
    if storage_kind() == MONGODB:
        check_reachable(checked.settings)
    storage = open_storage(checked.settings)
    try:
        report = build_report(args.grain, start, end, team_of=checked.rules.team_of, warehouse=storage,
                              generated=utc_now().strftime("%Y-%m-%d %H:%M UTC"),
                              explain=False if args.no_explain else None)
    except (NothingMaterializedError, NoGoldError) as exc:
        reason = str(exc).splitlines()[0] if isinstance(exc, NoGoldError) else "no Gold tables yet"
        raise UserError(f"{reason} in the warehouse: run `devmetrics demo` or `devmetrics load FILE` "
                        "first") from None
    _write(out, report.html)
    teams = len(report.sections) - 1
    explained = "with" if report.explained else "without"
    print(f"wrote {out}: {len(report.html.encode()) / 1e6:.1f} MB, the org and {teams} team(s), "
          f"{report.charts} charts, {explained} explain tables")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="write a self-contained HTML report of the DORA metrics")
    report.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    report.add_argument("--grain", choices=GRAINS, default="month",
                        help="period of each point in the charts (default month)")
    report.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help="first period start to include (default: the first in Gold)")
    report.add_argument("--to", dest="end", metavar="YYYY-MM-DD",
                        help="last period start to include (default: the last in Gold)")
    report.add_argument("--no-explain", action="store_true",
                        help="leave out the explain tables (the rows behind each number): a faster, smaller "
                             "page")
    report.set_defaults(func=cmd_report)
