"""Trust demo: plant four problems in the sample organisation's landing files and show what is told.

    python scripts/trust_demo.py                      # 4 repos x 70 days, in a temporary folder
    python scripts/trust_demo.py --repos 3 --days 50 --work /tmp/demo   # smaller, kept on disk
    python scripts/trust_demo.py --today 2025-06-02                       # judged as of that day

The seeded sample organisation is generated so that its last received day is yesterday: the Bronze
`freshness` check compares the newest delivery with the product clock (devmetrics_assets.clock: the real
time, or `DEVMETRICS_NOW` / `--today` when pinned), so a history that ends yesterday is "fresh" and a
source that went silent three days ago is "quiet". The clean history is materialised first (every day
except the last 10), then the last 10 days' landing files get four planted problems and are materialised
as one run, as a daily catch-up would:

1. silent source   the last 3 received days' files are deleted       -> freshness (ERROR), delivery_gaps
2. malformed batch ~30 % of one day's lines are cut in half (not JSON) -> bronze quarantine_rate
3. volume drop     one day keeps ~15 % of its deliveries             -> volume_anomaly
4. schema change   one day's push bodies get `repository` -> `repo`  -> schema_drift (Silver quarantines)
                   (re-signed with the sample secret, so Bronze accepts them and the shape is what changed)

The notification sensors are then ticked once (`build_sensor_context` with the instance and the
definitions; notifier `build_notifier(None, home)`: everything to the console channel
`notifications.jsonl`). On its first tick the check sensor reports each check's latest execution, which
is why all four problems share one run: each planted problem is the latest state of its check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import pandas as pd  # noqa: E402

from devmetrics_assets.alerting.notifier import build_notifier  # noqa: E402
from devmetrics_assets.alerting.outbox import DB_FILE  # noqa: E402
from devmetrics_assets.alerting.sensors import notification_sensors  # noqa: E402
from devmetrics_assets.checks import validations as V  # noqa: E402
from devmetrics_assets.clock import NOW_ENV, utc_now  # noqa: E402
from devmetrics_assets.config import Settings, configured_partition_start  # noqa: E402
from devmetrics_assets.definitions import build_definitions  # noqa: E402
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org  # noqa: E402
from devmetrics_assets.demo.sample_org.payloads import body_text, sign  # noqa: E402
from devmetrics_assets.runner import materialise_days  # noqa: E402

BRONZE = "bronze_github"
PLANTED_WINDOW = 10  # the last 10 days are the "later days"; the last 3 of them go silent
SILENT_DAYS = 3
CORRUPT_EVERY = (0, 3, 6)  # line index % 10 in these -> corrupted: 30 %
KEEP_EVERY = (0, 7, 14)  # line index % 20 in these -> kept: 15 %


@dataclass
class Problem:
    """A planted problem: where it was planted and which checks should say so (first = primary)."""

    key: str
    label: str
    days: list[date]
    checks: list[tuple[str, str]]  # (asset, check)
    detail: str = ""


@dataclass
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    severity: str
    description: str
    metadata: dict[str, Any]
    recorded_at: float  # event timestamp in the Dagster instance


@dataclass
class Notified:
    problem_key: str
    title: str
    severity: str
    body: str
    occurred_at: float
    written_at: float | None  # outbox delivered_at for the console channel


@dataclass
class DemoResult:
    problems: list[Problem]
    outcomes: dict[tuple[str, str], CheckOutcome]
    notifications: list[Notified]
    tick_summaries: dict[str, str] = field(default_factory=dict)
    console_file: Path | None = None

    def notifications_for(self, asset: str, check: str) -> list[Notified]:
        return [n for n in self.notifications if n.problem_key == f"check:{asset}:{check}"]


# ---- planting ------------------------------------------------------------------------------------
def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def corrupt_lines(lines: Sequence[str]) -> tuple[list[str], int]:
    """~30 % of the lines cut in half: no longer JSON, so Bronze quarantines them."""
    out = [line[: len(line) // 2] if i % 10 in CORRUPT_EVERY else line for i, line in enumerate(lines)]
    return out, sum(1 for i in range(len(lines)) if i % 10 in CORRUPT_EVERY)


def thin_lines(lines: Sequence[str]) -> list[str]:
    """Keep ~15 % of the deliveries (a webhook filtered or disabled for most of the day)."""
    return [line for i, line in enumerate(lines) if i % 20 in KEEP_EVERY]


def rename_repository(lines: Sequence[str]) -> tuple[list[str], int]:
    """Push bodies get `repository` renamed to `repo` (field order kept), re-signed with the sample secret."""
    out, changed = [], 0
    for line in lines:
        envelope = json.loads(line)
        if envelope["headers"].get("X-GitHub-Event") != "push" or "repository" not in envelope["body"]:
            out.append(line)
            continue
        body = {("repo" if k == "repository" else k): v for k, v in envelope["body"].items()}
        envelope["body"] = body
        envelope["headers"]["X-Hub-Signature-256"] = sign(body_text(body), SAMPLE_WEBHOOK_SECRET)
        out.append(json.dumps(envelope, separators=(",", ":"), ensure_ascii=False))
        changed += 1
    return out, changed


def drop_is_visible(counts: dict[date, int], day: date, stored: dict[date, int] | None = None) -> bool:
    """Would Bronze's volume_anomaly see `day` cut to ~15 %? (the project's own pure check)

    The baseline days are what Bronze stored (`stored`: forged, malformed and redelivered lines of a
    file are not deliveries), falling back to the file's line counts; the day itself keeps ~15 % of its
    lines (Bronze can only keep fewer).

    A weekday whose baseline swings a lot (e.g. 19..43 deliveries on Tuesdays) cannot show a drop beyond
    its noise band by design; the demo plants the drop where the check is able to judge it.
    """
    kept = sum(1 for i in range(counts[day]) if i % 20 in KEEP_EVERY)
    baseline = {**counts, **(stored or {})}
    before = [d for d in baseline if d < day]
    frame = pd.DataFrame({"received_day": [pd.Timestamp(d) for d in [*before, day]],
                          "deliveries": [baseline[d] for d in before] + [kept]})
    return not V.volume_anomaly(frame, pd.Timestamp(day), pd.Timestamp(day + timedelta(days=1)),
                                now=pd.Timestamp(day + timedelta(days=1), tz="UTC")).passed


def plant_problems(landing: Path, later_days: Sequence[date], stored: dict[date, int] | None = None
                   ) -> list[Problem]:
    """Plant the four problems in the landing files of `later_days` (the last SILENT_DAYS go silent).

    The other later days are assigned busiest first: the volume drop to the busiest day whose drop the
    volume check can judge, the schema change to the day with the most pushes, the malformed batch to
    the busiest remaining day (so that its 30 % is over the 5 % rate of the whole run's records).
    """
    files = {date.fromisoformat(p.stem): p for p in landing.glob("*.jsonl")}
    counts = {d: len(_lines(p)) for d, p in sorted(files.items())}
    silent = list(later_days[-SILENT_DAYS:])
    for day in silent:
        (landing / f"{day.isoformat()}.jsonl").unlink(missing_ok=True)
    candidates = sorted((d for d in later_days[:-SILENT_DAYS] if d in counts), key=lambda d: (-counts[d], d))
    drop_day = next((d for d in candidates if drop_is_visible(counts, d, stored)), candidates[0])
    rest = [d for d in candidates if d != drop_day]
    pushes = {d: sum('"X-GitHub-Event":"push"' in line for line in _lines(files[d])) for d in rest}
    shape_day = max(rest, key=lambda d: (pushes[d], d))
    bad_day = [d for d in rest if d != shape_day][0]
    size = counts

    path = landing / f"{drop_day.isoformat()}.jsonl"
    before = _lines(path)
    kept = thin_lines(before)
    _write(path, kept)
    path = landing / f"{bad_day.isoformat()}.jsonl"
    corrupted, n_bad = corrupt_lines(_lines(path))
    _write(path, corrupted)
    path = landing / f"{shape_day.isoformat()}.jsonl"
    renamed, n_renamed = rename_repository(_lines(path))
    _write(path, renamed)
    return [
        Problem("silent", "silent source", silent, [(BRONZE, "freshness"), (BRONZE, "delivery_gaps")],
                f"files of the last {len(silent)} received days deleted"),
        Problem("malformed", "malformed batch", [bad_day], [(BRONZE, "quarantine_rate")],
                f"{n_bad} of {size[bad_day]} lines corrupted"),
        Problem("volume", "volume drop", [drop_day], [(BRONZE, "volume_anomaly")],
                f"{len(kept)} of {len(before)} deliveries kept"
                + ("" if drop_is_visible(counts, drop_day, stored)
                   else "; in the noise band of all later days")),
        Problem("schema", "schema change", [shape_day],
                [(BRONZE, "schema_drift"), ("silver_changes", "quarantine_rate")],
                f"{n_renamed} push bodies: repository -> repo"),
    ]


# ---- materialising --------------------------------------------------------------------------------
def stored_counts(settings: Settings) -> dict[date, int]:
    """Deliveries Bronze stored per received day (what the volume check counts)."""
    from devmetrics_assets.storage.warehouse import Warehouse

    per_day = Warehouse(settings.warehouse_path).query(
        "SELECT received_day, count(*) AS n FROM bronze_deliveries GROUP BY received_day")
    pairs = zip(per_day["received_day"], per_day["n"], strict=True)
    return {pd.Timestamp(d).date(): int(n) for d, n in pairs}


# ---- reading what happened -----------------------------------------------------------------------
def check_outcomes(instance: dg.DagsterInstance, defs: dg.Definitions) -> dict[tuple[str, str], CheckOutcome]:
    """The latest completed execution of every asset check in the graph."""
    graph = defs.resolve_asset_graph()
    outcomes = {}
    for key in graph.asset_check_keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        record = history[0] if history else None
        evaluation = record.evaluation if record is not None else None
        if evaluation is None:
            continue
        metadata = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
        asset = key.asset_key.to_user_string()
        outcomes[(asset, key.name)] = CheckOutcome(
            asset=asset, check=key.name, passed=evaluation.passed,
            severity=evaluation.severity.value if evaluation.severity else "",
            description=evaluation.description or str(metadata.get("summary", "")), metadata=metadata,
            recorded_at=record.event.timestamp if record.event else record.create_timestamp)
    return outcomes


def console_notifications(home: Path) -> list[Notified]:
    """Messages the console channel wrote, with the time the outbox recorded them as delivered."""
    written: dict[str, float] = {}
    db = home / DB_FILE
    if db.exists():
        con = sqlite3.connect(db)
        try:
            for payload, delivered_at in con.execute(
                "SELECT payload, delivered_at FROM outbox WHERE channel = 'console' AND status = 'delivered'"
            ):
                message = json.loads(payload)
                written[message.get("message_id") or message["problem_key"]] = delivered_at
        finally:
            con.close()
    path = home / "notifications.jsonl"
    out = []
    for line in _lines(path) if path.exists() else []:
        message = json.loads(line)
        out.append(Notified(
            problem_key=message["problem_key"], title=message["title"], severity=message["severity"],
            body=message["body"], occurred_at=datetime.fromisoformat(message["occurred_at"]).timestamp(),
            written_at=written.get(message.get("message_id") or message["problem_key"])))
    return out


def tick_sensors(instance: dg.DagsterInstance, defs: dg.Definitions, home: Path) -> dict[str, str]:
    """One tick of each notification sensor, as the daemon would run it (no cursor: the first tick)."""
    summaries = {}
    for sensor in notification_sensors(lambda: build_notifier(None, home)):
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        result = sensor.evaluate_tick(context)
        summaries[sensor.name] = result.skip_message or ""
    return summaries


# ---- the demo ------------------------------------------------------------------------------------
@contextmanager
def demo_environment() -> Iterator[None]:
    """The sample secret set, MongoDB off (the embedded DuckDB warehouse); restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("GITHUB_WEBHOOK_SECRET", "MONGODB_URI")}
    os.environ["GITHUB_WEBHOOK_SECRET"] = SAMPLE_WEBHOOK_SECRET
    os.environ.pop("MONGODB_URI", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_demo(work: Path, *, repos: int = 4, days: int = 70, seed: int = 11,
             today: date | None = None, log=print) -> DemoResult:
    """Generate, land, materialise clean history, plant, materialise the later days, tick, collect."""
    today = today or utc_now().date()
    start = today - timedelta(days=days)  # last received day = yesterday
    org = generate_sample_org(work / "generated", repos=repos, days=days, start=start, seed=seed)
    home = work / "home"
    settings = Settings(home=home, warehouse_path=home / "warehouse.duckdb", landing_dir=home / "landing",
                        rules_path=home / "rules.yaml", partition_start=configured_partition_start())
    landing = settings.landing_dir / "github"
    landing.mkdir(parents=True, exist_ok=True)
    for path in org.deliveries_dir.glob("*.jsonl"):
        shutil.copyfile(path, landing / path.name)
    shutil.copyfile(org.rules_path, settings.rules_path)
    all_days = [start + timedelta(days=i) for i in range(days)]
    clean, later = all_days[:-PLANTED_WINDOW], all_days[-PLANTED_WINDOW:]
    with demo_environment(), dg.instance_for_test() as instance:
        defs = build_definitions(settings)
        t0 = time.monotonic()
        results = materialise_days(defs, instance, clean)
        log(f"clean history {clean[0]}..{clean[-1]} ({len(clean)} days): "
            f"{sum(r.success for r in results)}/{len(results)} runs succeeded "
            f"in {time.monotonic() - t0:.1f} s")
        problems = plant_problems(landing, later, stored_counts(settings))
        for p in problems:
            log(f"planted {p.label}: {', '.join(d.isoformat() for d in p.days)} ({p.detail})")
        t0 = time.monotonic()
        results = materialise_days(defs, instance, later)
        log(f"planted days {later[0]}..{later[-1]}: {sum(r.success for r in results)}/{len(results)} runs "
            f"succeeded in {time.monotonic() - t0:.1f} s")
        summaries = tick_sensors(instance, defs, home)
        outcomes = check_outcomes(instance, defs)
    return DemoResult(problems, outcomes, console_notifications(home), summaries,
                      home / "notifications.jsonl")


# ---- printing ------------------------------------------------------------------------------------
SHOWN_METADATA = ("quarantined", "read", "rate", "state", "age_minutes", "anomalous_days", "gap_days",
                  "appeared", "disappeared", "sample")


def _short(value: Any, limit: int = 200) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "baseline_median" in value[0]:
        value = ", ".join(f"{v['day']}: {v['deliveries']} vs median {v['baseline_median']:g}" for v in value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def report(result: DemoResult, log=print) -> str:
    """Print per problem what fired and what was told; return the Markdown summary table."""
    rows = ["| problem | check | severity | notification title | seconds from check to notification |",
            "|---|---|---|---|---|"]
    for p in result.problems:
        log(f"\n## {p.label} ({', '.join(d.isoformat() for d in p.days)}; {p.detail})")
        for asset, check in p.checks:
            outcome = result.outcomes.get((asset, check))
            if outcome is None:
                log(f"- {asset} / {check}: never executed")
                continue
            state = "PASSED" if outcome.passed else f"FAILED ({outcome.severity})"
            log(f"- check {asset} / {check}: {state}: {outcome.description}")
            extra = {k: outcome.metadata[k] for k in SHOWN_METADATA if k in outcome.metadata}
            for name, value in extra.items():
                log(f"    {name}: {_short(value)}")
            for n in result.notifications_for(asset, check):
                lag = n.written_at - outcome.recorded_at if n.written_at is not None else None
                log(f"  -> console [{n.severity}] {n.title}"
                    + (f" (written {lag:.2f} s after the check result)" if lag is not None else ""))
                rows.append(f"| {p.label} | {asset} / {check} | {outcome.severity} | {n.title} | "
                            f"{'n/a' if lag is None else f'{lag:.2f}'} |")
            if outcome.passed or not result.notifications_for(asset, check):
                rows.append(f"| {p.label} | {asset} / {check} | "
                            f"{'passed' if outcome.passed else outcome.severity} | (none) | - |")
    planted = {f"check:{a}:{c}" for p in result.problems for a, c in p.checks}
    others = [n for n in result.notifications if n.problem_key not in planted]
    log(f"\nother notifications on the console channel: {len(others)}")
    for n in others:
        log(f"- [{n.severity}] {n.title}")
    log(f"sensor ticks: {json.dumps(result.tick_summaries)}")
    table = "\n".join(rows)
    log("\n" + table)
    return table


def main(argv: Sequence[str] | None = None) -> DemoResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=4)
    parser.add_argument("--days", type=int, default=70)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=None, help="keep files here (default: a temp folder)")
    parser.add_argument("--today", type=date.fromisoformat, default=None,
                        help="judge as if today were this day (YYYY-MM-DD; pins DEVMETRICS_NOW to midnight)")
    args = parser.parse_args(argv)
    if args.today is not None:
        os.environ[NOW_ENV] = args.today.isoformat()
    started = time.monotonic()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        result = run_demo(args.work, repos=args.repos, days=args.days, seed=args.seed)
    else:
        with tempfile.TemporaryDirectory(prefix="trust_demo_") as tmp:
            result = run_demo(Path(tmp), repos=args.repos, days=args.days, seed=args.seed)
    report(result)
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    return result


if __name__ == "__main__":
    main()
