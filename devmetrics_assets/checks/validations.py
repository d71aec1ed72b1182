"""Pure data-quality validations behind the trust layer's asset checks (no Dagster here).

Each function takes DataFrames (or plain values) for ONE run window and returns a `Validation`: passed or
not, the counts that decided it, the thresholds it used, a few sample keys a person can look up, and a
one-line summary. The *_checks.py modules turn these into Dagster check results; the notifier and tests
can call them directly. See docs/trust.md for what each check protects and why its threshold is what it is.

Conventions: day columns are naive midnight datetimes (UTC days), time columns are tz-aware UTC, a window
is [start, end) of naive midnights, and a day is judged only once it is complete (`day + 1 <= now`), so a
run over today's partition never warns about a day that is still filling up.

This module is the one place callers import from (`from devmetrics_assets.checks import validations as V`);
the validations themselves live by concern, each module small enough to read whole:
- validations_core.py: `Validation`, `quarantine_rate` (every layer) and the shared day/time helpers;
- validations_bronze.py: volume anomalies, delivery gaps and freshness (delivery timing per source);
- validations_drift.py: payload schema drift (field paths counted in SQL);
- validations_silver.py: references between Silver tables; validations_gold.py: Gold reconciliation.
"""

from __future__ import annotations

from devmetrics_assets.checks.validations_bronze import (
    BASELINE_WEEKS,
    GAP_ACTIVE_SHARE,
    MAD_TO_SIGMA,
    MIN_BASELINE_WEEKS,
    TIER_FAIL_WINDOWS,
    TIERS,
    VOLUME_HIGH_MULTIPLE,
    VOLUME_LOW_FRACTION,
    VOLUME_NOISE_SIGMAS,
    delivery_gaps,
    redelivery_conflicts,
    signature_verification,
    source_is_quiet,
    tier_windows,
    volume_anomaly,
)
from devmetrics_assets.checks.validations_core import (
    QUARANTINE_RATE_WARN,
    SAMPLE,
    Validation,
    as_day,
    quarantine_rate,
    utc_now,
)
from devmetrics_assets.checks.validations_drift import (
    DRIFT_BASELINE_DAYS,
    DRIFT_MIN_BASELINE_DELIVERIES,
    DRIFT_MISSING_SHARE,
    DRIFT_REQUIRED_SHARE,
    schema_drift,
    shape_counts,
    shape_sql,
)
from devmetrics_assets.checks.validations_gold import GOLD_ADDITIVE, reconcile_gold
from devmetrics_assets.checks.validations_silver import (
    FULL_SHA_LEN,
    deployment_change_refs,
    incident_root_cause_links,
    split_list,
)
from devmetrics_assets.storage.frames import utc

# The names these helpers had when they were private to this module (silver_checks uses `_split`).
_split = split_list

__all__ = [
    "BASELINE_WEEKS",
    "DRIFT_BASELINE_DAYS",
    "DRIFT_MIN_BASELINE_DELIVERIES",
    "DRIFT_MISSING_SHARE",
    "DRIFT_REQUIRED_SHARE",
    "FULL_SHA_LEN",
    "GAP_ACTIVE_SHARE",
    "GOLD_ADDITIVE",
    "MAD_TO_SIGMA",
    "MIN_BASELINE_WEEKS",
    "QUARANTINE_RATE_WARN",
    "SAMPLE",
    "TIERS",
    "TIER_FAIL_WINDOWS",
    "VOLUME_HIGH_MULTIPLE",
    "VOLUME_LOW_FRACTION",
    "VOLUME_NOISE_SIGMAS",
    "Validation",
    "as_day",
    "delivery_gaps",
    "deployment_change_refs",
    "incident_root_cause_links",
    "quarantine_rate",
    "reconcile_gold",
    "redelivery_conflicts",
    "schema_drift",
    "shape_counts",
    "shape_sql",
    "signature_verification",
    "source_is_quiet",
    "split_list",
    "tier_windows",
    "utc",
    "utc_now",
    "volume_anomaly",
]
