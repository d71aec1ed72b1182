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
    deployments: Series[int] = _count()
    failed_deploy_attempts: Series[int] = _count()
    change_failures: Series[int] = _count()
    change_failure_rate: Series[float] = _rate()
    lead_time_changes: Series[int] = _count()
    lead_time_median_h: Series[float] = _hours()
    lead_time_p90_h: Series[float] = _hours()
    recoveries: Series[int] = _count()
    recovery_median_h: Series[float] = _hours()
    recovery_p90_h: Series[float] = _hours()
    unrecovered_failures: Series[int] = _count()
    rework_deployments: Series[int] = _count()
    rework_rate: Series[float] = _rate()
    incidents_opened: Series[int] = _count()
    deployment_frequency_per_day: Series[float] = pa.Field(ge=0.0)
    deployment_frequency_band: Series[str] = _band()
    lead_time_band: Series[str] = _band()
    change_failure_rate_band: Series[str] = _band()
    recovery_band: Series[str] = _band()

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
        """Change failures and rework deployments are deployments; recovered + unrecovered are failures."""
        return (
            (df["change_failures"] <= df["deployments"])
            & (df["rework_deployments"] <= df["deployments"])
            & (df["recoveries"] + df["unrecovered_failures"] <= df["change_failures"])
        )

    @pa.dataframe_check
    def null_exactly_without_data(cls, df: pd.DataFrame) -> Series[bool]:
        """Rates need deployments, lead time statistics need changes, recovery statistics need recoveries."""
        ok = pd.Series(True, index=df.index)
        for columns, count in (
            (["change_failure_rate", "rework_rate"], "deployments"),
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
        return lead & rec

    @pa.dataframe_check
    def band_null_exactly_when_metric_null(cls, df: pd.DataFrame) -> Series[bool]:
        ok = pd.Series(True, index=df.index)
        for rule in BAND_THRESHOLDS.values():
            ok &= df[rule.band_column].isna() == df[rule.metric].isna()
        return ok
