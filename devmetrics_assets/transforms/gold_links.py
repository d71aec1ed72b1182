"""Which release caused an incident: a named root cause, or an inferred one (contracts §5, docs/metrics.md).

- root_cause: the incident names a commit (`root_cause_sha`: a full sha, or a prefix of at least 7 hex
  digits) of its repo, and the release that FIRST shipped that commit (start order) caused it. A redeploy
  after a rollback ships nothing new, so it is never a second cause. A release that started after the
  incident was resolved cannot have caused it: that is no link, and `invalid_root_causes` reports it
  (a warning check names the incident).
- inferred: an incident with no root cause is linked to the latest release that finished at most
  `rules.incident_inference_window_h` hours before it opened, among the releases of the repos of its
  repo's service (a repo without a service is its own service) that shipped changes (a rollback or a
  release that ships nothing is never blamed). No such release: no link.
Each link says which kind it is, so Gold can report the change failure rate with and without inference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.gold_releases import utc

MIN_SHA_PREFIX = 7
_HEX = r"^[0-9a-f]+$"
LINK_COLUMNS = [
    "incident_id",
    "deployment_id",
    "link",
    "incident_repo",
    "deployment_repo",
    "opened_at",
    "resolved_at",
    "is_open",
    "incident_day",
]
INVALID_COLUMNS = ["incident_id", "deployment_id", "deployment_started_at", "incident_resolved_at"]


def explode_list(frame: pd.DataFrame, column: str, keep: list[str], name: str) -> pd.DataFrame:
    """One row per non-empty item of a comma-list column (contract: "" when empty, never null)."""
    parts = frame[keep].copy()
    parts[name] = frame[column].fillna("").astype(str).str.split(",")
    parts = parts.explode(name, ignore_index=True)
    parts[name] = parts[name].astype(str).str.strip()
    return parts[parts[name] != ""].reset_index(drop=True)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def first_shippers(releases: pd.DataFrame) -> pd.DataFrame:
    """(repo, commit_sha) -> deployment_id of the release that shipped it first (start order)."""
    shipped = explode_list(releases, "commit_shas", ["deployment_id", "repo", "created_at"], "commit_sha")
    shipped["commit_sha"] = shipped["commit_sha"].str.lower()
    shipped = shipped.sort_values(["created_at", "deployment_id"], kind="stable")
    return shipped.drop_duplicates(["repo", "commit_sha"]).reset_index(drop=True)


def root_cause_matches(releases: pd.DataFrame, incidents: pd.DataFrame) -> pd.DataFrame:
    """(deployment_id, incident_id): the release that first shipped the incident's root-cause commit.

    The root cause is a full sha or a prefix of at least 7 hex digits of a commit of the same repo; the
    join runs on the 7-digit prefix first (a hash join), then checks the whole prefix.
    """
    empty = pd.DataFrame({"deployment_id": pd.Series(dtype="str"), "incident_id": pd.Series(dtype="str")})
    causes = incidents[["incident_id", "repo", "root_cause_sha"]].dropna(subset=["root_cause_sha"]).copy()
    causes["root_cause_sha"] = causes["root_cause_sha"].astype(str).str.strip().str.lower()
    ok = causes["root_cause_sha"].str.len().between(MIN_SHA_PREFIX, 40)
    causes = causes[ok & causes["root_cause_sha"].str.match(_HEX)]
    if causes.empty or releases.empty:
        return empty
    shipped = first_shippers(releases)
    shipped["key"] = shipped["commit_sha"].str[:MIN_SHA_PREFIX]
    causes["key"] = causes["root_cause_sha"].str[:MIN_SHA_PREFIX]
    pairs = shipped.merge(causes, on=["repo", "key"])
    hit = [c.startswith(r) for c, r in zip(pairs["commit_sha"], pairs["root_cause_sha"], strict=True)]
    # A boolean array, never a list: an empty list would select no COLUMNS instead of no rows.
    pairs = pairs.loc[np.array(hit, dtype=bool)].sort_values(["created_at", "deployment_id"], kind="stable")
    first = pairs.drop_duplicates("incident_id", keep="first")
    return first[["deployment_id", "incident_id"]].reset_index(drop=True)


def _incident_times(incidents: pd.DataFrame) -> pd.DataFrame:
    inc = incidents.drop_duplicates("incident_id").copy()
    inc["opened_at"] = utc(inc["opened_at"])
    inc["resolved_at"] = utc(inc["resolved_at"])
    inc["is_open"] = inc["is_open"].fillna(True).astype(bool) | inc["resolved_at"].isna()
    inc["incident_day"] = pd.to_datetime(inc["event_day"]).dt.as_unit("us")
    return inc


def incident_links(
    releases: pd.DataFrame, incidents: pd.DataFrame, rules: DoraRules | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links: LINK_COLUMNS, one per linked incident; invalid root causes: INVALID_COLUMNS)."""
    rules = rules or DoraRules()
    if incidents.empty or releases.empty:
        return _empty(LINK_COLUMNS), _empty(INVALID_COLUMNS)
    inc = _incident_times(incidents)
    rel = releases[["deployment_id", "repo", "created_at", "finished_at"]]
    named = root_cause_matches(releases, inc).merge(inc, on="incident_id").merge(
        rel.rename(columns={"repo": "deployment_repo"}), on="deployment_id"
    )
    too_late = ~named["is_open"] & (named["created_at"] > named["resolved_at"])
    invalid = named[too_late].rename(
        columns={"created_at": "deployment_started_at", "resolved_at": "incident_resolved_at"}
    )[INVALID_COLUMNS]
    named = named[~too_late].assign(link="root_cause")
    inferred = _inferred(releases, inc[inc["root_cause_sha"].isna()], rules)
    links = pd.concat([named.rename(columns={"repo": "incident_repo"}), inferred], ignore_index=True)
    if links.empty:
        return _empty(LINK_COLUMNS), invalid.reset_index(drop=True)
    return links[LINK_COLUMNS].reset_index(drop=True), invalid.reset_index(drop=True)


def _inferred(releases: pd.DataFrame, inc: pd.DataFrame, rules: DoraRules) -> pd.DataFrame:
    """Latest shipping release of the incident's service that finished within the window before opening."""
    window = pd.Timedelta(hours=rules.incident_inference_window_h)
    candidates = releases[releases["ships"] & ~releases["is_rollback"] & releases["finished_at"].notna()]
    if inc.empty or candidates.empty or window <= pd.Timedelta(0):
        return _empty(LINK_COLUMNS)
    cand = candidates[["deployment_id", "repo", "created_at", "finished_at"]].rename(
        columns={"repo": "deployment_repo"}
    )
    cand = cand.assign(service=[rules.service_of(r) for r in cand["deployment_repo"]])
    inc = inc.assign(service=[rules.service_of(r) for r in inc["repo"]])
    pairs = inc.merge(cand, on="service")
    gap = pairs["opened_at"] - pairs["finished_at"]
    pairs = pairs[(gap >= pd.Timedelta(0)) & (gap <= window)]
    pairs = pairs.sort_values(["finished_at", "created_at", "deployment_id"], kind="stable")
    latest = pairs.drop_duplicates("incident_id", keep="last")
    return latest.rename(columns={"repo": "incident_repo"}).assign(link="inferred")
