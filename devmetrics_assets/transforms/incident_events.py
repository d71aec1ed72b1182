"""Normalised incident events → silver_incidents rows: the incident rules for GitLab, PagerDuty and generic.

Each provider's parser only translates its payloads into events (normalised.EVENT_COLUMNS) plus a reason
per unusable delivery; the rules that make an incident out of them live here once:
- events are ordered by (time, received_at, row) and deduplicated on their natural key, so the same state
  change or note version delivered by webhook and by API pull counts once;
- the state follows open / close / reopen events and snapshots; reopened_count counts closed → open
  transitions; resolved_at is the last close while the final state is closed;
- identity: incidents are namespaced by provider. Issue trackers (GitHub, GitLab) keep `<repo>#<number>`,
  the numbers a fixing PR or MR names with `Closes #N`; PagerDuty and generic incidents are
  `<repo>#<provider>-<number>`, so a PagerDuty incident number never matches an issue of the same repo;
- root cause: the last `root cause:` mention in time (latest description, latest version of every
  non-deleted note; a note wins a tie), resolved against the combined main line like GitHub's
  (payloads.resolve_short_shas).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.normalised import EVENT_COLUMNS, empty_events, parse_times, reason_series
from devmetrics_assets.transforms.payloads import (
    conform,
    resolve_short_shas,
    root_cause_mentions,
    utc_day,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects, in_window
from devmetrics_assets.transforms.silver_contract import INCIDENTS_DTYPES

# A provider's parser: (Bronze rows, rules) → (normalised events, reasons aligned with the rows).
EventParser = Callable[[pd.DataFrame, DoraRules], tuple[pd.DataFrame, pd.Series]]


def _root_cause(states: list[dict], notes: list[dict]) -> str | None:
    """Last `root cause:` mention in time: latest description (timed when that text first appeared) and the
    latest version of every non-deleted note (timed at its creation); a note wins a tie."""
    candidates: list[tuple[pd.Timestamp, int, int, str]] = []
    if states:
        latest = states[-1]["text"]
        mentions = root_cause_mentions(latest)
        if mentions:
            since = min(s["time"] for s in states if s["text"] == latest)
            candidates += [(since, 0, k, raw) for k, raw in enumerate(mentions)]
    versions: dict[str, list[dict]] = {}
    for n in notes:
        versions.setdefault(n["note_id"], []).append(n)
    for vs in versions.values():
        if vs[-1]["note_deleted"]:
            continue
        created = min(v["time"] for v in vs)
        candidates += [(created, 1, k, raw) for k, raw in enumerate(root_cause_mentions(vs[-1]["text"]))]
    return max(candidates, key=lambda c: c[:3])[3] if candidates else None


def incident_id(repo: str, provider: str, number: int, issue_tracker: bool = False) -> str:
    """`<repo>#<number>` for issue trackers (`Provider.issue_tracker`), `<repo>#<provider>-<number>` for
    every other provider (their numbers are not what a `Closes #N` names)."""
    return f"{repo}#{number}" if issue_tracker else f"{repo}#{provider}-{number}"


def _summary(repo: str, number: int, group: list[dict], provider: str, issue_tracker: bool) -> dict:
    states = [e for e in group if e["action"] != "note"]
    notes = [e for e in group if e["action"] == "note" and isinstance(e["note_id"], str)]
    state, reopened, closes = "open", 0, []
    for e in states:
        new = e["state"] or {"close": "closed", "open": "open", "reopen": "open"}.get(e["action"], state)
        if new == "open" and state == "closed":
            reopened += 1
        if new == "closed" and (state != "closed" or e["action"] == "close"):
            closes.append(e["resolved_at"] if not pd.isna(e["resolved_at"]) else e["time"])
        state = new
    titles = [e["title"] for e in group if isinstance(e["title"], str) and e["title"]]
    opened = [e["opened_at"] for e in group if not pd.isna(e["opened_at"])]
    return {
        "incident_id": incident_id(repo, provider, number, issue_tracker),
        "repo": repo,
        "provider": provider,
        "number": number,
        "title": titles[-1] if titles else "",
        "opened_at": min(opened) if opened else min(e["time"] for e in group),
        "resolved_at": max(closes) if state == "closed" and closes else pd.NaT,
        "reopened_count": reopened,
        "is_open": state != "closed",
        "root_cause_raw": _root_cause(states, notes),
    }


def incidents_from_events(
    events: pd.DataFrame,
    mainline: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    provider: str = "generic",
    issue_tracker: bool = False,
) -> pd.DataFrame:
    """silver_incidents rows opened in [start, end) from normalised incident events (EVENT_COLUMNS).

    Events are ordered by (time, received_at, row) and deduplicated on their natural key (the same state
    change or note version delivered by webhook and by API pull counts once). reopened_count counts
    closed → open transitions; resolved_at is the last close while the final state is closed.
    """
    if events.empty:
        return conform(pd.DataFrame(columns=list(INCIDENTS_DTYPES)), INCIDENTS_DTYPES)
    ev = events.sort_values(["time", "received_at", "row"], na_position="first", kind="stable")
    ev = ev.drop_duplicates(["repo", "number", "action", "state", "time", "note_id", "text"])
    groups: dict[tuple[str, int], list[dict]] = {}
    for e in ev.to_dict("records"):
        groups.setdefault((e["repo"], int(e["number"])), []).append(e)
    rows = [_summary(repo, number, g, provider, issue_tracker) for (repo, number), g in groups.items()]
    out = pd.DataFrame(rows, columns=list(INCIDENTS_DTYPES)[:-2])
    out["root_cause_sha"] = resolve_short_shas(out["repo"], out["root_cause_raw"], mainline)
    out["opened_at"] = pd.to_datetime(out["opened_at"], utc=True)
    out["event_day"] = utc_day(out["opened_at"])
    out = out[in_window(out["event_day"], start, end)]
    out = out.sort_values(["event_day", "opened_at", "incident_id"], kind="stable")
    return conform(out, INCIDENTS_DTYPES)


def parsed_events(
    events: pd.DataFrame | None, reasons: Sequence[str | None] | np.ndarray, index: pd.Index
) -> tuple[pd.DataFrame, pd.Series]:
    """A parser's result: its events in EVENT_COLUMNS (no events: an empty frame) and reasons on `index`."""
    out = empty_events() if events is None else events[EVENT_COLUMNS].reset_index(drop=True)
    return out, reason_series(reasons, index)


