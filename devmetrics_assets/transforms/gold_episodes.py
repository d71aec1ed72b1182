"""Failure episodes: at most one change failure per incident or per rollback without an incident.

- An incident linked to a release (root cause or inferred, gold_links.py) blames that release. A rollback
  of the blamed release's repo that starts while the incident is open (opened_at <= start <= resolved_at)
  and goes back to a sha first released before the blamed release (so it removes the blamed change) is
  the incident's recovery, not a second failure.
- Every other rollback starts or joins a rollback episode: consecutive rollbacks of a repo with no release
  shipping changes between them (a double rollback) are one episode, which blames the release that first
  shipped the newest change the first rollback undoes (`undoes_deployment_id`, from Silver). A release
  that ships nothing is never blamed, so a double rollback never blames its own first rollback.
- Recovery: an incident-linked failure is measured from the later of the release's finish and the
  incident's opening, to the earliest of the rollbacks during its incidents and, once every incident it
  caused is resolved, the latest resolution. A rollback-only failure is measured from the release's
  finish to the finish of the episode's last rollback. A release blamed by several episodes takes the one
  that ended first; with none ended it is unrecovered, and its age runs from the earliest start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EPISODE_COLUMNS = ["deployment_id", "kind", "start_at", "end_at", "evidence_days"]
RECOVERY_COLUMNS = ["failure_kinds", "failure_start_at", "recovered_at"]


def _absorbed(releases: pd.DataFrame, links: pd.DataFrame, rollbacks: pd.DataFrame) -> pd.DataFrame:
    """The rollbacks that recover a linked incident (incident_id, blamed_id, rollback deployment_id,
    finished_at, event_day): same repo as the blamed release, started while the incident was open, back
    to a sha first released before the blamed release started."""
    first_release = releases.groupby(["repo", "sha"])["created_at"].min().rename("target_released_at")
    blamed_start = releases.set_index("deployment_id")["created_at"]
    pairs = links[["incident_id", "deployment_id", "deployment_repo", "opened_at", "resolved_at", "is_open"]]
    pairs = pairs.assign(blamed_start=blamed_start.reindex(pairs["deployment_id"]).to_numpy())
    pairs = pairs.rename(columns={"deployment_id": "blamed_id"}).merge(
        rollbacks[["deployment_id", "repo", "sha", "created_at", "finished_at", "event_day"]],
        left_on="deployment_repo",
        right_on="repo",
    )
    pairs = pairs.join(first_release, on=["repo", "sha"])
    during = (pairs["created_at"] >= pairs["opened_at"]) & (
        pairs["is_open"] | (pairs["created_at"] <= pairs["resolved_at"])
    )
    return pairs[during & (pairs["target_released_at"] < pairs["blamed_start"])]


def failure_episodes(releases: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """One row per failure episode (EPISODE_COLUMNS); incident episodes are grouped per blamed release."""
    finish = releases.set_index("deployment_id")["finished_at"]
    rollbacks = releases[releases["is_rollback"]]
    absorbed = _absorbed(releases, links, rollbacks) if len(links) and len(rollbacks) else None
    frames = []
    if len(links):
        by = links.groupby("deployment_id", sort=True)
        inc = pd.DataFrame(
            {
                "opened": by["opened_at"].min(),
                "any_open": by["is_open"].any(),
                "resolved": by["resolved_at"].max(),
                "days": by["incident_day"].agg(list),
            }
        )
        ends = inc["resolved"].where(~inc["any_open"])
        if absorbed is not None and len(absorbed):
            rb = absorbed.groupby("blamed_id").agg(rb_end=("finished_at", "min"), rb_days=("event_day", list))
            rb = rb.reindex(inc.index)
            ends = pd.concat([ends, rb["rb_end"]], axis=1).min(axis=1)
            extra = rb["rb_days"].map(lambda v: v if isinstance(v, list) else [])
            inc["days"] = [sorted({*a, *b}) for a, b in zip(inc["days"], extra, strict=True)]
        start = pd.concat([finish.reindex(inc.index), inc["opened"]], axis=1).max(axis=1)
        kinds = links[["deployment_id", "link"]].drop_duplicates().sort_values(["deployment_id", "link"])
        frames.append(
            pd.DataFrame(
                {
                    "deployment_id": kinds["deployment_id"].to_numpy(),
                    "kind": kinds["link"].to_numpy(),
                    "start_at": start.reindex(kinds["deployment_id"]).to_numpy(),
                    "end_at": ends.reindex(kinds["deployment_id"]).to_numpy(),
                    "evidence_days": inc["days"].reindex(kinds["deployment_id"]).to_numpy(),
                }
            )
        )
    taken = set(absorbed["deployment_id"]) if absorbed is not None else set()
    free = rollbacks[~rollbacks["deployment_id"].isin(taken)]
    frames.append(pd.DataFrame(_rollback_episodes(releases, free, finish), columns=EPISODE_COLUMNS))
    frame = (
        pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else None
    )
    frame = frame if frame is not None else pd.DataFrame(columns=EPISODE_COLUMNS)
    for col in ("start_at", "end_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.as_unit("us")
    return frame[EPISODE_COLUMNS]


def _episode(dep_id: str, kind: str, start: object, end: object, days: list) -> dict:
    return {"deployment_id": dep_id, "kind": kind, "start_at": start, "end_at": end, "evidence_days": days}


def _rollback_episodes(releases: pd.DataFrame, free: pd.DataFrame, finish: pd.Series) -> list[dict]:
    """Consecutive free rollbacks of a repo (no shipping release started between them) blame once."""
    rows: list[dict] = []
    shipping = releases[releases["ships"] & ~releases["is_rollback"]]
    starts_of = {
        r: np.sort(g.to_numpy(dtype="datetime64[us]")) for r, g in _naive(shipping).groupby(shipping["repo"])
    }
    ordered = free.sort_values(["created_at", "deployment_id"], kind="stable")
    for repo, group in ordered.groupby("repo", sort=True):
        starts = starts_of.get(repo, np.array([], dtype="datetime64[us]"))
        at = _naive(group).to_numpy(dtype="datetime64[us]")
        # shipping releases started before each rollback: equal counts mean none started in between
        before = np.searchsorted(starts, at, side="left")
        episode: list[dict] = []
        for k, rb in enumerate(group.to_dict("records")):
            if episode and before[k] != before[k - 1]:
                rows += _close(episode, finish)
                episode = []
            episode.append(rb)
        rows += _close(episode, finish)
    return rows


def _naive(frame: pd.DataFrame) -> pd.Series:
    return frame["created_at"].dt.tz_convert("UTC").dt.tz_localize(None)


def _close(episode: list[dict], finish: pd.Series) -> list[dict]:
    if not episode:
        return []
    blamed = episode[0]["undoes_deployment_id"]
    if blamed is None or pd.isna(blamed) or blamed not in finish.index:
        return []
    end = max(r["finished_at"] for r in episode)
    days = sorted({r["event_day"] for r in episode})
    return [_episode(blamed, "rollback", finish[blamed], end, days)]


def recoveries(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per blamed release (index deployment_id): RECOVERY_COLUMNS from its episodes."""
    if episodes.empty:
        return pd.DataFrame(columns=RECOVERY_COLUMNS, index=pd.Index([], name="deployment_id"))
    kinds = episodes[["deployment_id", "kind"]].drop_duplicates().sort_values(["deployment_id", "kind"])
    out = pd.DataFrame({"failure_kinds": kinds.groupby("deployment_id")["kind"].agg(",".join)})
    ended = episodes.dropna(subset=["end_at"]).sort_values(["end_at", "start_at"], kind="stable")
    first = ended.drop_duplicates("deployment_id").set_index("deployment_id")
    earliest = episodes.groupby("deployment_id")["start_at"].min()
    out["failure_start_at"] = first["start_at"].reindex(out.index).fillna(earliest.reindex(out.index))
    out["recovered_at"] = first["end_at"].reindex(out.index)
    out.index.name = "deployment_id"
    for col in ("failure_start_at", "recovered_at"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.as_unit("us")
    return out[RECOVERY_COLUMNS]
