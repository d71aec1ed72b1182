"""GitLab webhook bodies → the same Silver entities as GitHub (contracts §4, §6).

Event types (`X-Gitlab-Event`): Push Hook, Merge Request Hook, Deployment Hook, Issue Hook, Note Hook
(and the Confidential Issue/Note Hook variants). The repo is `project.path_with_namespace`.

Rules, and where they differ from GitHub:
- Main line: pushes to `refs/heads/<project.default_branch>`, commits in payload order (oldest first).
  A Push Hook has no push time, so a push's time is the earlier of its head commit's timestamp and its
  received time (a late delivery does not move it), raised to its predecessor's time when its `before` is
  another push's `after`; ties follow the chain (mainline._push_order). A direct commit's landed_at is
  that push time. Pushes dedupe on (repo, ref, before, after), earliest received kept.
  GitLab lists at most 20 commits per push (`total_commits_count` has the real number): older commits of a
  bigger push are not on the main line and are shipped by no deployment.
- Merge requests: `object_attributes.state == "merged"` or `action == "merge"` into the default branch.
  number = iid, change_id `<repo>#<iid>`. The commit that represents the MR on the main line is
  `merge_commit_sha`, else `squash_commit_sha`, else `last_commit.id` (fast-forward). Merge method from the
  payload: `squash` (flag or squash sha) → squash; a merge commit → merge; otherwise rebase (fast-forward).
  merged_at = `merged_at` when present, else `updated_at` of the merge event. first_commit_at: earliest
  commit pushed to the source branch, else the MR's created_at. `Closes/Fixes/Resolves/Implements #N`
  (GitLab's default closing pattern, lists like `#1, #2 and #3`) in the description fill fixes_issues;
  `group/project#N` is another project and ignored.
- Deployments: one Deployment Hook per status (running, success, failed, canceled). deployment id =
  `deployment_id` (older GitLab: `deployable_id`); the sha comes from `commit_url` (full) or `short_sha`.
  created_at = the earliest `status_changed_at` seen; states map to GitHub's: running → in_progress,
  success → success, failed → failure, canceled/skipped → inactive (neither a deployment nor a failure),
  created → pending, blocked → waiting. A status is identified by (deployment, state, time), so the
  webhook and API-pull copies of one status count once. Each status anchors on its own time, so Silver
  reads one day past the window for GitLab deployments (a deployment crossing midnight keeps its end).
- Incidents: an issue whose `type`/`issue_type` is incident, or that carries a configured incident label
  (label `title`, any case) in any event. Note Hook comments on issues carry root-cause mentions.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.transforms import generic
from devmetrics_assets.transforms.github_payloads import (
    UTC_DTYPE,
    ZERO_SHA,
    as_day,
    blank_to_none,
    comma_list,
    conform,
    dig,
    first_reason,
    int_or_none,
    json_array_items,
    json_fields,
    parse_bodies,
    text_or_none,
    to_int,
    utc_day,
)
from devmetrics_assets.transforms.mainline import (
    MainlineInputs,
    build_mainline,
    head_branch_first_commits,
    merged_pull_requests,
)
from devmetrics_assets.transforms.quarantine import bronze_rejects, in_window
from devmetrics_assets.transforms.silver_changes import CHANGES_DTYPES, _direct_changes, _pr_changes

PROVIDER = "gitlab"
PUSH, MR, DEPLOY, ISSUE, NOTE = (
    "Push Hook",
    "Merge Request Hook",
    "Deployment Hook",
    "Issue Hook",
    "Note Hook",
)
MAINLINE_EVENTS = (PUSH, MR)
DEPLOYMENT_EVENTS = (DEPLOY,)
INCIDENT_EVENTS = (ISSUE, NOTE, "Confidential Issue Hook", "Confidential Note Hook")
STATE_MAP = {
    "running": "in_progress",
    "success": "success",
    "failed": "failure",
    "canceled": "inactive",
    "cancelled": "inactive",
    "skipped": "inactive",
    "created": "pending",
    "blocked": "waiting",
}
_CLAUSE = re.compile(
    r"\b(?:clos(?:e[sd]?|ing)|fix(?:e[sd]|ing)?|resolv(?:e[sd]?|ing)|implement(?:s|ing|ed)?):?\s+"
    r"((?:(?:issues?\s+)?[\w./-]*#\d+(?:\s*,\s*and\s+|\s*,\s*|\s+and\s+)?)+)",
    re.IGNORECASE,
)
_LOCAL_REF = re.compile(r"(?<![\w./-])#(\d+)")
_COMMIT_URL = re.compile(r"/commit/([0-9a-fA-F]{40})(?![0-9a-fA-F])")


def closed_issue_numbers(*texts: Any) -> list[int]:
    """Issue numbers a GitLab closing pattern references in any text (same project only), sorted."""
    found: set[int] = set()
    for text in texts:
        if isinstance(text, str) and text:
            for clause in _CLAUSE.findall(text):
                found.update(int(n) for n in _LOCAL_REF.findall(clause))
    return sorted(found)


# --------------------------------------------------------------------------- anchors
def anchor_value(event_type: str, body: dict) -> Any:
    """Raw anchor (contracts §6): push → first commit timestamp; MR → merged_at / updated_at; deployment →
    status_changed_at; issue → created_at; note on an issue → the issue's created_at. GitLab's
    `... UTC` text is normalised so `github_payloads.to_utc` parses it."""
    if not isinstance(body, dict):
        return None
    attrs = body.get("object_attributes")
    if event_type == PUSH:
        commits = body.get("commits")
        value = dig(commits[0], "timestamp") if isinstance(commits, list) and commits else None
    elif event_type == MR:
        value = dig(attrs, "merged_at") or dig(attrs, "updated_at")
    elif event_type == DEPLOY:
        value = body.get("status_changed_at")
    elif event_type in (ISSUE, "Confidential Issue Hook"):
        value = dig(attrs, "created_at")
    elif event_type in (NOTE, "Confidential Note Hook"):
        value = dig(body, "issue", "created_at")
    else:
        value = None
    return generic.normalise_time(value)


# --------------------------------------------------------------------------- main line and changes
PATHS = {
    "repo": "$.project.path_with_namespace",
    "default_branch": "$.project.default_branch",
    "ref": "$.ref",
    "before": "$.before",
    "after": "$.after",
    "number_raw": "$.object_attributes.iid",
    "action": "$.object_attributes.action",
    "state": "$.object_attributes.state",
    "title": "$.object_attributes.title",
    "body": "$.object_attributes.description",
    "gl_merge_sha": "$.object_attributes.merge_commit_sha",
    "squash_sha": "$.object_attributes.squash_commit_sha",
    "squash": "$.object_attributes.squash",
    "last_commit": "$.object_attributes.last_commit.id",
    "head_ref": "$.object_attributes.source_branch",
    "base_ref": "$.object_attributes.target_branch",
    "created_raw": "$.object_attributes.created_at",
    "updated_raw": "$.object_attributes.updated_at",
    "merged_raw": "$.object_attributes.merged_at",
}
TYPE_PATHS = {"commits_type": "$.commits", "attrs_type": "$.object_attributes"}


def _chain_times(pushes: pd.DataFrame) -> pd.Series:
    """Per push: max(its base time, the chain predecessor's time), so chained pushes keep their order."""
    key = list(zip(pushes["repo"], pushes["ref"], strict=True))
    by_after = {(k[0], k[1], a): i for i, (k, a) in enumerate(zip(key, pushes["after"], strict=True))}
    before = pushes["before"].tolist()
    got = pushes["base_at"].tolist()
    eff: dict[int, Any] = {}
    for start in range(len(pushes)):
        stack = [start]
        while stack:
            cur = stack[-1]
            pred = by_after.get((key[cur][0], key[cur][1], before[cur]))
            if pred is not None and pred not in eff and pred not in stack:
                stack.append(pred)
                continue
            stack.pop()
            base = got[cur]
            if pred is not None and pred in eff and eff[pred] > base:
                base = eff[pred]
            eff[cur] = base
    return pd.Series([eff[i] for i in range(len(pushes))], index=pushes.index, dtype=UTC_DTYPE)


def _merge_times(f: pd.DataFrame, is_mr: np.ndarray) -> pd.Series:
    """Merge time of MRs whose payload has no merged_at: updated_at of the `merge` event, else the earliest
    updated_at of a merged state (a later edit of a merged MR must not move its merge time)."""
    merged = f[is_mr & f["merged"].to_numpy() & f["number"].notna().to_numpy()]
    by_action = merged[merged["action"] == "merge"].groupby(["repo", "number"])["updated_at"].min()
    by_state = merged.groupby(["repo", "number"])["updated_at"].min()
    best = by_action.reindex(by_state.index).fillna(by_state)
    keys = pd.MultiIndex.from_frame(f[["repo", "number"]])
    out = pd.Series(best.reindex(keys).to_numpy(), index=f.index).astype(UTC_DTYPE)
    return out.where(f["merged"] & pd.Series(is_mr, index=f.index))


def parse_mainline(deliveries: pd.DataFrame) -> tuple[MainlineInputs, pd.DataFrame]:
    """(main-line inputs in mainline.py's shapes, MR merge facts) from Push Hook + Merge Request Hook rows."""
    frame = deliveries.reset_index(drop=True)
    f = json_fields(frame["body"], PATHS, TYPE_PATHS)
    n = len(frame)
    etype = frame["event_type"].to_numpy()
    is_push, is_mr = etype == PUSH, etype == MR
    for col in (
        "repo",
        "default_branch",
        "ref",
        "after",
        "before",
        "gl_merge_sha",
        "squash_sha",
        "last_commit",
        "head_ref",
        "base_ref",
    ):
        f[col] = blank_to_none(f[col])
    ok_body = f["_error"].isna().to_numpy()
    relevant_push = (
        is_push
        & ok_body
        & f["ref"].str.startswith("refs/heads/").fillna(False).to_numpy()
        & (f["after"] != ZERO_SHA).to_numpy()
    )
    f["number"] = to_int(f["number_raw"])
    for raw, col in (
        ("created_raw", "created_at"),
        ("updated_raw", "updated_at"),
        ("merged_raw", "merged_at"),
    ):
        f[col], f[f"{col}_bad"] = generic.parse_times(f[raw])
    f["merged"] = (f["state"] == "merged") | (f["action"] == "merge")
    f["merged_at"] = f["merged_at"].fillna(_merge_times(f, is_mr))
    f["merge_commit_sha"] = f["gl_merge_sha"].fillna(f["squash_sha"]).fillna(f["last_commit"])
    merged_mr = is_mr & f["merged"].to_numpy()

    commit_rows = np.flatnonzero(relevant_push & (f["commits_type"] == "ARRAY").to_numpy())
    commits = json_array_items(
        frame["body"],
        commit_rows,
        "$.commits",
        {"sha": "$.id", "ts_raw": "$.timestamp", "message": "$.message"},
    )
    commits["sha"] = blank_to_none(commits["sha"]).str.strip().str.lower()
    commits["commit_at"], bad_ts = generic.parse_times(commits["ts_raw"])
    why = first_reason(
        [
            (commits["sha"].isna(), "commit without id"),
            (commits["ts_raw"].isna(), "commit " + commits["sha"].astype("str") + " has no timestamp"),
            (bad_ts, "commit " + commits["sha"].astype("str") + " has an unparseable timestamp"),
        ],
        len(commits),
    )
    why.index = commits.index
    commit_why = commits.assign(_w=why).dropna(subset=["_w"]).drop_duplicates("row").set_index("row")["_w"]
    commit_why = commit_why.reindex(range(n)).to_numpy(dtype=object)

    def has(col: str) -> np.ndarray:
        return f[col].notna().to_numpy()

    reasons = first_reason(
        [
            (~ok_body, f["_error"]),
            (~has("repo"), "project.path_with_namespace missing"),
            (is_push & ~has("ref"), "push without ref"),
            (relevant_push & (f["commits_type"] != "ARRAY").to_numpy(), "push.commits is not a list"),
            (relevant_push & ~has("default_branch"), "project.default_branch missing"),
            (relevant_push & pd.notna(commit_why), pd.Series(commit_why)),
            (is_mr & (f["attrs_type"] != "OBJECT").to_numpy(), "object_attributes missing"),
            (is_mr & f["number"].isna().to_numpy(), "object_attributes.iid missing"),
            *[
                (is_mr & f[f"{c}_bad"], f"object_attributes.{c} is not a valid timestamp")
                for c in ("created_at", "updated_at", "merged_at")
            ],
            (merged_mr & ~has("merged_at"), "merged merge request without merged_at/updated_at"),
            (
                merged_mr & ~has("merge_commit_sha"),
                "merged merge request without merge/squash/last commit sha",
            ),
            (
                merged_mr & ~(has("base_ref") & has("default_branch")),
                "merged merge request without target branch",
            ),
        ],
        n,
    )
    usable = reasons.isna().to_numpy()
    f["row"] = np.arange(n)
    f["received_at"] = generic.received(frame)

    pushes = f.loc[
        relevant_push & usable, ["row", "repo", "ref", "default_branch", "before", "after", "received_at"]
    ]
    pushes = pushes.sort_values(["received_at", "row"], kind="stable")
    pushes = pushes.drop_duplicates(["repo", "ref", "before", "after"], keep="first").reset_index(drop=True)
    # Base time of a push: its head commit's timestamp, or the received time when that is earlier (a
    # late delivery must not move the landing time; a commit clock ahead of the push must not either).
    head_at = commits.sort_values("pos").groupby("row")["commit_at"].last()
    head_at = pd.Series(head_at.reindex(pushes["row"]).to_numpy(), index=pushes.index).astype(UTC_DTYPE)
    pushes = pushes.assign(base_at=head_at.where(head_at < pushes["received_at"], pushes["received_at"]))
    pushes = pushes.assign(branch=pushes["ref"].str.slice(len("refs/heads/")), pushed_at=_chain_times(pushes))
    pushes = pushes.drop(columns="base_at")
    pushes = pushes.rename(columns={"row": "push_key"})
    commits = commits[commits["row"].isin(pushes["push_key"])].rename(columns={"row": "push_key"})
    commits = commits.assign(message=commits["message"].fillna(""))[
        ["push_key", "pos", "sha", "commit_at", "message"]
    ].reset_index(drop=True)
    cols = [
        "row",
        "repo",
        "default_branch",
        "number",
        "action",
        "title",
        "body",
        "merged",
        "merge_commit_sha",
        "head_ref",
        "base_ref",
        "created_at",
        "updated_at",
        "merged_at",
        "received_at",
        "gl_merge_sha",
        "squash_sha",
        "squash",
    ]
    prs = f.loc[is_mr & usable, cols]
    prs = prs.assign(
        number=prs["number"].astype("int64"),
        action=prs["action"].fillna(""),
        title=prs["title"].fillna(""),
        body=prs["body"].fillna(""),
        closed_at=pd.NaT,
        merge_commit_sha=prs["merge_commit_sha"].str.strip().str.lower(),
    )
    prs = prs.sort_values(["received_at", "row"], kind="stable")
    prs = prs.drop_duplicates(["repo", "number", "action", "updated_at", "merged_at"]).reset_index(drop=True)
    method = np.where(
        (prs["squash"] == "true") | prs["squash_sha"].notna(),
        "squash",
        np.where(prs["gl_merge_sha"].notna(), "merge", "rebase"),
    )
    methods = prs.assign(merge_method=method)[["repo", "number", "merge_method", "updated_at", "merged"]]
    return MainlineInputs(pushes, commits, prs, bronze_rejects(frame, reasons)), methods


def _with_methods(mainline: pd.DataFrame, methods: pd.DataFrame) -> pd.DataFrame:
    """Replace GitHub's message-based merge method with the one the MR payload states."""
    latest = methods[methods["merged"]].sort_values("updated_at", kind="stable", na_position="first")
    latest = latest.drop_duplicates(["repo", "number"], keep="last")
    by_change = pd.Series(
        latest["merge_method"].to_numpy(),
        index=(latest["repo"] + "#" + latest["number"].astype("str")).to_numpy(),
    )
    pr = mainline["pr_number"].notna()
    out = mainline.copy()
    out.loc[pr, "merge_method"] = by_change.reindex(out.loc[pr, "change_id"]).fillna("rebase").to_numpy()
    return out


_MEMO: dict[tuple, tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]] = {}


