"""Run a scenario fixture through the real code path: envelopes -> Bronze -> Silver -> Gold.

A fixture is `fixtures/<name>.jsonl`: delivery envelopes written by hand from the providers' webhook
documentation. A GitHub recording line is `{"received_at", "delivery_id", "headers": {"X-GitHub-Event",
"X-GitHub-Delivery"}, "body"}` (docs/contracts.md §1) and goes through `github_jsonl.parse_deliveries`; a
landing line (GitLab, PagerDuty, generic) is `{"received_at", "delivery_id", "provider", "event_type",
"signature_status", "headers", "body_raw"}` (§6) and goes through `landing.parse_landing`. Its expected
values are `fixtures/<name>.expect.yaml`, computed by hand.

Silver is built the way the assets build it (layers/silver_*.py): each entity reads the Bronze rows of its
(provider, event type) kinds by event day, in load order, with the history the asset reads, and
silver_entities.build_* makes the rows of the window. Gold is gold_metrics.build_gold over all of Silver.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from devmetrics_assets.config import DoraRules, rules_from_mapping
from devmetrics_assets.providers.github.recorded_jsonl import parse_deliveries
from devmetrics_assets.sources.landing import parse_landing
from devmetrics_assets.sources.lines import iter_lines
from devmetrics_assets.transforms import silver_entities
from devmetrics_assets.transforms.gold_metrics import build_gold
from devmetrics_assets.transforms.payloads import as_day

FIXTURES = Path(__file__).parent / "fixtures"
DAY = pd.Timedelta(days=1)
ISSUE_TRACKER_INCIDENTS = silver_entities.kinds("incidents", ("github", "gitlab"))
# PagerDuty notes anchor on their received day: the incidents asset reads them from the window on.
OPEN_ENDED = pd.Timestamp("2200-01-01")


def scenario_names() -> list[str]:
    return sorted(p.name.removesuffix(".jsonl") for p in FIXTURES.glob("*.jsonl"))


def envelopes(name: str) -> list[dict]:
    return [
        json.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines() if line.strip()
    ]


def expectations(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"{name}.expect.yaml").read_text()) or {}


def rules_of(name: str) -> DoraRules:
    return rules_from_mapping(expectations(name).get("rules") or {}, origin=f"{name}.expect.yaml")


def bronze_of(lines: Sequence[dict], batch: str = "scenario") -> pd.DataFrame:
    """Bronze rows of these envelopes (GitHub recordings and landing envelopes), in the given order."""
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        by_kind: dict[str, list[str]] = {}
        for env in lines:
            if "provider" in env and "body_raw" not in env:
                # Landing envelopes carry the body as its exact text; the fixtures write it as an object.
                env = {k: v for k, v in env.items() if k != "body"} | {"body_raw": json.dumps(env["body"])}
            by_kind.setdefault(env.get("provider", "github-recording"), []).append(json.dumps(env))
        for kind, texts in by_kind.items():
            path = Path(tmp) / f"{kind}.jsonl"
            path.write_text("\n".join(texts) + "\n")
            if kind == "github-recording":
                rows, rejects = parse_deliveries([path], source="github", secret=None, load_batch_id=batch)
            else:
                rows, rejects = parse_landing(
                    iter_lines([path]), source=kind, provider=kind, load_batch_id=batch
                )
            assert rejects.empty, f"fixture lines rejected by Bronze: {rejects['reason'].tolist()}"
            frames.append(rows)
    bronze = pd.concat(frames, ignore_index=True)
    # Load order is the order of the lines (read_bronze hands Silver the rows in load order).
    position = {
        str(e.get("delivery_id") or e["headers"]["X-GitHub-Delivery"]): i for i, e in enumerate(lines)
    }
    bronze["_order"] = bronze["delivery_id"].map(position)
    return bronze.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _read(
    bronze: pd.DataFrame,
    kinds: Sequence[tuple[str, str]],
    end: pd.Timestamp,
    start: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Warehouse.read_bronze: rows of these (provider, event type) kinds with start <= event_day < end."""
    pairs = pd.MultiIndex.from_arrays([bronze["provider"], bronze["event_type"]])
    day = as_day(bronze["event_day"])
    keep = pairs.isin(list(kinds)) & (day < end).to_numpy()
    if start is not None:
        keep &= (day >= start).to_numpy()
    return bronze[keep].reset_index(drop=True)


