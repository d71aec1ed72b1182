"""Production releases, rollbacks and what each release ships (silver_deployments' sequencing rules).

Everything here is ordered by a deployment's START (created_at, then numeric id), never by its finish:
pipelines overlap, approvals wait and regions roll out one after another, so the order in which statuses
finish says nothing about what a deployment meant to replace. Start order also keeps every row a function
of the past only, so a day partition computed early never changes when later days arrive.

- Sequence: the successful production deployments of a repo (deployment_unit `release`), or of each
  (repo, production environment) (deployment_unit `environment`).
- Release (`release_id`): one (repo, sha) reaching production. With the `release` unit a deployment joins
  the latest release of its sha when its environment has not received that release yet and has deployed
  nothing else since the release started (a staggered multi-region rollout); otherwise it starts a new
  release. release_id is the deployment_id of the release's first deployment; that row alone carries the
  release's shipped commits. With the `environment` unit every deployment is its own release.
- Running sha at a start: the sha of the release whose first environment finished last at or before it.
- Rollback: a release of a sha already released (finished before this one started) that is strictly older
  on the main line than the running sha. `undoes_deployment_id` is the release that first shipped the
  running sha, i.e. the newest shipped change the rollback undoes.
- Shipping: a repo's first release with a main-line sha is its baseline and ships every main-line commit up
  to its sha (Gold gives those no lead time: they predate what was observed). Later releases ship the
  main-line commits above the highest position released so far, up to their own sha; a rollback, a
  redeploy of the running sha and a release of an older never-released sha (a re-run of a superseded
  workflow, a late approval) ship nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms.payloads import ShaIndex

PRODUCTION_SEQUENCE = "\x00production"


@dataclass
class _Release:
    release_id: str
    sha: str
    pos: float  # main-line position, nan when unknown
    start: pd.Timestamp
    first_index: int  # position of its first deployment in start order
    finished: pd.Timestamp | None
    envs: set[str] = field(default_factory=set)
    is_rollback: bool = False
    is_baseline: bool = False
    undoes: str | None = None


@dataclass
class _Sequence:
    """What one sequence has released so far (start order)."""

    shas: np.ndarray
    hwm: float = np.nan  # highest main-line position released
    releases: list[_Release] = field(default_factory=list)
    latest_of_sha: dict[str, _Release] = field(default_factory=dict)
    last_in_env: dict[str, int] = field(default_factory=dict)
    shipper: dict[str, str] = field(default_factory=dict)  # commit sha -> release that first shipped it
    positioned: list[_Release] = field(default_factory=list)  # releases with a main-line position

    def running_at(self, when: pd.Timestamp) -> _Release | None:
        """The release with the latest (finished, first_index) among those with a main-line position that
        finished at or before `when`. One pass: `positioned` is in first_index order, so a later release
        with the same finish time wins a tie, as max() over (finished, first_index) would have it."""
        best: _Release | None = None
        for r in self.positioned:
            done = r.finished
            if done is not None and done <= when and (best is None or done >= best.finished):
                best = r
        return best

    def released_before(self, sha: str, when: pd.Timestamp) -> bool:
        return any(r.sha == sha and r.finished is not None and r.finished <= when for r in self.releases)


def _positions(deps: pd.DataFrame, mainline: pd.DataFrame) -> pd.Series:
    """Main-line position of each deployment's sha (a unique short-sha prefix counts), nan if unknown."""
    index = ShaIndex(mainline["repo"], mainline["sha"])
    pos = {(r, s): q for r, s, q in zip(mainline["repo"], mainline["sha"], mainline["seq"], strict=True)}
    full = [
        s.lower() if (r, s.lower()) in pos else index.resolve(r, s)
        for r, s in zip(deps["repo"], deps["sha"], strict=True)
    ]
    values = [pos.get((r, f), np.nan) if f else np.nan for r, f in zip(deps["repo"], full, strict=True)]
    return pd.Series(values, index=deps.index, dtype="float64")


def sequence_keys(deps: pd.DataFrame, rules: DoraRules) -> pd.Series:
    """The sequence each deployment belongs to (within its repo): production is one sequence per repo with
    the `release` unit and one per environment with the `environment` unit; other environments one each."""
    env = deps["environment"].astype("str").str.strip().str.lower()
    one = rules.deployment_unit == "release"
    key = np.where(deps["is_production"] & one, PRODUCTION_SEQUENCE, env)
    return pd.Series(key, index=deps.index, dtype="str")


