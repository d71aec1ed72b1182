"""pandera schema of the gold_dora_daily / weekly / monthly tables (contracts §4).

Besides types and ranges it checks the relations a correct aggregation always satisfies (a subset never
exceeds its whole, a rate is null exactly when its denominator is zero, a band is null exactly when its
metric is), so a wrong join or fill shows up as a failed check rather than a plausible-looking number.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from devmetrics_assets.transforms.dora_bands import BAND_THRESHOLDS, BANDS
from devmetrics_assets.transforms.gold_metrics import ORG_SCOPE, PERIODS, SCOPE_TYPES

GOLD_KEY = ["period", "period_start", "scope_type", "scope"]


def _count() -> pa.Field:
    return pa.Field(ge=0)


def _rate() -> pa.Field:
    return pa.Field(nullable=True, in_range={"min_value": 0.0, "max_value": 1.0})


def _hours() -> pa.Field:
    return pa.Field(nullable=True, ge=0.0)


def _band() -> pa.Field:
    return pa.Field(nullable=True, isin=list(BANDS))


class GoldDoraSchema(pa.DataFrameModel):
    """One row per (period, period_start, scope_type, scope)."""

    period: Series[str] = pa.Field(isin=list(PERIODS))
    period_start: Series[pa.DateTime]
    scope_type: Series[str] = pa.Field(isin=list(SCOPE_TYPES))
    scope: Series[str] = pa.Field(str_length={"min_value": 1})
    days_covered: Series[int] = pa.Field(ge=0, le=31)
    is_partial: Series[bool]
    deployments: Series[int] = _count()
    deploy_days: Series[int] = pa.Field(ge=0, le=31)
    deployment_frequency_per_day: Series[float] = pa.Field(ge=0.0)
    deploy_days_per_week_median: Series[float] = pa.Field(
        nullable=True, in_range={"min_value": 0.0, "max_value": 7.0}
    )
    failed_deploy_attempts: Series[int] = _count()
    rollbacks: Series[int] = _count()
    change_failures: Series[int] = _count()
    change_failures_inferred: Series[int] = _count()
    change_failure_rate: Series[float] = _rate()
    change_failure_rate_root_cause_only: Series[float] = _rate()
    shipped_changes: Series[int] = _count()
    lead_time_changes: Series[int] = _count()
    lead_time_negative_excluded: Series[int] = _count()
    lead_time_coverage: Series[float] = _rate()
    lead_time_median_h: Series[float] = _hours()
    lead_time_p90_h: Series[float] = _hours()
    recoveries: Series[int] = _count()
    recovery_median_h: Series[float] = _hours()
    recovery_p90_h: Series[float] = _hours()
    unrecovered_failures: Series[int] = _count()
    unrecovered_oldest_age_h: Series[float] = _hours()
    rework_deployments: Series[int] = _count()
    rework_rate: Series[float] = _rate()
    incidents_opened: Series[int] = _count()
    deployment_frequency_band: Series[str] = _band()
    lead_time_band: Series[str] = _band()
    change_failure_rate_band: Series[str] = _band()
    recovery_band: Series[str] = _band()
    # Lead-time stages (docs/metrics.md "Lead-time stages"): null when no shipped change has the stage.
    coding_median_h: Series[float] = _hours()
    coding_p90_h: Series[float] = _hours()
    pickup_median_h: Series[float] = _hours()
    pickup_p90_h: Series[float] = _hours()
    review_median_h: Series[float] = _hours()
    review_p90_h: Series[float] = _hours()
    deploy_median_h: Series[float] = _hours()
    deploy_p90_h: Series[float] = _hours()

    class Config:
        name = "gold_dora"
        strict = True
        unique = GOLD_KEY

    @pa.dataframe_check
    def period_start_is_aligned(cls, df: pd.DataFrame) -> Series[bool]:
        """Midnight, and a Monday for weeks, the 1st for months."""
        start = df["period_start"]
        midnight = start == start.dt.normalize()
        monday = (df["period"] != "week") | (start.dt.day_of_week == 0)
        first = (df["period"] != "month") | (start.dt.day == 1)
        return midnight & monday & first

    @pa.dataframe_check
    def org_scope_is_all(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["scope_type"] == "org") == (df["scope"] == ORG_SCOPE)

    @pa.dataframe_check
    def subsets_within_whole(cls, df: pd.DataFrame) -> Series[bool]:
        """Change failures, rollbacks and rework are deployments; recovered + unrecovered are failures;
        measured and excluded lead times are shipped changes; deploy days fit deployments and coverage."""
        return (
            (df["change_failures"] <= df["deployments"])
            & (df["change_failures_inferred"] <= df["change_failures"])
            & (df["rollbacks"] <= df["rework_deployments"])
            & (df["rework_deployments"] <= df["deployments"])
            & (df["recoveries"] + df["unrecovered_failures"] == df["change_failures"])
            & (df["lead_time_changes"] + df["lead_time_negative_excluded"] <= df["shipped_changes"])
            & (df["deploy_days"] <= df["deployments"])
        )

    @pa.dataframe_check
    def partial_means_fewer_days_covered(cls, df: pd.DataFrame) -> Series[bool]:
        start = df["period_start"]
        days = (start + pd.offsets.MonthBegin(1) - start).dt.days.where(df["period"] == "month")
        days = days.fillna(df["period"].map({"day": 1, "week": 7})).astype("int64")
        return (df["days_covered"] <= days) & (df["is_partial"] == (df["days_covered"] < days))

    @pa.dataframe_check
    def unrecovered_age_iff_unrecovered(cls, df: pd.DataFrame) -> Series[bool]:
        return df["unrecovered_oldest_age_h"].notna() == (df["unrecovered_failures"] > 0)

    @pa.dataframe_check
    def null_exactly_without_data(cls, df: pd.DataFrame) -> Series[bool]:
        """Rates need deployments, lead time statistics need changes, recovery statistics need recoveries."""
        ok = pd.Series(True, index=df.index)
        for columns, count in (
            (["change_failure_rate", "change_failure_rate_root_cause_only", "rework_rate"], "deployments"),
            (["lead_time_coverage"], "shipped_changes"),
            (["lead_time_median_h", "lead_time_p90_h"], "lead_time_changes"),
            (["recovery_median_h", "recovery_p90_h"], "recoveries"),
        ):
            for column in columns:
                ok &= df[column].isna() == (df[count] == 0)
        return ok

    @pa.dataframe_check
    def p90_not_below_median(cls, df: pd.DataFrame) -> Series[bool]:
        lead = df["lead_time_median_h"].isna() | (df["lead_time_p90_h"] >= df["lead_time_median_h"])
        rec = df["recovery_median_h"].isna() | (df["recovery_p90_h"] >= df["recovery_median_h"])
        ok = lead & rec
        for stage in ("coding", "pickup", "review", "deploy"):
            median, p90 = df[f"{stage}_median_h"], df[f"{stage}_p90_h"]
            ok &= (median.isna() == p90.isna()) & (median.isna() | (p90 >= median - 1e-9))
        return ok

    @pa.dataframe_check
    def stages_need_shipped_changes(cls, df: pd.DataFrame) -> Series[bool]:
        """A stage statistic exists only where changes were shipped (its rows are shipped changes)."""
        ok = pd.Series(True, index=df.index)
        for stage in ("coding", "pickup", "review", "deploy"):
            ok &= df[f"{stage}_median_h"].isna() | (df["shipped_changes"] > 0)
        return ok

    @pa.dataframe_check
    def band_null_exactly_when_metric_null(cls, df: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=df.index)
        for rule in BAND_THRESHOLDS.values():
            ok &= df[rule.band_column].isna() == df[rule.metric].isna()
        return ok

    @pa.dataframe_check
    def frequency_band_needs_whole_weeks_or_a_whole_month(cls, df: pd.DataFrame) -> Series[bool]:
        """Day rows never have one; elite/high need the weekly median; medium/low a whole month."""
        band = df["deployment_frequency_band"]
        weekly = band.isin(["elite", "high"]) & df["deploy_days_per_week_median"].notna()
        monthly = band.isin(["medium", "low"]) & (df["period"] == "month") & ~df["is_partial"].astype(bool)
        return (band.isna() | weekly | monthly) & ((df["period"] != "day") | band.isna())