def silver_window(
    bronze: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    """Silver rows of the window [start, end), each entity reading Bronze as its asset does."""
    changes, _ = silver_entities.build_changes(
        _read(bronze, silver_entities.kinds("changes"), end + DAY),
        rules,
        start,
        end,
        _read(bronze, ISSUE_TRACKER_INCIDENTS, end + DAY),
    )
    rows = _read(bronze, silver_entities.kinds("deployments"), end + DAY)
    mainline = _read(bronze, silver_entities.kinds("mainline", ("github", "gitlab")), end)
    generic = rows[(rows["provider"] == "generic").to_numpy() & (as_day(rows["event_day"]) < end).to_numpy()]
    mainline = pd.concat([mainline, generic], ignore_index=True) if len(generic) else mainline
    deployments, _ = silver_entities.build_deployments(rows, mainline, rules, start, end)
    issues = _read(bronze, silver_entities.open_ended_incident_kinds(False), end, start)
    paged = _read(bronze, silver_entities.open_ended_incident_kinds(True), OPEN_ENDED, start)
    incidents, _ = silver_entities.build_incidents(
        pd.concat([issues, paged], ignore_index=True) if len(paged) else issues,
        _read(bronze, silver_entities.kinds("mainline"), end),
        rules,
        start,
        end,
    )
    return {"changes": changes, "deployments": deployments, "incidents": incidents}


def event_days(bronze: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first, last] event day of the Bronze rows."""
    days = as_day(bronze["event_day"])
    return days.min(), days.max()


def period_bounds(first: pd.Timestamp, last: pd.Timestamp, period: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if period == "day":
        return first, last + DAY
    if period == "week":
        return first - pd.Timedelta(days=first.day_of_week), last - pd.Timedelta(
            days=last.day_of_week
        ) + 7 * DAY
    return first.replace(day=1), (last.replace(day=1) + pd.offsets.MonthBegin(1))


def gold_all(
    silver: dict[str, pd.DataFrame], rules: DoraRules, first: pd.Timestamp, last: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    out = {}
    for period in ("day", "week", "month"):
        start, end = period_bounds(first, last, period)
        out[period] = build_gold(
            silver["deployments"], silver["changes"], silver["incidents"], rules, period, start, end
        )
    return out


@dataclass
class Outcome:
    """What a scenario produced: Bronze, Silver of the whole range, Gold at every grain."""

    bronze: pd.DataFrame
    silver: dict[str, pd.DataFrame]
    gold: dict[str, pd.DataFrame]
    rules: DoraRules
    first_day: pd.Timestamp
    last_day: pd.Timestamp
    extra: dict[str, Any] = field(default_factory=dict)


def run_lines(lines: Sequence[dict], rules: DoraRules, *, span: tuple | None = None) -> Outcome:
    """The whole pipeline over these envelopes: Silver over [first event day, last event day + 1) at once."""
    bronze = bronze_of(lines)
    first, last = span or event_days(bronze)
    silver = silver_window(bronze, rules, first, last + DAY)
    return Outcome(bronze, silver, gold_all(silver, rules, first, last), rules, first, last)


def run(name: str) -> Outcome:
    return run_lines(envelopes(name), rules_of(name))


def org_totals(gold: pd.DataFrame) -> pd.Series:
    """Sums of every count of the org rows (the whole history of the scenario)."""
    return gold[gold["scope_type"] == "org"].sum(numeric_only=True)