def sequence(deps: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules) -> pd.DataFrame:
    """deps (with final_status, finished_at, deployment_id) + is_production, changes_known,
    previous_deployment_id, release_id, is_rollback, is_baseline, undoes_deployment_id, change_ids,
    commit_shas; rows in (repo, start) order."""
    envs = deps["environment"].unique()
    prod_of = {e: rules.is_production(e) for e in envs}
    deps = deps.assign(is_production=deps["environment"].map(prod_of).astype(bool))
    deps = deps.assign(_pos=_positions(deps, mainline))
    deps = deps.assign(changes_known=deps["_pos"].notna(), _seq_key=sequence_keys(deps, rules))
    deps = deps.sort_values(["repo", "created_at", "dep_id"], kind="stable").reset_index(drop=True)

    group = [deps["repo"], deps["_seq_key"]]
    ok = deps["final_status"] == "success"
    deps["previous_deployment_id"] = (
        deps["deployment_id"].where(ok).groupby(group).ffill().groupby(group).shift(1)
    )
    n = len(deps)
    out = {
        "release_id": [None] * n,
        "is_rollback": [False] * n,
        "is_baseline": [False] * n,
        "undoes_deployment_id": [None] * n,
        "change_ids": [""] * n,
        "commit_shas": [""] * n,
    }
    by_repo = {r: (g["sha"].to_numpy(), g["change_id"].to_numpy()) for r, g in mainline.groupby("repo")}
    none = (np.array([], dtype=object), np.array([], dtype=object))
    shipping = np.flatnonzero((ok & deps["is_production"]).to_numpy())
    columns = ["repo", "sha", "environment", "created_at", "finished_at", "deployment_id", "_pos", "_seq_key"]
    sequences: dict[tuple[str, str], _Sequence] = {}
    for i, row in zip(shipping, deps.iloc[shipping][columns].to_dict("records"), strict=True):
        shas, cids = by_repo.get(row["repo"], none)
        seq = sequences.setdefault((row["repo"], row["_seq_key"]), _Sequence(shas))
        env = str(row["environment"]).strip().lower()
        release = _release_of(seq, row, env, rules)
        if release is None:
            release = _new_release(seq, row, int(i))
            if not np.isnan(release.pos):
                a, b = _ship(seq, release)
                out["commit_shas"][i] = ",".join(shas[a:b])
                out["change_ids"][i] = ",".join(dict.fromkeys(cids[a:b]))
                for commit in shas[a:b]:
                    seq.shipper.setdefault(commit, release.release_id)
        elif not pd.isna(row["finished_at"]):
            # Lead time is measured at the release's first environment to finish.
            done = row["finished_at"]
            release.finished = done if release.finished is None else min(release.finished, done)
        release.envs.add(env)
        seq.last_in_env[env] = int(i)
        out["release_id"][i] = release.release_id
        out["is_rollback"][i] = release.is_rollback
        out["is_baseline"][i] = release.is_baseline
        out["undoes_deployment_id"][i] = release.undoes
    for column, values in out.items():
        deps[column] = values
    return deps.drop(columns=["_pos", "_seq_key"])


def _release_of(seq: _Sequence, row: dict, env: str, rules: DoraRules) -> _Release | None:
    """The existing release this deployment joins (staggered environments of one release), else None."""
    if rules.deployment_unit != "release":
        return None
    current = seq.latest_of_sha.get(row["sha"])
    if current is None or env in current.envs:
        return None
    last = seq.last_in_env.get(env)
    return current if last is None or last < current.first_index else None


def _new_release(seq: _Sequence, row: dict, i: int) -> _Release:
    finished = None if pd.isna(row["finished_at"]) else row["finished_at"]
    release = _Release(row["deployment_id"], row["sha"], row["_pos"], row["created_at"], i, finished)
    if not np.isnan(release.pos):
        running = seq.running_at(release.start)
        if (
            running is not None
            and release.pos < running.pos
            and seq.released_before(release.sha, release.start)
        ):
            release.is_rollback = True
            release.undoes = seq.shipper.get(str(seq.shas[int(running.pos)]))
        elif np.isnan(seq.hwm):
            release.is_baseline = True
    seq.releases.append(release)
    if not np.isnan(release.pos):
        seq.positioned.append(release)
    seq.latest_of_sha[release.sha] = release
    return release


def _ship(seq: _Sequence, release: _Release) -> tuple[int, int]:
    """[a, b) main-line positions the release ships; advances the sequence's high-water mark."""
    pos = int(release.pos)
    if release.is_rollback:
        return 0, 0
    a = 0 if np.isnan(seq.hwm) else int(seq.hwm) + 1
    seq.hwm = float(pos) if np.isnan(seq.hwm) else max(seq.hwm, float(pos))
    return a, max(a, pos + 1)
