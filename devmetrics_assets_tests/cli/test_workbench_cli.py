"""The command line a person enjoys: help on every option, progress lines on long work, `summary` by
scope and date range in three formats, and a demo whose partitions are all materialised."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pandas as pd
import pytest

from devmetrics_assets import run_progress
from devmetrics_assets.cli import build_parser, main
from devmetrics_assets.cli.common import UserError
from devmetrics_assets.cli.summary import parse_day, parse_scope
from devmetrics_assets.config import PARTITIONS_FILE, Settings
from devmetrics_assets.definitions import build_definitions

PROGRESS = re.compile(r"^\[(?P<phase>[^\]]+)\] (?P<done>\d+)/(?P<total>\d+) partitions · (?P<elapsed>.+)$")


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from subcommands(sub)


def test_every_option_of_every_subcommand_has_help() -> None:
    missing = [f"{prog} {'/'.join(action.option_strings) or action.dest}"
               for prog, parser in subcommands(build_parser()) for action in parser._actions
               if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
               and not (action.help and action.help.strip())]
    assert missing == []
    names = [prog for prog, _ in subcommands(build_parser())]
    assert {"devmetrics demo", "devmetrics load", "devmetrics summary", "devmetrics ui"} <= set(names)


def test_progress_counts_materialisations_throttled_and_ends_at_total() -> None:
    ticks = itertools.count()
    out = io.StringIO()
    progress = run_progress.Progress(stream=out, clock=lambda: float(next(ticks)), every_seconds=3)
    phase = progress.phase(run_progress.phase_label(["gold", "silver", "silver", "bronze"], "daily"), 10)
    event = SimpleNamespace(dagster_event=SimpleNamespace(event_type_value="ASSET_MATERIALIZATION"))
    other = SimpleNamespace(dagster_event=SimpleNamespace(event_type_value="STEP_SUCCESS"))
    for _ in range(10):
        phase.on_event(event)
        phase.on_event(other)
        phase.on_event(SimpleNamespace(dagster_event=None))
    phase.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[bronze+silver+gold daily] 0/10 partitions · 1 s"
    assert lines[-1].startswith("[bronze+silver+gold daily] 10/10 partitions")
    assert 3 <= len(lines) < 10  # throttled: not one line per event
    assert run_progress.format_elapsed(125.4) == "2 min 05 s"


def test_scopes_and_days_parse_as_documented() -> None:
    assert parse_scope("org") == ("org", None)
    assert parse_scope("team") == ("team", None)
    assert parse_scope("repo:acme/payments-api") == ("repo", "acme/payments-api")
    for bad in ("teams", "team:", "org:acme", "rep:x"):
        with pytest.raises(UserError, match="--scope"):
            parse_scope(bad)
    today = date(2025, 3, 15)
    assert parse_day("2025-02-03", "--from", today=today) == date(2025, 2, 3)
    assert parse_day("2025-02", "--from", today=today) == date(2025, 2, 1)
    assert parse_day("2025-02", "--to", today=today, end=True) == date(2025, 2, 28)
    assert parse_day("30d", "--from", today=today) == date(2025, 2, 13)
    assert parse_day("2w", "--from", today=today) == date(2025, 3, 1)
    assert parse_day("1m", "--from", today=today) == date(2025, 2, 15)
    with pytest.raises(UserError, match="--from"):
        parse_day("last week", "--from", today=today)


def seconds(elapsed: str) -> int:
    """`7 s` or `2 min 05 s` as seconds."""
    numbers = [int(n) for n in re.findall(r"\d+", elapsed)]
    return numbers[0] * 60 + numbers[1] if "min" in elapsed else numbers[0]


def progress_lines(stderr: str) -> dict[str, list[tuple[int, int]]]:
    phases: dict[str, list[tuple[int, int]]] = {}
    for line in stderr.splitlines():
        match = PROGRESS.match(line)
        if match:
            phases.setdefault(match["phase"], []).append((int(match["done"]), int(match["total"])))
    return phases


@pytest.mark.slow
def test_a_demo_reports_progress_looks_healthy_and_summarises_any_scope(
        home: Path, monkeypatch, capsys) -> None:
    # "Today" pinned to the real day, so the demo's history ends yesterday for the UI's partitions too.
    today = datetime.now(UTC).date()
    monkeypatch.setenv("DEVMETRICS_NOW", f"{today.isoformat()}T12:00:00Z")
    fake = itertools.count()
    monkeypatch.setattr(run_progress, "CLOCK", lambda: float(next(fake)))
    assert main(["demo", "--repos", "3", "--days", "21"]) == 0
    captured = capsys.readouterr()
    phases = progress_lines(captured.err)
    assert {"bronze+silver+gold daily", "gold weekly", "gold monthly"} <= set(phases)
    for phase, counts in phases.items():
        done = [d for d, _ in counts]
        assert done == sorted(done) and done[0] == 0, (phase, counts)
        assert counts[-1][0] == counts[-1][1] > 0, (phase, counts)  # ends at total
        assert len({t for _, t in counts}) == 1
    elapsed = [seconds(m["elapsed"]) for m in map(PROGRESS.match, captured.err.splitlines()) if m]
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0

    # The partitions start on the history's first day (not 2024-12), and it ends yesterday: in the UI,
    # every day partition of every daily asset but today's is materialised.
    first = today - timedelta(days=21)
    assert json.loads((home / PARTITIONS_FILE).read_text()) == {"start": first.isoformat()}
    defs = build_definitions(Settings.from_env())
    with dg.DagsterInstance.get() as instance:
        for name in ("bronze_github", "silver_deployments", "gold_dora_daily"):
            partitions = defs.resolve_assets_def(name).partitions_def
            keys = partitions.get_partition_keys()
            assert keys[0] == first.isoformat()
            missing = set(keys) - instance.get_materialized_partitions(dg.AssetKey(name))
            assert missing <= {today.isoformat()}, (name, sorted(missing))
    assert "(seed 7)" in captured.out and f"from {first}" in captured.out

    # summary: a scope, every team, a date range, CSV and JSON; unknown names list the known ones
    assert main(["summary", "--scope", "team", "--grain", "week"]) == 0
    table = capsys.readouterr().out
    assert "payments" in table and "commerce" in table and "scope" in table
    assert main(["summary", "--scope", "repo:acme/payments-api", "--from", "14d", "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(frame["scope"]) == {"acme/payments-api"} and len(frame)
    assert pd.to_datetime(frame["period_start"]).min() >= pd.Timestamp(today - timedelta(days=14))
    last = first + timedelta(days=6)
    assert main(["summary", "--scope", "team:payments", "--grain", "day", "--from", first.isoformat(),
                 "--to", last.isoformat(), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {(r["scope_type"], r["scope"]) for r in rows} == {("team", "payments")}
    days = sorted(r["period_start"] for r in rows)
    assert first.isoformat() <= days[0] <= days[-1] <= last.isoformat()
    assert main(["summary", "--scope", "repo:acme/nope"]) == 2
    error = capsys.readouterr().err
    assert "acme/nope" in error and "acme/payments-api" in error and len(error.strip().splitlines()) == 1
    assert main(["summary", "--from", "2001-01-01", "--to", "2001-02-01"]) == 2
    assert "the stored months run from" in capsys.readouterr().err


class Execed(Exception):
    """Raised instead of exec-ing `dagster dev`."""


def test_ui_port_sets_the_notification_links_unless_an_address_is_configured(home: Path, monkeypatch) -> None:
    from devmetrics_assets.alerting.routing import UI_URL_ENV
    from devmetrics_assets.cli import commands

    def fake_exec(file: str, command: list[str]) -> None:
        raise Execed(command)

    monkeypatch.setattr(commands.os, "execvp", fake_exec)
    monkeypatch.setattr("devmetrics_assets.instance_setup.ui_lock", lambda dagster_home: io.StringIO())
    monkeypatch.setenv(UI_URL_ENV, "")  # unset (empty), and unset again after the test
    with pytest.raises(Execed):
        commands.cmd_ui(argparse.Namespace(port=3111, profile=None))
    assert commands.os.environ[UI_URL_ENV] == "http://127.0.0.1:3111"  # inherited by dagster dev's daemon

    monkeypatch.setenv(UI_URL_ENV, "")
    (home / "alerting.yaml").write_text("ui_base_url: https://dagster.example.com\n")
    with pytest.raises(Execed):
        commands.cmd_ui(argparse.Namespace(port=3112, profile=None))
    assert commands.os.environ[UI_URL_ENV] == ""  # the configured public address wins


def test_the_partition_start_follows_a_fresh_homes_data_and_then_only_moves_earlier(
        home: Path, monkeypatch) -> None:
    from devmetrics_assets.config import configured_partition_start, extend_partition_start

    settings = Settings.from_env()
    assert settings.partition_start == "2024-12-01"  # nothing persisted: the default
    later = extend_partition_start(settings, date(2025, 3, 17), fresh=True)
    assert later.partition_start == "2025-03-01" == Settings.from_env().partition_start  # persisted
    assert configured_partition_start() == "2024-12-01"  # a new home beside this one is not moved later
    exact = extend_partition_start(later, date(2025, 3, 17), fresh=True, exact=True)
    assert Settings.from_env().partition_start == exact.partition_start == "2025-03-17"
    # a home holding data: a later start would hide stored partitions, an earlier one is taken
    assert extend_partition_start(exact, date(2025, 6, 2)).partition_start == "2025-03-17"
    assert extend_partition_start(exact, date(2024, 6, 2)).partition_start == "2024-06-01"
    assert Settings.from_env().partition_start == "2024-06-01"
    # an explicit DEVMETRICS_PARTITION_START is never moved later, and caps what is persisted
    monkeypatch.setenv("DEVMETRICS_PARTITION_START", "2024-01-01")
    pinned = Settings.from_env()
    assert pinned.partition_start == "2024-01-01"
    assert extend_partition_start(pinned, date(2025, 1, 5), fresh=True).partition_start == "2024-01-01"
