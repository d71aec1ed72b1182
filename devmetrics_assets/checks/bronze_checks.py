"""Asset checks of a Bronze asset, computed for the run's window from the warehouse (never all partitions).

Every Bronze check is non-blocking: Bronze is the landing history, and holding Silver back because a
source was quiet or changed shape would only delay the data that did arrive. They are warnings a person
(or the notifier) acts on; `freshness` escalates to ERROR severity once the source has been quiet past its
tier's fail window. The decisions live in the pure functions of checks/validations.py; this module only
gathers the window's numbers (aggregate reads the storage backend computes where the data lives) and
turns results into check results.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from devmetrics_assets.checks import validations as V
from devmetrics_assets.checks.results import with_scope
from devmetrics_assets.checks.validations_core import failing_on
from devmetrics_assets.checks.validations_scope import PartitionScope
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.verification import VerificationDecision
from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.chunked_reads import bronze_shapes_chunked

QUARANTINE_RATE_WARN = V.QUARANTINE_RATE_WARN
SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


def as_check_result(
    validation: V.Validation,
    default: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    scope: PartitionScope | None = None,
) -> dg.AssetCheckResult:
    """A validation as a check result: its summary as the description, its numbers as metadata, and
    (given the run's `scope`) the partitions it judged and the ones that failed."""
    severity = SEVERITY[validation.severity] if validation.severity else default
    return dg.AssetCheckResult(
        check_name=validation.name,
        passed=validation.passed,
        severity=severity,
        description=validation.summary,
        metadata=with_scope(validation.metadata(), scope, validation.passed, validation.failed_days,
                            validation.judges),
    )


def bronze_check_specs(spec: SourceSpec) -> list[dg.AssetCheckSpec]:
    fail, warn = V.tier_windows(spec.tier)
    described = {
        "quarantine_rate": f"Warns when over {QUARANTINE_RATE_WARN:.0%} of the records read are quarantined.",
        "volume_anomaly": (
            f"Warns when a day's deliveries are below {V.VOLUME_LOW_FRACTION} x or above "
            f"{V.VOLUME_HIGH_MULTIPLE} x the median of the same weekday over the previous "
            f"{V.BASELINE_WEEKS} weeks (beyond Poisson noise)."
        ),
        "delivery_gaps": "Warns on a day without deliveries from a source normally active on that weekday.",
        "schema_drift": (
            "Warns when payload fields (top level and one level down) appear or disappear per event type "
            f"compared with the previous {V.DRIFT_BASELINE_DAYS} days."
        ),
        "freshness": (
            f"Newest delivery vs now for the {spec.tier} tier: WARN after {warn}, ERROR after {fail} of "
            "silence. Non-blocking."
        ),
        "redelivery_conflicts": (
            "Warns when a delivery id arrives again with a different body (quarantined as a conflict; "
            "the first body stays in Bronze)."
        ),
    }
    specs = [
        dg.AssetCheckSpec(name, asset=spec.asset_name, blocking=False, description=text)
        for name, text in described.items()
    ]
    # Blocking: deliveries stored without the verification their source expects (a deliberate
    # --no-verify) must not flow into Silver and Gold automatically.
    specs.append(dg.AssetCheckSpec(
        "signature_verification", asset=spec.asset_name, blocking=True,
        description="Fails (ERROR, blocking) when deliveries of a source that is verified were stored "
                    "unverified (--no-verify); passes when signatures were checked or the source has none."))
    return specs


# ---- the checks ------------------------------------------------------------------------------------
def bronze_validations(
    spec: SourceSpec,
    warehouse: Storage,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
    now: pd.Timestamp | None = None,
    verification: VerificationDecision | None = None,
    conflicts: pd.DataFrame | None = None,
    inserted: int | None = None,
) -> list[V.Validation]:
    """The Bronze validations for one source and window, in spec order (usable without Dagster).

    `inserted`: how many deliveries this load stored (the rest of `rows` were stored before, so an
    unverified load stored only these without verification); default all of `rows`."""
    now = V.utc_now(now)
    verification = verification or VerificationDecision(verify=False, downgraded=False, refusal=None)
    conflict_refs = conflicts["record_ref"].astype(str).tolist() if conflicts is not None else []
    expects = f"declares secret_env {spec.secret_env}" if spec.secret_env else "was verified before"
    refs = rejects["record_ref"].astype(str).tolist() if len(rejects) else []
    baseline_start = start - pd.Timedelta(weeks=V.BASELINE_WEEKS)
    counts = warehouse.bronze_daily_counts(spec.name, baseline_start, end)
    # A week at a time: over a year of payloads the backend's working memory was the run's peak.
    drift_start = start - pd.Timedelta(days=V.DRIFT_BASELINE_DAYS)
    shapes = bronze_shapes_chunked(warehouse, spec.name, drift_start, end)
    return [
        failing_on(V.quarantine_rate(len(rejects), len(rows) + len(rejects), sample_refs=refs),
                   quarantined_days(rejects)),
        V.volume_anomaly(counts, start, end, now=now),
        V.delivery_gaps(counts, start, end, now=now),
        V.schema_drift(shapes, start, end),
        V.source_is_quiet(warehouse.newest_received_at(spec.name), now, spec.tier),
        failing_on(V.redelivery_conflicts(len(conflict_refs), len(rows) + len(rejects), conflict_refs),
                   quarantined_days(conflicts)),
        V.signature_verification(verification.mode, verification.downgraded,
                                 len(rows) if inserted is None else inserted, expects),
    ]


def quarantined_days(rejects: pd.DataFrame | None) -> list[object]:
    """The partition days of quarantined rows (received days in Bronze, event days in Silver)."""
    if rejects is None or not len(rejects) or "partition_day" not in rejects:
        return []
    return rejects["partition_day"].dropna().tolist()


def bronze_check_results(
    spec: SourceSpec,
    warehouse: Storage,
    start: pd.Timestamp,
    end: pd.Timestamp,
    rows: pd.DataFrame,
    rejects: pd.DataFrame,
    now: pd.Timestamp | None = None,
    verification: VerificationDecision | None = None,
    conflicts: pd.DataFrame | None = None,
    scope: PartitionScope | None = None,
    inserted: int | None = None,
) -> list[dg.AssetCheckResult]:
    """Check results for the run's window; `now` (default: the product clock, devmetrics_assets.clock)
    drives freshness and decides which days are complete enough to judge; `scope`: the run's partitions,
    named in each result with the failed ones."""
    found = bronze_validations(spec, warehouse, start, end, rows, rejects, now, verification, conflicts,
                               inserted)
    return [as_check_result(v, scope=scope) for v in found]