def _fingerprint(deliveries: pd.DataFrame) -> tuple[int, int]:
    cols = [c for c in ("source", "delivery_id", "event_type", "body", "received_at") if c in deliveries]
    src = deliveries[cols].reset_index(drop=True).assign(_row=np.arange(len(deliveries)))
    with duckdb.connect() as con:
        con.register("src", src)
        count, digest = con.execute(
            f"SELECT count(*), bit_xor(hash({', '.join(['_row', *cols])})) FROM src"
        ).fetchall()[0]
    return int(count), int(digest or 0)


def load_mainline(deliveries: pd.DataFrame) -> tuple[MainlineInputs, pd.DataFrame, pd.DataFrame]:
    """(inputs, merged MRs, main line with payload merge methods) of GitLab rows; memoised, read-only."""
    key = _fingerprint(deliveries)
    if key not in _MEMO:
        inputs, methods = parse_mainline(deliveries)
        merged = merged_pull_requests(inputs.prs)
        mainline = _with_methods(build_mainline(inputs, merged), methods)
        _MEMO.clear()
        _MEMO[key] = (inputs, merged, mainline)
    return _MEMO[key]


def build_changes(
    deliveries: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GitLab changes landed in [start, end), rejects of this window's unusable push/MR deliveries)."""
    inputs, merged, mainline = load_mainline(deliveries)
    merged_w = merged[in_window(utc_day(merged["merged_at"]), start, end)].reset_index(drop=True)
    direct_w = mainline[in_window(utc_day(mainline["pushed_at"]), start, end) & mainline["pr_number"].isna()]
    firsts = head_branch_first_commits(inputs, merged_w)
    prs = _pr_changes(merged_w, mainline, firsts)
    prs["fixes_issues"] = [
        comma_list(closed_issue_numbers(t, b))
        for t, b in zip(merged_w["title"], merged_w["body"], strict=True)
    ]
    direct = _direct_changes(direct_w)
    direct["fixes_issues"] = [comma_list(closed_issue_numbers(m)) for m in direct_w["message"]]
    changes = pd.concat([prs, direct], ignore_index=True)
    changes["landed_at"] = pd.to_datetime(changes["landed_at"], utc=True)
    changes["event_day"] = utc_day(changes["landed_at"])
    changes["is_hotfix"] = changes["fixes_issues"] != ""
    changes = changes[in_window(changes["event_day"], start, end)]
    changes = changes.sort_values(["event_day", "landed_at", "change_id"], kind="stable")
    rejects = inputs.rejects[in_window(as_day(inputs.rejects["partition_day"]), start, end)]
    return conform(changes.drop_duplicates("change_id"), CHANGES_DTYPES), rejects


# --------------------------------------------------------------------------- deployments
DEPLOY_PATHS = {
    "repo": "$.project.path_with_namespace",
    "dep_raw": "$.deployment_id",
    "deployable_raw": "$.deployable_id",
    "status": "$.status",
    "at_raw": "$.status_changed_at",
    "environment": "$.environment",
    "short_sha": "$.short_sha",
    "commit_url": "$.commit_url",
    "sha_raw": "$.sha",
}


def parse_deployments(deliveries: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(deps, stats, reasons) in generic's normalised shapes from Deployment Hook rows (one JSON pass)."""
    frame = deliveries.reset_index(drop=True)
    f = json_fields(frame["body"], DEPLOY_PATHS)
    for col in ("repo", "environment", "short_sha", "commit_url", "sha_raw", "status"):
        f[col] = blank_to_none(f[col])
    f["dep_id"] = to_int(f["dep_raw"]).fillna(to_int(f["deployable_raw"]))
    from_url = f["commit_url"].str.extract(_COMMIT_URL, expand=False)
    f["sha"] = f["sha_raw"].fillna(from_url).fillna(f["short_sha"]).str.strip().str.lower()
    f["state"] = f["status"].str.strip().str.lower().map(STATE_MAP)
    f["at"], bad_at = generic.parse_times(f["at_raw"])
    reasons = first_reason(
        [
            (f["_error"].notna(), f["_error"]),
            (f["repo"].isna(), "project.path_with_namespace missing"),
            (f["dep_id"].isna(), "deployment_id (or deployable_id) missing"),
            (f["sha"].isna(), "deployment sha missing (commit_url / short_sha)"),
            (f["environment"].isna(), "deployment environment missing"),
            (f["state"].isna(), "unknown deployment status '" + f["status"].astype("str") + "'"),
            (f["at_raw"].isna(), "status_changed_at missing"),
            (bad_at, "status_changed_at is not a valid timestamp"),
        ],
        len(f),
    )
    ok = f[reasons.isna().to_numpy()].assign(row=lambda x: x.index.to_numpy())
    if ok.empty:
        deps, stats = generic.empty_deployments()
        return deps, stats, pd.Series(reasons.to_numpy(), index=deliveries.index, dtype=object)
    ok = ok.astype({"dep_id": "int64"})
    created = ok.groupby(["repo", "dep_id"])["at"].min().rename("created_at")
    deps = (
        ok.sort_values("row", kind="stable")
        .drop_duplicates(["repo", "dep_id"])
        .join(created, on=["repo", "dep_id"])
    )
    deps = deps.assign(is_event=True)[generic.DEP_COLUMNS].reset_index(drop=True)
    stats = ok.assign(
        status_id=[
            generic.stable_id(r, d, s, a)
            for r, d, s, a in zip(ok["repo"], ok["dep_id"], ok["state"], ok["at"], strict=True)
        ]
    )
    stats = stats.rename(columns={"at": "created_at"})[generic.STAT_COLUMNS]
    stats = stats.drop_duplicates(["repo", "status_id"]).reset_index(drop=True)
    return deps, stats, pd.Series(reasons.to_numpy(), index=deliveries.index, dtype=object)


# --------------------------------------------------------------------------- incidents
def _labels(*sources: Any) -> list[str]:
    for labels in sources:
        if isinstance(labels, list) and labels:
            names = [(x.get("title") or x.get("name")) if isinstance(x, dict) else x for x in labels]
            return [x for x in names if isinstance(x, str)]
    return []


def _is_incident(issue: dict, labels: list[str], rules: DoraRules) -> bool:
    kind = str(issue.get("type") or issue.get("issue_type") or "").strip().lower()
    return kind == "incident" or any(rules.is_incident_label(x) for x in labels)


def parse_incident_events(frame: pd.DataFrame, rules: DoraRules) -> tuple[pd.DataFrame, pd.Series]:
    """Issue Hook / Note Hook rows → (normalised incident events of incident issues, reasons)."""
    bodies, errors = parse_bodies(frame["body"].tolist())
    reasons: list[str | None] = list(errors)
    got = generic.received(frame)
    recs: list[dict] = []
    for i, (body, etype) in enumerate(zip(bodies, frame["event_type"].tolist(), strict=True)):
        if body is None:
            continue
        attrs = body.get("object_attributes") if isinstance(body.get("object_attributes"), dict) else {}
        is_note = "Note" in etype
        if is_note and str(attrs.get("noteable_type") or "") != "Issue":
            continue  # comments on commits, MRs and snippets are irrelevant
        issue = body.get("issue") if is_note else attrs
        repo = text_or_none(dig(body, "project", "path_with_namespace"))
        number = int_or_none(dig(issue, "iid"))
        if repo is None or number is None:
            reasons[i] = "project.path_with_namespace or issue iid missing"
            continue
        labels = _labels(dig(issue, "labels"), body.get("labels"))
        action = (
            "note"
            if is_note
            else {"open": "open", "close": "close", "reopen": "reopen"}.get(
                str(attrs.get("action") or ""), "update"
            )
        )
        # open/close/reopen say the state at that moment; only an update carries the (latest) snapshot
        # state, which for an API-pulled issue may be later than the event it stands for.
        state = {"note": None, "open": "open", "close": "closed", "reopen": "open"}.get(action, "")
        state = (
            {"opened": "open", "closed": "closed"}.get(str(issue.get("state") or ""))
            if state == ""
            else state
        )
        when = {
            "note": attrs.get("updated_at") if attrs.get("action") == "update" else attrs.get("created_at"),
            "open": issue.get("created_at"),
            "close": issue.get("closed_at") or issue.get("updated_at"),
        }.get(action, issue.get("updated_at"))
        recs.append(
            {
                "row": i,
                "repo": repo,
                "number": number,
                "action": action,
                "state": state,
                "title": issue.get("title") if isinstance(issue.get("title"), str) else "",
                "text": (attrs.get("note") if is_note else issue.get("description")) or "",
                "note_id": text_or_none(attrs.get("id")) if is_note else None,
                "note_deleted": False,
                "received_at": got.iloc[i],
                "_when": when,
                "_opened": issue.get("created_at"),
                "_closed": None if is_note else issue.get("closed_at"),
                "_note_created": attrs.get("created_at") if is_note else None,
                "_incident": _is_incident(issue, labels, rules),
            }
        )
    if not recs:
        return generic.empty_events(), pd.Series(reasons, index=frame.index, dtype=object)
    ev = pd.DataFrame(recs)
    ev["time"], bad_t = generic.parse_times(ev["_when"])
    ev["opened_at"], bad_o = generic.parse_times(ev["_opened"])
    ev["resolved_at"], bad_c = generic.parse_times(ev["_closed"])
    note_created, bad_n = generic.parse_times(ev["_note_created"])
    ev["time"] = ev["time"].fillna(note_created).fillna(ev["opened_at"])
    keys = set(zip(ev.loc[ev["_incident"], "repo"], ev.loc[ev["_incident"], "number"], strict=True))
    incident = pd.Series([k in keys for k in zip(ev["repo"], ev["number"], strict=True)], index=ev.index)
    why = first_reason(
        [
            (ev["_opened"].isna().to_numpy() & ~bad_o, "issue created_at missing"),
            (bad_o, "issue created_at is not a valid timestamp"),
            (bad_t | bad_c | bad_n, "issue/note timestamp is not valid"),
            (ev["time"].isna(), "no usable event time"),
            ((ev["action"] == "note") & ev["note_id"].isna(), "note without id"),
        ],
        len(ev),
    )
    bad = incident.to_numpy() & why.notna().to_numpy()
    for row, reason in zip(ev.loc[bad, "row"], why[bad], strict=True):
        reasons[row] = reason
    ev = ev[incident.to_numpy() & ~bad]
    return ev[generic.EVENT_COLUMNS].reset_index(drop=True), pd.Series(
        reasons, index=frame.index, dtype=object
    )


def build_incidents(
    deliveries: pd.DataFrame, mainline: pd.DataFrame, rules: DoraRules, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(GitLab incidents opened in [start, end), rejects of unusable deliveries of incident issues)."""
    frame = deliveries.reset_index(drop=True)
    events, reasons = parse_incident_events(frame, rules)
    return generic.incidents_from_events(events, mainline, start, end), bronze_rejects(frame, reasons)
