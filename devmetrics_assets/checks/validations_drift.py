"""Bronze schema drift: payload fields that appeared or disappeared vs a source's recorded shape (pure).

A provider changing its payloads (a renamed field, a new API version, a sender upgrade) breaks the
Silver parsers silently: records still arrive, just with nulls. So the field paths of every delivery
are counted per (event kind, day) and the window is compared with the source's last four weeks. The
counting (storage/shapes.py) is SQL (`shape_sql`) so the DuckDB warehouse runs it where the data lives;
`shape_counts` runs the same SQL on a DataFrame for other backends and tests. See docs/trust.md for the
thresholds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation, as_day

# The counting lives with the storage backends (each computes it where the data is); re-exported here.
from devmetrics_assets.storage.shapes import shape_counts, shape_sql  # noqa: F401

# ---- thresholds (docs/trust.md explains each) -----------------------------------------------------
DRIFT_BASELINE_DAYS = 28  # the recorded payload shape of a source is its last 4 weeks
DRIFT_MIN_BASELINE_DELIVERIES = 10  # fewer deliveries of an event type: its shape is not known yet
DRIFT_REQUIRED_SHARE = 0.95  # a field on >= 95% of baseline deliveries is "always there" ...
DRIFT_MISSING_SHARE = 0.5  # ... and has disappeared when on < 50% of the window's deliveries

def schema_drift(
    shapes: pd.DataFrame,
    start: Any,
    end: Any,
    *,
    baseline_days: int = DRIFT_BASELINE_DAYS,
    min_baseline_deliveries: int = DRIFT_MIN_BASELINE_DELIVERIES,
    required_share: float = DRIFT_REQUIRED_SHARE,
    missing_share: float = DRIFT_MISSING_SHARE,
) -> Validation:
    """Fields that appeared or disappeared in the window's payloads vs the source's recorded shape.

    `shapes` (from `shape_counts` / `shape_sql`) covers [start - baseline_days, end). Per event kind
    with at least `min_baseline_deliveries` baseline deliveries: a path never seen in the baseline but
    present in the window has appeared; a path on >= `required_share` of baseline deliveries but on
    < `missing_share` of the window's has disappeared. Kinds new in the window, or with too thin a
    baseline, are listed, not failed (a new kind is a new feed or a rare action, not a changed one).
    """
    start, end = as_day(start), as_day(end)
    lo = start - pd.Timedelta(days=baseline_days)
    df = shapes.assign(received_day=pd.to_datetime(shapes["received_day"]).dt.normalize())
    in_base = (df["received_day"] >= lo) & (df["received_day"] < start)
    in_window = (df["received_day"] >= start) & (df["received_day"] < end)

    def totals(mask: pd.Series) -> tuple[pd.Series, pd.Series]:
        part = df[mask]
        per_day = part.drop_duplicates(["event_kind", "received_day"])
        per_kind = per_day.groupby("event_kind")["deliveries"].sum()
        per_path = part.dropna(subset=["path"]).groupby(["event_kind", "path"])["n"].sum()
        return per_kind, per_path

    base_kinds, base_paths = totals(in_base)
    win_kinds, win_paths = totals(in_window)
    known = base_kinds[base_kinds >= min_baseline_deliveries].index
    appeared: dict[str, list[str]] = {}
    disappeared: dict[str, list[str]] = {}
    for kind in sorted(set(win_kinds.index) & set(known)):
        base = base_paths.get(kind, pd.Series(dtype="int64"))
        win = win_paths.get(kind, pd.Series(dtype="int64"))
        new = sorted(set(win[win > 0].index) - set(base[base > 0].index))
        base_share = base / base_kinds[kind]
        win_share = win.reindex(base_share.index, fill_value=0) / win_kinds[kind]
        gone = sorted(base_share[(base_share >= required_share) & (win_share < missing_share)].index)
        if new:
            appeared[kind] = new
        if gone:
            disappeared[kind] = gone
    new_types = sorted(set(win_kinds.index) - set(base_kinds.index))
    thin = sorted(set(win_kinds.index) & set(base_kinds.index) - set(known))
    n_app, n_dis = sum(map(len, appeared.values())), sum(map(len, disappeared.values()))
    passed = not appeared and not disappeared
    if not len(known) and len(win_kinds):
        summary = (f"no recorded shape yet (fewer than {min_baseline_deliveries} deliveries per event kind "
                   f"in the previous {baseline_days} days): not judged")
    elif passed:
        judged = len(set(win_kinds.index) & set(known))
        summary = f"payload fields of {judged} event kind(s) match the last {baseline_days} days"
    else:
        parts = [f"{t}: +{', +'.join(appeared[t][:3])}" for t in appeared]
        parts += [f"{t}: -{', -'.join(disappeared[t][:3])}" for t in disappeared]
        summary = (f"payload shape changed ({n_app} field(s) appeared, {n_dis} disappeared): "
                   + "; ".join(parts) + ". A provider API change or a new sender version: check the parsers")
    return Validation(
        "schema_drift", passed, summary,
        {"fields_appeared": n_app, "fields_disappeared": n_dis,
         "event_kinds_in_window": int(len(win_kinds)), "event_kinds_with_baseline": int(len(known))},
        {"baseline_days": baseline_days, "min_baseline_deliveries": min_baseline_deliveries,
         "required_share": required_share, "missing_share": missing_share},
        [f"{t}:+{p}" for t, ps in appeared.items() for p in ps][:SAMPLE]
        + [f"{t}:-{p}" for t, ps in disappeared.items() for p in ps][:SAMPLE],
        {"appeared": appeared, "disappeared": disappeared, "new_event_kinds": new_types,
         "event_kinds_without_enough_baseline": thin},
    )