def timed_events(
    events: list[dict], reasons: list[str | None], index: pd.Index, bad_time: str
) -> tuple[pd.DataFrame, pd.Series]:
    """`parsed_events` of event dicts whose `_when` (the event's time) and `_opened` (the incident's) are
    still raw: both parsed, `resolved_at` = the time of a closing event, and a row with an unparseable
    time rejected with `bad_time`."""
    if not events:
        return parsed_events(None, reasons, index)
    ev = pd.DataFrame(events)
    ev["time"], bad_t = parse_times(ev["_when"])
    ev["opened_at"], bad_o = parse_times(ev["_opened"])
    ev["resolved_at"] = ev["time"].where(ev["state"] == "closed")
    for row in ev.loc[bad_t | bad_o, "row"]:
        reasons[row] = bad_time
    return parsed_events(ev[~(bad_t | bad_o) & ev["time"].notna()], reasons, index)


def build_incidents_with(
    parse: EventParser,
    deliveries: pd.DataFrame,
    mainline: pd.DataFrame,
    rules: DoraRules,
    start: pd.Timestamp,
    end: pd.Timestamp,
    provider: str = "generic",
    issue_tracker: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(incidents opened in [start, end), rejects of unusable deliveries) of one provider's Bronze rows."""
    frame = deliveries.reset_index(drop=True)
    events, reasons = parse(frame, rules)
    incidents = incidents_from_events(events, mainline, start, end, provider, issue_tracker)
    return incidents, bronze_rejects(frame, reasons)
