"""The `devmetrics` command: the demo run, loading recorded deliveries, status, summaries and the UI.

Every run goes through the Dagster instance under DAGSTER_HOME (default `.devmetrics/dagster_home`
in the working directory), the same one `devmetrics ui` / `dagster dev` uses, so command-line runs
appear in the UI's run list and asset catalog afterwards.

A mistake a person can fix (a wrong path, flag, source or configuration field) prints one line that
says what to fix and exits 2; an unexpected error prints one line and exits 1. `--debug` shows the
traceback of either.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from devmetrics_assets.cli import doctor as doctor_command
from devmetrics_assets.cli import explain as explain_command
from devmetrics_assets.cli import report as report_command
from devmetrics_assets.cli import summary as summary_command
from devmetrics_assets.cli.commands import cmd_demo, cmd_replay, cmd_ui
from devmetrics_assets.cli.common import UserError, use_sample_key, user_message
from devmetrics_assets.cli.load import cmd_load
from devmetrics_assets.cli.status import cmd_status
from devmetrics_assets.instance_setup import prepare_environment

__all__ = ["UserError", "build_parser", "main", "prepare_environment", "use_sample_key"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as for every other user error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="devmetrics", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="generate the sample organisation and materialise the whole graph")
    demo.add_argument("--repos", type=int, default=8, help="repositories in the sample org (default 8)")
    demo.add_argument("--days", type=int, default=365, help="days of history (default 365)")
    demo.add_argument("--start", help="first day, YYYY-MM-DD (default: the --days days ending yesterday, or "
                                      "the first day of the demo already in this home)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.set_defaults(func=cmd_demo)
    load = sub.add_parser("load", help="load a JSON-lines file of recorded webhook deliveries, or finish "
                                       "pending work (--resume)")
    load.add_argument("file", nargs="?", help="recorded deliveries: one envelope per line (README)")
    load.add_argument("--source", default="github", help="the source (sources.yaml) the file belongs to "
                                                         "(default github)")
    load.add_argument("--resume", action="store_true",
                      help="materialise every pending event day left by an interrupted load, then exit")
    load.add_argument("--no-verify", action="store_true",
                      help="store deliveries without checking signatures although the source declares a "
                           "secret (a failed blocking check and a notification say so)")
    load.set_defaults(func=cmd_load)
    status = sub.add_parser("status", help="pending and stranded work, quarantine by reason, last success "
                                           "per layer")
    status.set_defaults(func=cmd_status)
    summary_command.add_parser(sub)
    replay = sub.add_parser("replay", help="re-run the partitions that produced quarantined records")
    replay.add_argument("--layer", choices=["bronze", "silver", "gold"],
                        help="only this layer's rows (bronze, silver or gold)")
    replay.add_argument("--asset", help="only this asset's rows (e.g. bronze_github)")
    replay.add_argument("--reason", help="case-insensitive substring of the reason (LIKE pattern with %%)")
    replay.add_argument("--dry-run", action="store_true", help="only list the partitions")
    replay.set_defaults(func=cmd_replay)
    explain_command.add_parser(sub)
    report_command.add_parser(sub)
    doctor_command.add_parser(sub)
    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on the same instance")
    ui.add_argument("--port", type=int, default=3000,
                    help="port of the UI (default 3000); notification links use it unless "
                         "DEVMETRICS_UI_URL or alerting.yaml's ui_base_url says otherwise")
    ui.add_argument("--profile", choices=["local", "production"],
                    help="instance profile written to dagster.yaml (default: DEVMETRICS_PROFILE, else "
                         "local): production stores runs in PostgreSQL (docs/deploy.md)")
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # the reader went away (`| head`): nothing to tell it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interrupted; run the same command again to finish the job", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for a person; the traceback behind --debug
        if args.debug:
            traceback.print_exc()
        message = user_message(exc)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return 2
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(exc).__name__}: {first} (run with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
