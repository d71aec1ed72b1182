"""pandera schemas of silver_changes, silver_deployments and silver_incidents (contracts §4).

Values are coerced where DuckDB may hand them back in another but equivalent dtype (strings as
object or str, TIMESTAMPTZ in another unit, nullable integers); day columns are not coerced because
pandera turns naive datetimes into nanoseconds, so they are only checked to be midnight datetimes.
Dataframe checks encode relations Silver always satisfies (event_day is the day of the anchor time,
a pending deployment has no finish time, only successful production deployments ship or roll back,
an open incident has no resolution), so a wrong join or fill fails the check instead of flowing to Gold.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from devmetrics_assets.providers import PROVIDERS, issue_trackers

UtcTime = Annotated[pd.DatetimeTZDtype, "us", "UTC"]
COMMA_INTS = r"^(\d+(,\d+)*)?$"
COMMA_SHAS = r"^([0-9a-f]{7,40}(,[0-9a-f]{7,40})*)?$"
MERGE_METHODS = ["merge", "squash", "rebase", "direct", "unknown"]
FINAL_STATUSES = ["success", "failure", "error", "inactive", "pending"]


def _text(**kwargs) -> pa.Field:
    return pa.Field(coerce=True, **kwargs)


def _time(nullable: bool = False) -> pa.Field:
    return pa.Field(coerce=True, nullable=nullable)


def _day_of(time: pd.Series) -> pd.Series:
    return time.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()


def _event_day_matches(df: pd.DataFrame, anchor: str) -> pd.Series:
    day = df["event_day"]
    return (day == day.dt.normalize()) & (day == _day_of(df[anchor]))


def _starts_with_repo(df: pd.DataFrame, id_column: str, sep: str) -> pd.Series:
    ok = [str(i).startswith(f"{r}{sep}") for i, r in zip(df[id_column], df["repo"], strict=True)]
    return pd.Series(ok, index=df.index, dtype=bool)


class SilverChangesSchema(pa.DataFrameModel):
    """One row per merged PR or direct commit on a default branch."""

    change_id: Series[str] = _text(unique=True, str_matches=r"^[^\s#@]+/[^\s#@]+[#@][^\s]+$")
    repo: Series[str] = _text(str_matches=r"^[^\s/]+(/[^\s/]+)+$")
    kind: Series[str] = _text(isin=["pull_request", "commit"])
    pr_number: Series[pd.Int64Dtype] = pa.Field(coerce=True, nullable=True, ge=1)
    merge_method: Series[str] = _text(isin=MERGE_METHODS)
    head_sha: Series[str] = _text(str_length={"min_value": 7})
    commit_shas: Series[str] = _text(str_matches=COMMA_SHAS)
    first_commit_at: Series[UtcTime] = _time(nullable=True)
    landed_at: Series[UtcTime] = _time()
    opened_at: Series[UtcTime] = _time(nullable=True)
    first_review_at: Series[UtcTime] = _time(nullable=True)
    fixes_issues: Series[str] = _text(str_matches=COMMA_INTS)
    is_hotfix: Series[bool] = pa.Field(coerce=True)
    reverted_change_ids: Series[str] = _text(str_matches=r"^([^\s,]+(,[^\s,]+)*)?$")
    mainline_pushed_at: Series[UtcTime] = _time(nullable=True)
    mainline_pos: Series[pd.Int64Dtype] = pa.Field(coerce=True, nullable=True, ge=0)
    event_day: Series[pa.DateTime] = pa.Field(coerce=False)

    class Config:
        name = "silver_changes"
        strict = True

    @pa.dataframe_check
    def event_day_is_landing_day(cls, df: pd.DataFrame) -> Series[bool]:
        return _event_day_matches(df, "landed_at")

    @pa.dataframe_check
    def kind_matches_id(cls, df: pd.DataFrame) -> Series[bool]:
        pr = df["kind"] == "pull_request"
        return (
            (pr == df["pr_number"].notna())
            & (pr == (df["merge_method"] != "direct"))
            & (_starts_with_repo(df, "change_id", "#") == pr)
        )

    @pa.dataframe_check
    def stages_only_for_pull_requests(cls, df: pd.DataFrame) -> Series[bool]:
        # Direct commits have no lead-time stages; a review counts only at or before the merge.
        pr = df["kind"] == "pull_request"
        no_stage = df["opened_at"].isna() & df["first_review_at"].isna()
        before_merge = df["first_review_at"].isna() | (df["first_review_at"] <= df["landed_at"])
        return (pr | no_stage) & before_merge

    @pa.dataframe_check
    def hotfix_has_fixes(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["is_hotfix"].astype(bool) | (df["fixes_issues"] != "")

    @pa.dataframe_check
    def mainline_columns_together(cls, df: pd.DataFrame) -> Series[bool]:
        on_main = df["mainline_pushed_at"].notna()
        return (on_main == df["mainline_pos"].notna()) & (on_main == (df["commit_shas"] != ""))


class SilverDeploymentsSchema(pa.DataFrameModel):
    """One row per deployment with its outcome and the main-line changes it shipped."""

    deployment_id: Series[str] = _text(unique=True, str_matches=r"^[^\s:]+/[^\s:]+:\d+$")
    repo: Series[str] = _text(str_matches=r"^[^\s/]+(/[^\s/]+)+$")
    environment: Series[str] = _text(str_length={"min_value": 1})
    is_production: Series[bool] = pa.Field(coerce=True)
    sha: Series[str] = _text(str_length={"min_value": 1})
    created_at: Series[UtcTime] = _time()
    finished_at: Series[UtcTime] = _time(nullable=True)
    final_status: Series[str] = _text(isin=FINAL_STATUSES)
    status_count: Series[int] = pa.Field(coerce=True, ge=0)
    is_rollback: Series[bool] = pa.Field(coerce=True)
    previous_deployment_id: Series[str] = _text(nullable=True)
    release_id: Series[str] = _text(nullable=True)
    is_baseline: Series[bool] = pa.Field(coerce=True)
    undoes_deployment_id: Series[str] = _text(nullable=True)
    change_ids: Series[str] = _text()
    commit_shas: Series[str] = _text(str_matches=COMMA_SHAS)
    changes_known: Series[bool] = pa.Field(coerce=True)
    event_day: Series[pa.DateTime] = pa.Field(coerce=False)

    class Config:
        name = "silver_deployments"
        strict = True

    @pa.dataframe_check
    def event_day_is_creation_day(cls, df: pd.DataFrame) -> Series[bool]:
        return _event_day_matches(df, "created_at")

    @pa.dataframe_check
    def finished_iff_not_pending(cls, df: pd.DataFrame) -> Series[bool]:
        return df["finished_at"].isna() == (df["final_status"] == "pending")

    @pa.dataframe_check
    def only_successful_production_ships(cls, df: pd.DataFrame) -> Series[bool]:
        ships = (df["commit_shas"] != "") | (df["change_ids"] != "") | df["is_rollback"].astype(bool)
        ships |= df["is_baseline"].astype(bool) | df["undoes_deployment_id"].notna()
        ok = df["is_production"].astype(bool) & (df["final_status"] == "success") & df["changes_known"]
        return ~ships | ok

    @pa.dataframe_check
    def release_iff_successful_production(cls, df: pd.DataFrame) -> Series[bool]:
        """Every successful production deployment belongs to a release; only its first row ships."""
        released = df["is_production"].astype(bool) & (df["final_status"] == "success")
        first = df["release_id"].astype(str) == df["deployment_id"].astype(str)
        ships = (df["commit_shas"] != "") | (df["change_ids"] != "")
        return (df["release_id"].notna() == released) & (~ships | first)

    @pa.dataframe_check
    def rollback_ships_nothing(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["is_rollback"].astype(bool) | ((df["commit_shas"] == "") & (df["change_ids"] == ""))

    @pa.dataframe_check
    def ids_belong_to_repo(cls, df: pd.DataFrame) -> Series[bool]:
        ok = _starts_with_repo(df, "deployment_id", ":")
        for column in ("previous_deployment_id", "release_id", "undoes_deployment_id"):
            ids = df[column]
            same = [pd.isna(p) or str(p).startswith(f"{r}:") for p, r in zip(ids, df["repo"], strict=True)]
            ok &= pd.Series(same, index=df.index, dtype=bool)
        return ok


class SilverIncidentsSchema(pa.DataFrameModel):
    """One row per incident issue, on the day it was opened."""

    incident_id: Series[str] = _text(unique=True, str_matches=r"^[^\s#]+/[^\s#]+#([a-z]+-)?\d+$")
    repo: Series[str] = _text(str_matches=r"^[^\s/]+(/[^\s/]+)+$")
    provider: Series[str] = _text(isin=list(PROVIDERS))
    number: Series[int] = pa.Field(coerce=True, ge=1)
    title: Series[str] = _text()
    opened_at: Series[UtcTime] = _time()
    resolved_at: Series[UtcTime] = _time(nullable=True)
    reopened_count: Series[int] = pa.Field(coerce=True, ge=0)
    is_open: Series[bool] = pa.Field(coerce=True)
    root_cause_raw: Series[str] = _text(nullable=True, str_matches=r"^[0-9a-fA-F]{7,40}$")
    root_cause_sha: Series[str] = _text(nullable=True, str_matches=r"^[0-9a-fA-F]{7,40}$")
    event_day: Series[pa.DateTime] = pa.Field(coerce=False)

    class Config:
        name = "silver_incidents"
        strict = True

    @pa.dataframe_check
    def event_day_is_opening_day(cls, df: pd.DataFrame) -> Series[bool]:
        return _event_day_matches(df, "opened_at")

    @pa.dataframe_check
    def resolved_iff_closed(cls, df: pd.DataFrame) -> Series[bool]:
        return df["resolved_at"].isna() == df["is_open"].astype(bool)

    @pa.dataframe_check
    def root_cause_pairs(cls, df: pd.DataFrame) -> Series[bool]:
        return df["root_cause_raw"].isna() == df["root_cause_sha"].isna()

    @pa.dataframe_check
    def id_is_repo_and_number(cls, df: pd.DataFrame) -> Series[bool]:
        """Issue trackers keep `<repo>#<number>`; other providers are `<repo>#<provider>-<number>`."""
        namespace = (df["provider"].astype(str) + "-").where(~df["provider"].isin(issue_trackers()), "")
        return df["incident_id"] == df["repo"].astype(str) + "#" + namespace + df["number"].astype(str)
