"""Pure data-quality validations behind the trust layer's asset checks (no Dagster here).

Each function takes DataFrames (or plain values) for ONE run window and returns a `Validation`: passed or
not, the counts that decided it, the thresholds it used, a few sample keys a person can look up, and a
one-line summary. The *_checks.py modules turn these into Dagster check results; the notifier and tests
can call them directly. See docs/trust.md for what each check protects and why its threshold is what it is.

Conventions: day columns are naive midnight datetimes (UTC days), time columns are tz-aware UTC, a window
is [start, end) of naive midnights, and a day is judged only once it is complete (`day + 1 <= now`), so a
run over today's partition never warns about a day that is still filling up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

SAMPLE = 5

# ---- thresholds (docs/trust.md explains each) -----------------------------------------------------
QUARANTINE_RATE_WARN = 0.05  # share of records read that were quarantined
BASELINE_WEEKS = 8  # same-weekday history a day is compared with
MIN_BASELINE_WEEKS = 4  # fewer same-weekday observations than this: no baseline, no judgement
VOLUME_LOW_FRACTION = 0.5  # below half the usual volume ...
VOLUME_HIGH_MULTIPLE = 4.0  # ... or above four times it (a replay storm) ...
VOLUME_NOISE_SIGMAS = 3.0  # ... and further from it than 3 sigma (Poisson or the baseline's own spread)
MAD_TO_SIGMA = 1.4826  # robust sigma of a normal sample from its median absolute deviation
GAP_ACTIVE_SHARE = 0.85  # "normally active" on a weekday: deliveries on >= 85% of baseline weeks
DRIFT_BASELINE_DAYS = 28  # the recorded payload shape of a source is its last 4 weeks
DRIFT_MIN_BASELINE_DELIVERIES = 10  # fewer deliveries of an event type: its shape is not known yet
DRIFT_REQUIRED_SHARE = 0.95  # a field on >= 95% of baseline deliveries is "always there" ...
DRIFT_MISSING_SHARE = 0.5  # ... and has disappeared when on < 50% of the window's deliveries

TIERS = ("near_real_time", "hourly", "daily")
# How long a source may stay quiet before its freshness fails; it warns at half of that.
TIER_FAIL_WINDOWS: dict[str, timedelta] = {
    "near_real_time": timedelta(minutes=15),
    "hourly": timedelta(hours=1),
    "daily": timedelta(hours=26),
}

GOLD_ADDITIVE = [
    "deployments", "failed_deploy_attempts", "change_failures", "lead_time_changes", "recoveries",
    "unrecovered_failures", "rework_deployments", "incidents_opened",
]
FULL_SHA_LEN = 40


@dataclass(frozen=True)
class Validation:
    """What one check found. `severity` ("warn" | "error") overrides the check's default when set."""

    name: str
    passed: bool
    summary: str
    counts: dict[str, int | float] = field(default_factory=dict)
    threshold: dict[str, Any] = field(default_factory=dict)
    sample: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None

    def metadata(self) -> dict[str, Any]:
        """Plain JSON-able metadata: counts flat, thresholds and details prefixed, samples as a list."""
        meta: dict[str, Any] = {"summary": self.summary, **self.counts}
        meta.update({f"threshold_{k}": v for k, v in self.threshold.items()})
        meta.update(self.details)
        meta["sample"] = list(self.sample)
        return {k: _jsonable(v) for k, v in meta.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def _day(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _now(now: Any | None) -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC") if now is None else _utc(now)


def _days(values: Iterable[pd.Timestamp]) -> list[str]:
    return [pd.Timestamp(d).date().isoformat() for d in values]


# ============================================================================== rates
def quarantine_rate(
    quarantined: int,
    read: int,
    *,
    threshold: float = QUARANTINE_RATE_WARN,
    sample_refs: Iterable[str] = (),
    name: str = "quarantine_rate",
) -> Validation:
    """Share of the records read that went to quarantine; fails above `threshold`.

    A few quarantined records are normal (a forged delivery, a malformed payload); many mean a
    broken sender, a rotated secret or a parser that no longer understands the payloads.
    """
    rate = quarantined / read if read else 0.0
    passed = rate <= threshold
    summary = (
        f"{quarantined} of {read} records quarantined ({rate:.1%}); threshold {threshold:.0%}"
        + ("" if passed else ": look at the quarantine table's reasons for this window")
    )
    return Validation(name, passed, summary, {"quarantined": quarantined, "read": read, "rate": rate},
                      {"rate": threshold}, list(sample_refs)[:SAMPLE])


# ============================================================================== Bronze volume and gaps
def _baseline(
    counts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, weeks: int
) -> tuple[pd.Series, pd.DataFrame]:
    """(deliveries per window day, one row per (window day, same-weekday baseline day) with its count).

    Baseline days before the first day the source delivered anything are not observations (a new
    source has no history, not a history of zeros).
    """
    per_day = (
        counts.assign(received_day=pd.to_datetime(counts["received_day"]).dt.normalize())
        .groupby("received_day")["deliveries"].sum()
        if len(counts) else pd.Series(dtype="int64")
    )
    first = per_day[per_day > 0].index.min() if (per_day > 0).any() else None
    window_days = pd.date_range(start, end - pd.Timedelta(days=1), freq="D")
    window = per_day.reindex(window_days, fill_value=0).astype("int64")
    rows = [
        (day, day - pd.Timedelta(days=7 * k))
        for day in window_days
        for k in range(1, weeks + 1)
    ]
    base = pd.DataFrame(rows, columns=["day", "baseline_day"])
    if first is None:
        base = base.iloc[0:0]
    else:
        base = base[base["baseline_day"] >= first]
    base = base.assign(deliveries=per_day.reindex(base["baseline_day"], fill_value=0).to_numpy())
    return window, base


def _complete(days: pd.Index, now: pd.Timestamp) -> np.ndarray:
    return np.asarray((days + pd.Timedelta(days=1)) <= now.tz_localize(None))


def volume_anomaly(
    counts: pd.DataFrame,
    start: Any,
    end: Any,
    *,
    now: Any | None = None,
    baseline_weeks: int = BASELINE_WEEKS,
    min_baseline_weeks: int = MIN_BASELINE_WEEKS,
    low: float = VOLUME_LOW_FRACTION,
    high: float = VOLUME_HIGH_MULTIPLE,
    noise_sigmas: float = VOLUME_NOISE_SIGMAS,
) -> Validation:
    """Each complete day of the window vs the median of the same weekday over the trailing weeks.

    `counts`: one source's deliveries per received day (columns received_day, deliveries), covering
    at least [start - baseline_weeks weeks, end); missing days count as zero. A day is anomalous when
    it is below `low` x median or above `high` x median AND further from the median than `noise_sigmas`
    sigmas, sigma being the larger of Poisson noise (sqrt(median)) and the baseline's own robust spread
    (1.4826 x MAD): 2 instead of 5 on a quiet Sunday is not an alarm, nor is 30 instead of 80 for a
    source that often swings that much; 10 instead of 100 for a steady one is. Weekdays with fewer
    than `min_baseline_weeks` observations, or a zero median, are not judged: the check passes and
    says so.
    """
    start, end, now = _day(start), _day(end), _now(now)
    window, base = _baseline(counts, start, end, baseline_weeks)
    mad = base.assign(dev=(base["deliveries"] - base.groupby("day")["deliveries"].transform("median")).abs())
    stats = base.groupby("day")["deliveries"].agg(["median", "count"]).join(
        mad.groupby("day")["dev"].median().rename("mad"))
    stats = stats.reindex(window.index)
    complete = _complete(window.index, now)
    judged = complete & (stats["count"].fillna(0).to_numpy() >= min_baseline_weeks) & (
        stats["median"].fillna(0).to_numpy() > 0
    )
    median = stats["median"].fillna(0).to_numpy()
    value = window.to_numpy()
    sigma = np.maximum(np.sqrt(median), MAD_TO_SIGMA * stats["mad"].fillna(0).to_numpy())
    noise = noise_sigmas * sigma
    too_low = judged & (value < low * median) & (median - value > noise)
    too_high = judged & (value > high * median) & (value - median > noise)
    bad = too_low | too_high
    sample = [
        {"day": d.date().isoformat(), "deliveries": int(v), "baseline_median": float(m),
         "direction": "low" if lo else "high"}
        for d, v, m, lo, b in zip(window.index, value, median, too_low, bad, strict=True) if b
    ]
    n_judged, n_bad = int(judged.sum()), int(bad.sum())
    if n_judged == 0:
        summary = (f"no baseline yet (fewer than {min_baseline_weeks} same-weekday observations) or no "
                   "complete day: not judged")
    elif n_bad:
        worst = sample[0]
        summary = (
            f"{n_bad} of {n_judged} judged days outside [{low} x, {high} x] the same-weekday median, e.g. "
            f"{worst['day']}: {worst['deliveries']} deliveries vs median {worst['baseline_median']:g}; "
            "check the sender (webhook disabled, filter changed, replay storm)"
        )
    else:
        summary = f"{n_judged} day(s) within the usual volume"
    return Validation(
        "volume_anomaly", n_bad == 0, summary,
        {"days_judged": n_judged, "anomalous_days": n_bad, "deliveries_in_window": int(value.sum()),
         "days_not_judged": int(len(window) - n_judged)},
        {"low_fraction": low, "high_multiple": high, "noise_sigmas": noise_sigmas,
         "baseline_weeks": baseline_weeks, "min_baseline_weeks": min_baseline_weeks},
        sample[:SAMPLE],
    )


def delivery_gaps(
    counts: pd.DataFrame,
    start: Any,
    end: Any,
    *,
    now: Any | None = None,
    baseline_weeks: int = BASELINE_WEEKS,
    min_baseline_weeks: int = MIN_BASELINE_WEEKS,
    min_active_share: float = GAP_ACTIVE_SHARE,
) -> Validation:
    """Complete days of the window with zero deliveries from a source normally active on that weekday.

    "Normally active" = it delivered something on at least `min_active_share` of the same weekdays in
    the trailing `baseline_weeks` weeks (at least `min_baseline_weeks` observed). A silent Saturday of a
    team that never works Saturdays is fine; a silent Tuesday of a source that always delivers is a
    webhook that stopped, an expired token or a landing folder nobody writes to.
    """
    start, end, now = _day(start), _day(end), _now(now)
    window, base = _baseline(counts, start, end, baseline_weeks)
    stats = base.assign(active=base["deliveries"] > 0).groupby("day")["active"].agg(["mean", "count"])
    stats = stats.reindex(window.index)
    observed = stats["count"].fillna(0).to_numpy() >= min_baseline_weeks
    usually_active = observed & (stats["mean"].fillna(0).to_numpy() >= min_active_share)
    complete = _complete(window.index, now)
    gaps = complete & usually_active & (window.to_numpy() == 0)
    gap_days = _days(window.index[gaps])
    judged = int((complete & observed).sum())
    if gap_days:
        summary = (
            f"no deliveries on {len(gap_days)} day(s) when the source is normally active "
            f"({', '.join(gap_days[:SAMPLE])}): check the webhook / puller, then replay the missing days"
        )
    elif judged:
        summary = f"no gaps in {judged} judged day(s)"
    else:
        summary = "no baseline yet or no complete day: not judged"
    return Validation(
        "delivery_gaps", not gap_days, summary,
        {"gap_days": len(gap_days), "days_judged": judged},
        {"min_active_share": min_active_share, "baseline_weeks": baseline_weeks,
         "min_baseline_weeks": min_baseline_weeks},
        gap_days[:SAMPLE],
    )


# ============================================================================== Bronze schema drift
# Top-level keys and the keys of top-level objects, per delivery, counted per (event kind, day). The
# kind is the event type plus the payload's `action` ("issues:labeled"): GitHub documents a payload
# shape per action, and a rare action with its own keys is a new kind, not a drifted one. Runs on any
# relation with event_type, received_day and body (a registered DataFrame or the warehouse table
# itself), so the DuckDB warehouse computes it where the data lives.
_KEY_PATH = "'$.\"' || replace(k, '\"', '\\\"') || '\"'"


def shape_sql(relation: str, where: str = "TRUE") -> str:
    """SQL giving (event_kind, received_day, path, n, deliveries) for the rows of `relation`."""
    return f"""
    WITH parsed AS (
        SELECT event_type, CAST(received_day AS DATE) AS received_day, row_number() OVER () AS rid,
               CASE WHEN json_valid(body) AND json_type(CAST(body AS JSON)) = 'OBJECT'
                    THEN CAST(body AS JSON) END AS j
        FROM {relation} WHERE {where}),
    b AS (SELECT event_type || coalesce(':' || json_extract_string(j, '$.action'), '') AS event_kind,
                 received_day, rid, j FROM parsed),
    per_kind AS (SELECT event_kind, received_day, count(*) AS deliveries FROM b GROUP BY ALL),
    top AS (SELECT event_kind, received_day, rid, j, unnest(json_keys(j)) AS k FROM b WHERE j IS NOT NULL),
    nested AS (
        SELECT event_kind, received_day, rid,
               k || '.' || unnest(json_keys(json_extract(j, {_KEY_PATH}))) AS path
        FROM top WHERE json_type(json_extract(j, {_KEY_PATH})) = 'OBJECT'),
    paths AS (SELECT event_kind, received_day, rid, k AS path FROM top UNION ALL SELECT * FROM nested),
    counted AS (SELECT event_kind, received_day, path, count(DISTINCT rid) AS n FROM paths GROUP BY ALL)
    SELECT p.event_kind, p.received_day, c.path, coalesce(c.n, 0) AS n, p.deliveries
    FROM per_kind p LEFT JOIN counted c USING (event_kind, received_day)
    ORDER BY ALL
    """


def shape_counts(deliveries: pd.DataFrame) -> pd.DataFrame:
    """Field paths per (event kind, received_day) of Bronze rows (columns event_type, received_day, body).

    Returns event_kind, received_day, path (null for a day whose deliveries have no object body), n
    (deliveries having the path) and deliveries (of that kind that day).
    """
    con = duckdb.connect()
    try:
        con.register("deliveries", deliveries[["event_type", "received_day", "body"]])
        return con.execute(shape_sql("deliveries")).df()
    finally:
        con.close()


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
    start, end = _day(start), _day(end)
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


# ============================================================================== Bronze freshness
def tier_windows(tier: str) -> tuple[timedelta, timedelta]:
    """(fail window, warn window) of a source tier; warn at half the fail window."""
    if tier not in TIER_FAIL_WINDOWS:
        raise ValueError(f"unknown source tier {tier!r}; known: {list(TIER_FAIL_WINDOWS)}")
    fail = TIER_FAIL_WINDOWS[tier]
    return fail, fail / 2


def source_is_quiet(last_received_at: Any | None, now: Any | None, tier: str) -> Validation:
    """Has the source been quiet longer than its tier allows?

    Passed while the newest delivery is younger than the warn window; past it the result fails with
    severity "warn" (late), past the fail window with severity "error" (quiet). A source that never
    delivered anything is quiet. `now` is injectable so a test clock can drive it.
    """
    fail, warn = tier_windows(tier)
    now_ts = _now(now)
    thresholds = {"tier": tier, "warn_after": str(warn), "fail_after": str(fail)}
    if last_received_at is None or pd.isna(last_received_at):
        return Validation("freshness", False, f"no delivery ever received ({tier} tier): check the sender",
                          {"age_minutes": -1.0}, thresholds, [], {"state": "quiet", "last_received_at": None,
                                                                  "now": now_ts}, "error")
    last = _utc(last_received_at)
    age = now_ts - last
    minutes = round(age.total_seconds() / 60, 1)
    if age > fail:
        state, severity = "quiet", "error"
    elif age > warn:
        state, severity = "late", "warn"
    else:
        state, severity = "fresh", None
    verdict = {"fresh": "fresh", "late": f"late (warns after {warn})",
               "quiet": f"quiet (fails after {fail})"}[state]
    summary = f"newest delivery {age} ago at {last.isoformat()}: {verdict}"
    if state != "fresh":
        summary += ": is the webhook still configured, the puller running, the receiver up?"
    return Validation("freshness", state == "fresh", summary, {"age_minutes": minutes}, thresholds, [],
                      {"state": state, "last_received_at": last, "now": now_ts}, severity)


# ============================================================================== Silver references
def _split(values: pd.Series) -> pd.Series:
    """Comma lists exploded to one value per row (index kept), empty lists dropped."""
    parts = values.fillna("").astype(str).str.split(",").explode()
    return parts[parts != ""]


def deployment_change_refs(deployments: pd.DataFrame, change_ids: Iterable[str]) -> Validation:
    """Every change a deployment says it shipped exists in silver_changes.

    `change_ids`: the ids stored in silver_changes up to the window's end (any partition: a change
    lands days before it ships). A dangling id means Gold computes a lead time it cannot find.
    """
    known = set(change_ids)
    refs = _split(deployments["change_ids"]) if len(deployments) else pd.Series(dtype="str")
    missing = refs[~refs.isin(known)]
    ids = deployments.loc[missing.index, "deployment_id"].astype(str) if len(missing) else missing
    owners = ids.unique().tolist()
    sample = [f"{d} -> {c}" for d, c in zip(ids, missing, strict=True)][:SAMPLE]
    passed = missing.empty
    summary = (
        f"all {len(refs)} change reference(s) of {len(deployments)} deployment(s) resolve" if passed else
        f"{len(missing)} change reference(s) of {len(owners)} deployment(s) not in silver_changes: "
        "re-materialise silver_changes for the days they landed, then this window"
    )
    return Validation("change_refs", passed, summary,
                      {"references": int(len(refs)), "missing": int(len(missing)),
                       "deployments_affected": len(owners)},
                      {"missing": 0}, sample)


def incident_root_cause_links(incidents: pd.DataFrame, deployments: pd.DataFrame) -> Validation:
    """Incidents whose root cause is a full sha should name a commit a production deployment shipped.

    `deployments`: silver_deployments rows up to the window's end. Short shas that could not be
    resolved are counted, not judged. A miss is a warning, not an error: a root cause may predate
    tracking, or the deployment may be in a partition not yet loaded.
    """
    sha = incidents["root_cause_sha"] if len(incidents) else pd.Series(dtype="str")
    full = sha.notna() & (sha.astype(str).str.len() == FULL_SHA_LEN)
    shipped_rows = deployments
    if len(deployments):
        ok = deployments["is_production"].astype(bool) & (deployments["final_status"] == "success")
        shipped_rows = deployments[ok]
    shipped = set(_split(shipped_rows["commit_shas"]) if len(shipped_rows) else [])
    linked = sha[full].isin(shipped)
    unlinked = incidents.loc[linked[~linked].index] if len(incidents) else incidents
    pairs = zip(unlinked.get("incident_id", []), unlinked.get("root_cause_sha", []), strict=True)
    sample = [f"{i} -> {s[:12]}" for i, s in pairs][:SAMPLE]
    n_unlinked = int((~linked).sum())
    passed = n_unlinked == 0
    summary = (f"{int(linked.sum())} root cause(s) link to a production deployment" if passed else
               f"{n_unlinked} incident root cause(s) not shipped by any successful production deployment: "
               "a wrong sha in the incident, or deployments not loaded yet")
    return Validation("root_cause_links", passed, summary,
                      {"incidents": int(len(incidents)), "full_sha_root_causes": int(full.sum()),
                       "unlinked": n_unlinked, "unresolved_short_shas": int((sha.notna() & ~full).sum())},
                      {"unlinked": 0}, sample)


# ============================================================================== Gold reconciliation
def reconcile_gold(gold: pd.DataFrame, silver_deployments: pd.DataFrame, start: Any, end: Any) -> Validation:
    """Gold adds up: per period, org == sum over repos == sum over teams == sum over services for every
    additive count, and the window's org deployments == Silver's successful production deployments.

    Every repo belongs to exactly one team and one service, so any difference is a join or fill bug.
    """
    start, end = _day(start), _day(end)
    mismatches: list[dict[str, Any]] = []
    if len(gold):
        sums = gold.groupby(["scope_type", "period_start"])[GOLD_ADDITIVE].sum()
        empty = pd.DataFrame(columns=GOLD_ADDITIVE, dtype="int64")
        present = set(sums.index.get_level_values(0))

        def of(scope_type: str) -> pd.DataFrame:
            return sums.xs(scope_type, level="scope_type") if scope_type in present else empty

        for scope_type in ("repo", "team", "service"):
            periods = of("org").index.union(of(scope_type).index)
            org = of("org").reindex(periods, fill_value=0)
            part = of(scope_type).reindex(periods, fill_value=0)
            bad = (org - part).stack()
            for period_start, col in bad[bad != 0].index:
                mismatches.append({"period_start": pd.Timestamp(period_start).date().isoformat(),
                                   "column": col, "org": int(org.at[period_start, col]),
                                   f"sum_{scope_type}": int(part.at[period_start, col])})
    org_deployments = int(gold.loc[gold["scope_type"] == "org", "deployments"].sum()) if len(gold) else 0
    if len(silver_deployments):
        day = pd.to_datetime(silver_deployments["event_day"])
        ok = (
            silver_deployments["is_production"].astype(bool)
            & (silver_deployments["final_status"] == "success")
            & (day >= start) & (day < end)
        )
        silver_count = int(ok.sum())
    else:
        silver_count = 0
    if org_deployments != silver_count:
        mismatches.append({"window": f"{start.date()}..{end.date()}", "column": "deployments",
                           "org": org_deployments, "silver_successful_production": silver_count})
    passed = not mismatches
    summary = (f"org = sum of repos/teams/services for {len(GOLD_ADDITIVE)} counts; {org_deployments} "
               "deployments match Silver" if passed else
               f"{len(mismatches)} reconciliation mismatch(es), e.g. {mismatches[0]}: Gold is inconsistent, "
               "do not publish; re-materialise the window and inspect the scope mapping")
    return Validation("reconciliation", passed, summary,
                      {"mismatches": len(mismatches), "org_deployments": org_deployments,
                       "silver_successful_production_deployments": silver_count},
                      {"tolerance": 0}, mismatches[:SAMPLE])
