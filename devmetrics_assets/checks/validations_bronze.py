"""Bronze delivery timing: volume anomalies, delivery gaps and freshness of one source (pure, no Dagster).

Volume and gaps judge each complete day of the window against the same weekday over the trailing
weeks, because engineering traffic is weekly (quiet weekends, busy Tuesdays): comparing with
yesterday would alarm every Monday. A day is judged only once it is complete (`day + 1 <= now`), so a
run over today's partition never warns about a day still filling up, and a source with too little
history is not judged at all (a new source has no history, not a history of zeros). Freshness
compares the newest delivery with the source tier's allowance. See docs/trust.md for the thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from devmetrics_assets.checks.validations_core import SAMPLE, Validation, as_day, utc_now
from devmetrics_assets.storage.frames import utc

# ---- thresholds (docs/trust.md explains each) -----------------------------------------------------
BASELINE_WEEKS = 8  # same-weekday history a day is compared with
MIN_BASELINE_WEEKS = 4  # fewer same-weekday observations than this: no baseline, no judgement
VOLUME_LOW_FRACTION = 0.5  # below half the usual volume ...
VOLUME_HIGH_MULTIPLE = 4.0  # ... or above four times it (a replay storm) ...
VOLUME_NOISE_SIGMAS = 3.0  # ... and further from it than 3 sigma (Poisson or the baseline's own spread)
MAD_TO_SIGMA = 1.4826  # robust sigma of a normal sample from its median absolute deviation
GAP_ACTIVE_SHARE = 0.85  # "normally active" on a weekday: deliveries on >= 85% of baseline weeks

TIERS = ("near_real_time", "hourly", "daily")
# How long a source may stay quiet before its freshness fails; it warns at half of that.
TIER_FAIL_WINDOWS: dict[str, timedelta] = {
    "near_real_time": timedelta(minutes=15),
    "hourly": timedelta(hours=1),
    "daily": timedelta(hours=26),
}


def _days(values: Iterable[pd.Timestamp]) -> list[str]:
    return [pd.Timestamp(d).date().isoformat() for d in values]


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


def _judged_window(
    counts: pd.DataFrame, start: Any, end: Any, now: Any | None, weeks: int
) -> tuple[pd.Series, pd.DataFrame, np.ndarray]:
    """What volume and gaps both judge: (deliveries per window day, its same-weekday baseline rows
    from `_baseline`, which window days are complete at `now`)."""
    start, end, now = as_day(start), as_day(end), utc_now(now)
    window, base = _baseline(counts, start, end, weeks)
    return window, base, _complete(window.index, now)


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
    window, base, complete = _judged_window(counts, start, end, now, baseline_weeks)
    mad = base.assign(dev=(base["deliveries"] - base.groupby("day")["deliveries"].transform("median")).abs())
    stats = base.groupby("day")["deliveries"].agg(["median", "count"]).join(
        mad.groupby("day")["dev"].median().rename("mad"))
    stats = stats.reindex(window.index)
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
        sample[:SAMPLE], failed_days=tuple(window.index[bad]) if n_bad else None,
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
    window, base, complete = _judged_window(counts, start, end, now, baseline_weeks)
    stats = base.assign(active=base["deliveries"] > 0).groupby("day")["active"].agg(["mean", "count"])
    stats = stats.reindex(window.index)
    observed = stats["count"].fillna(0).to_numpy() >= min_baseline_weeks
    usually_active = observed & (stats["mean"].fillna(0).to_numpy() >= min_active_share)
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
        gap_days[:SAMPLE], failed_days=tuple(gap_days) if gap_days else None,
    )


# ---- freshness ------------------------------------------------------------------------------------
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
    now_ts = utc_now(now)
    thresholds = {"tier": tier, "warn_after": str(warn), "fail_after": str(fail)}
    if last_received_at is None or pd.isna(last_received_at):
        return Validation("freshness", False, f"no delivery ever received ({tier} tier): check the sender",
                          {"age_minutes": -1.0}, thresholds, [], {"state": "quiet", "last_received_at": None,
                                                                  "now": now_ts}, "error", judges="now")
    last = utc(last_received_at)
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
                      {"state": state, "last_received_at": last, "now": now_ts}, severity, judges="now")


def signature_verification(mode: str, downgraded: bool, loaded: int, expects: str | None) -> Validation:
    """Did this load verify what it should have? Fails (error) when deliveries were stored unverified by
    a deliberate --no-verify although the source is one that is verified (`expects` says why)."""
    counts = {"deliveries_loaded": loaded}
    if downgraded:
        summary = (f"{loaded} deliveries stored WITHOUT signature verification (--no-verify), although the "
                   f"source {expects}: Silver and Gold do not take them automatically; re-load with the "
                   "secret, or confirm with `devmetrics load --resume`")
        return Validation("signature_verification", False, summary, counts, {"verification": mode}, [],
                          {"verification": mode}, "error")
    summary = f"signature verification {mode}" + ("" if mode == "on" else " (the source declares no secret)")
    return Validation("signature_verification", True, summary, counts, {"verification": mode}, [],
                      {"verification": mode})


def redelivery_conflicts(conflicts: int, read: int, sample_refs: list[str]) -> Validation:
    """Deliveries whose id is already stored with a different body (quarantined as conflicts)."""
    passed = conflicts == 0
    summary = ("no conflicting redeliveries" if passed else
               f"{conflicts} delivery id(s) arrived again with a different body: quarantined as conflicts "
               "(the first body stays in Bronze); look at the sender's redelivery or the recorded file")
    return Validation("redelivery_conflicts", passed, summary, {"conflicts": conflicts, "read": read}, {},
                      sample_refs[:SAMPLE])
