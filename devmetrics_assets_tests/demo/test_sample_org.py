"""The sample organisation: deterministic, signed per contracts §1, shaped per §2, truth per §5.

Besides checking the planted situations directly, one test re-derives deployments, rollbacks and
lead times from the verified deliveries alone (a tiny independent "Silver") and compares them with
the truth files, which are computed from the in-memory model: the stream must say what truth claims.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.config import load_rules
from devmetrics_assets.demo.sample_org import SAMPLE_WEBHOOK_SECRET, generate_sample_org, run_generation

REPOS, DAYS = 3, 30


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    sample, model = run_generation(tmp_path_factory.mktemp("org"), repos=REPOS, days=DAYS, seed=7)
    return sample, model


@pytest.fixture(scope="module")
def envelopes(generated) -> list[dict]:
    sample, _ = generated
    rows = []
    for path in sorted(sample.deliveries_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            env = json.loads(line)
            env["_file_day"] = path.stem
            rows.append(env)
    return rows


@pytest.fixture(scope="module")
def edge(generated) -> dict:
    sample, _ = generated
    return json.loads((sample.truth_dir / "truth_edge_cases.json").read_text())


def _body_bytes(env: dict) -> bytes:
    return json.dumps(env["body"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _verifies(env: dict) -> bool:
    digest = hmac.new(SAMPLE_WEBHOOK_SECRET.encode(), _body_bytes(env), hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + digest, env["headers"]["X-Hub-Signature-256"])


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _anchor(env: dict) -> datetime:
    """Event anchor per contracts §3, computed from the body only."""
    body, kind = env["body"], env["headers"]["X-GitHub-Event"]
    if kind == "push":
        return datetime.fromtimestamp(body["repository"]["pushed_at"], tz=UTC)
    if kind == "pull_request":
        pr = body["pull_request"]
        return _ts(pr["merged_at"] or pr["updated_at"])
    if kind in ("deployment", "deployment_status"):
        return _ts(body["deployment"]["created_at"])
    if kind == "pull_request_review":
        return _ts(body["review"]["submitted_at"])
    return _ts(body["issue"]["created_at"])


def test_same_seed_gives_byte_identical_output(generated, tmp_path: Path) -> None:
    sample, _ = generated
    again = generate_sample_org(tmp_path / "again", repos=REPOS, days=DAYS, seed=7)
    files = sorted(p.relative_to(sample.root) for p in sample.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.root) for p in again.root.rglob("*") if p.is_file())
    for rel in files:
        assert (sample.root / rel).read_bytes() == (again.root / rel).read_bytes(), rel
    other = generate_sample_org(tmp_path / "other", repos=REPOS, days=DAYS, seed=8)
    assert (other.truth_dir / "truth_daily.csv").read_bytes() != (
        sample.truth_dir / "truth_daily.csv"
    ).read_bytes()


def test_layout_envelopes_and_rules(generated, envelopes) -> None:
    sample, _ = generated
    names = sorted(p.stem for p in sample.deliveries_dir.glob("*.jsonl"))
    assert names == [(sample.start + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert len(envelopes) == sample.delivery_count
    by_file = defaultdict(list)
    for env in envelopes:
        assert env["delivery_id"] == env["headers"]["X-GitHub-Delivery"]
        assert env["received_at"][:10] == env["_file_day"]
        assert _ts(env["received_at"]) >= _anchor(env)
        by_file[env["_file_day"]].append(env["received_at"])
    assert all(times == sorted(times) for times in by_file.values())
    per_repo_day = len(envelopes) / (REPOS * DAYS)
    assert 5 <= per_repo_day <= 16
    rules = load_rules(sample.rules_path)
    assert set(rules.repo_owners) == set(sample.repos)
    assert rules.is_production("Production") and not rules.is_production("staging")
    services = defaultdict(list)
    for repo in sample.repos:
        services[rules.service_of(repo)].append(repo)
    assert any(len(repos) == 2 for repos in services.values())


def test_every_edge_case_list_is_non_empty(edge) -> None:
    expected = set(
        "forged_delivery_ids redelivered_delivery_ids late_deliveries branch_deletion_push_delivery_ids "
        "rollback_deployment_ids failed_then_retried_deployment_ids batched_deployment_ids "
        "staging_deployment_ids staging_only_deployment_ids hotfix_changes incidents_root_cause_in_body "
        "incidents_root_cause_in_comment incidents_root_cause_short_sha incidents_without_root_cause "
        "incidents_reopened incidents_still_open colliding_issue_numbers merge_change_ids "
        "squash_change_ids rebase_change_ids direct_change_ids skewed_clock_change_ids "
        "unknown_sha_deployment_ids".split()
    )
    assert expected <= set(edge)
    empty = [key for key, values in edge.items() if not values]
    assert empty == []


def test_forged_deliveries_fail_hmac_and_all_others_pass(envelopes, edge) -> None:
    failing = {env["delivery_id"] for env in envelopes if not _verifies(env)}
    assert failing == set(edge["forged_delivery_ids"])
    kinds = {env["headers"]["X-GitHub-Event"] for env in envelopes if env["delivery_id"] in failing}
    assert "deployment_status" in kinds


def test_redeliveries_share_id_and_body_and_arrive_later(envelopes, edge) -> None:
    seen: dict[str, list[dict]] = defaultdict(list)
    for env in envelopes:
        seen[env["delivery_id"]].append(env)
    repeated = {k: v for k, v in seen.items() if len(v) > 1}
    assert set(repeated) == set(edge["redelivered_delivery_ids"])
    for copies in repeated.values():
        first, second = sorted(copies, key=lambda e: e["received_at"])
        assert _body_bytes(first) == _body_bytes(second)
        assert first["headers"] == second["headers"]
        assert second["received_at"] > first["received_at"]


def test_late_deliveries_arrive_days_after_their_anchor_day(envelopes, edge) -> None:
    by_id = {env["delivery_id"]: env for env in envelopes}
    for late in edge["late_deliveries"]:
        env = by_id[late["delivery_id"]]
        anchor_day = _anchor(env).date()
        received = _ts(env["received_at"])
        assert anchor_day.isoformat() == late["anchor_day"]
        assert (received.date() - anchor_day).days >= 1
        assert 24 <= late["lateness_h"] <= 5 * 24


def test_truth_daily_matches_model_counts(generated) -> None:
    sample, model = generated
    daily = pd.read_csv(sample.truth_dir / "truth_daily.csv")
    assert (daily.drop(columns=["repo", "day"]).sum(axis=1) > 0).all()
    rules = load_rules(sample.rules_path)
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for repo in model.repos:
        for dep in repo.deployments:
            if rules.is_production(dep.environment):
                day = datetime.fromtimestamp(dep.created_at, tz=UTC).date().isoformat()
                if dep.final_status == "success":
                    counts[(repo.full_name, day)][0] += 1
                elif dep.final_status in ("failure", "error"):
                    counts[(repo.full_name, day)][1] += 1
    got = {(r.repo, r.day): [r.deployments, r.failed_deploy_attempts] for r in daily.itertuples()}
    assert {k: v for k, v in got.items() if any(v)} == dict(counts)
    recs = pd.read_csv(sample.truth_dir / "truth_recoveries.csv")
    assert len(recs) == daily["change_failures"].sum()
    assert recs["recovery_h"].isna().sum() == daily["unrecovered_failures"].sum() > 0
    assert (recs["recovery_h"].dropna() >= 0).all()
    leads = pd.read_csv(sample.truth_dir / "truth_lead_times.csv")
    assert leads["change_id"].is_unique and (leads["lead_time_h"] >= 0).all()
    assert daily["change_failures_inferred"].sum() > 0 and daily["rollbacks"].sum() > 0


def test_hotfix_prs_name_their_incident_of_the_same_repo(envelopes, edge) -> None:
    texts = {}
    for env in envelopes:
        if env["headers"]["X-GitHub-Event"] == "pull_request" and _verifies(env):
            pr = env["body"]["pull_request"]
            texts[f"{env['body']['repository']['full_name']}#{pr['number']}"] = f"{pr['title']}\n{pr['body']}"
    for item in edge["hotfix_changes"]:
        repo, number = item["incident_id"].split("#")
        assert item["change_id"].startswith(repo + "#")
        assert re.search(rf"\b(fixes|closes) #{number}\b", texts[item["change_id"]], re.IGNORECASE)


def _commit_time(commit: dict) -> datetime:
    return datetime.fromisoformat(commit["timestamp"])


ROOT_CAUSE = re.compile(r"root\s*cause\s*:\s*([0-9a-f]{7,40})", re.IGNORECASE)


def _read_stream(envelopes: list[dict]) -> dict:
    """Group the verified, de-duplicated deliveries by what they describe."""
    unique = {e["delivery_id"]: e for e in envelopes if _verifies(e)}.values()
    out = {
        "pushes": defaultdict(list), "merged": {}, "deployments": {}, "statuses": defaultdict(list),
        "issues": defaultdict(list),
    }  # fmt: skip
    for env in unique:
        body, kind = env["body"], env["headers"]["X-GitHub-Event"]
        repo = body["repository"]["full_name"]
        if kind == "push":
            out["pushes"][repo].append(body)
        elif kind == "pull_request" and body["pull_request"]["merged"]:
            out["merged"][(repo, body["pull_request"]["merge_commit_sha"])] = body["pull_request"]
        elif kind in ("deployment", "deployment_status"):
            dep = body["deployment"]
            out["deployments"][(repo, dep["id"])] = dep
            if kind == "deployment_status":
                st = body["deployment_status"]
                out["statuses"][(repo, dep["id"])].append((_ts(st["created_at"]), st["id"], st["state"]))
        elif kind in ("issues", "issue_comment"):
            out["issues"][(repo, body["issue"]["number"])].append(body)
    return out


def _incidents(stream: dict, repo: str, rules) -> list[dict]:
    """Incidents of a repo: latest snapshot decides labels and state; the last root-cause mention wins."""
    found = []
    for (r, number), events in stream["issues"].items():
        if r != repo:
            continue
        latest = max(events, key=lambda b: b["issue"]["updated_at"])["issue"]
        if not any(rules.is_incident_label(label["name"]) for label in latest["labels"]):
            continue
        mentions = [(latest["created_at"], m) for m in ROOT_CAUSE.findall(latest["body"] or "")]
        for b in events:
            if "comment" in b:
                mentions += [
                    (b["comment"]["created_at"], m) for m in ROOT_CAUSE.findall(b["comment"]["body"])
                ]
        found.append({
            "id": f"{repo}#{number}", "opened": latest["created_at"][:10], "open": latest["state"] == "open",
            "opened_at": _ts(latest["created_at"]),
            "resolved": _ts(latest["closed_at"]) if latest["state"] == "closed" else None,
            "root_cause": max(mentions)[1].lower() if mentions else None,
        })  # fmt: skip
    return found


def _links(incidents: list[dict], releases: list[dict], rules, service_of) -> list[tuple[dict, dict, str]]:
    """Incident -> blamed release: the first release shipping its root cause (unless it started after the
    incident was resolved), else the latest shipping release of its service that finished <= 24 h before."""
    out = []
    for inc in incidents:
        if inc["root_cause"]:
            first = next((r for r in releases if r["repo"] == inc["repo"]
                          and any(s.startswith(inc["root_cause"]) for s in r["shipped"])), None)
            if first and (inc["open"] or first["created"] <= inc["resolved"]):
                out.append((inc, first, "root_cause"))
            continue
        gap = {r["key"]: inc["opened_at"] - r["finished"] for r in releases}
        near = [r for r in releases if service_of(r["repo"]) == service_of(inc["repo"]) and r["shipped"]
                and not r["rollback"] and timedelta(0) <= gap[r["key"]] <= timedelta(hours=24)]
        if near:
            out.append((inc, max(near, key=lambda r: (r["finished"], r["created"], r["key"])), "inferred"))
    return out


def _recoveries(releases: list[dict], links: list[tuple[dict, dict, str]]) -> dict[str, float | None]:
    """One failure per incident group or rollback episode; the episode that ended first measures it."""
    by_key = {r["key"]: r for r in releases}
    first_of = {}
    for r in releases:
        first_of.setdefault((r["repo"], r["sha"]), r)
    episodes: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    absorbed = set()
    for key in dict.fromkeys(rel["key"] for _, rel, _ in links):
        rel, incs = by_key[key], [i for i, r, _ in links if r["key"] == key]
        ends = [rb["finished"] for rb in releases if rb["rollback"] and rb["repo"] == rel["repo"]
                and any(rb["created"] >= i["opened_at"] and (i["open"] or rb["created"] <= i["resolved"])
                        for i in incs) and first_of[(rb["repo"], rb["sha"])]["created"] < rel["created"]]
        absorbed |= {rb["key"] for rb in releases if rb["rollback"] and rb["finished"] in ends}
        if not any(i["open"] for i in incs):
            ends.append(max(i["resolved"] for i in incs))
        start = max(rel["finished"], min(i["opened_at"] for i in incs))
        episodes[key].append((start, min(ends, default=None)))
    for repo in {r["repo"] for r in releases}:
        group: list[dict] = []
        for rel in [r for r in releases if r["repo"] == repo] + [None]:
            if group and (rel is None or (rel["shipped"] and not rel["rollback"])):
                blamed = by_key.get(group[0]["undoes"])
                if blamed:
                    episodes[blamed["key"]].append((blamed["finished"], max(g["finished"] for g in group)))
                group = []
            if rel is not None and rel["rollback"] and rel["key"] not in absorbed:
                group.append(rel)
    out = {}
    for key, found in episodes.items():
        ended = sorted((e, s) for s, e in found if e is not None)
        out[key] = max((ended[0][0] - ended[0][1]).total_seconds(), 0) / 3600 if ended else None
    return out


def test_deliveries_alone_reproduce_the_truth(generated, envelopes, edge) -> None:
    """A minimal independent reading of the verified, de-duplicated stream agrees with the truth files."""
    sample, _ = generated
    rules = load_rules(sample.rules_path)
    stream = _read_stream(envelopes)
    methods: dict[str, set[str]] = defaultdict(set)
    leads: dict[str, float] = {}
    rollbacks: set[str] = set()
    releases: list[dict] = []
    incidents: list[dict] = []
    daily: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # deployments, incidents opened
    for repo in sample.repos:
        branch_times: dict[str, list[datetime]] = defaultdict(list)
        mainline, change_of, first_at = [], {}, {}
        for push in sorted(stream["pushes"][repo], key=lambda p: p["repository"]["pushed_at"]):
            if push["ref"] != "refs/heads/main":
                branch_times[push["ref"][len("refs/heads/") :]] += [_commit_time(c) for c in push["commits"]]
                continue
            pr = stream["merged"].get((repo, push["after"]))
            shas = [c["id"] for c in push["commits"]]
            if pr is None:
                for c in push["commits"]:
                    change_of[c["id"]] = f"{repo}@{c['id']}"
                    first_at[f"{repo}@{c['id']}"] = _commit_time(c)
                    methods["direct"].add(f"{repo}@{c['id']}")
            else:
                cid, msg = f"{repo}#{pr['number']}", push["commits"][-1]["message"]
                if msg.startswith(f"Merge pull request #{pr['number']}"):
                    methods["merge"].add(cid)
                elif len(shas) == 1 and msg.endswith(f"(#{pr['number']})"):
                    methods["squash"].add(cid)
                else:
                    methods["rebase"].add(cid)
                change_of.update(dict.fromkeys(shas, cid))
                first_at[cid] = min(branch_times.get(pr["head"]["ref"]) or [_ts(pr["created_at"])])
            mainline += shas
        pos = {sha: i for i, sha in enumerate(mainline)}
        ours = []
        for (r, dep_id), dep in stream["deployments"].items():
            if r == repo and rules.is_production(dep["environment"]):
                final_time, _, state = max(stream["statuses"][(r, dep_id)])
                if state == "success":
                    ours.append({"key": f"{repo}:{dep_id}", "repo": repo, "sha": dep["sha"], "shipped": [],
                                 "created": _ts(dep["created_at"]), "finished": final_time, "rollback": False,
                                 "undoes": None, "id": dep_id})
                    daily[(repo, dep["created_at"][:10])][0] += 1
        hwm, shipper = None, {}
        ours.sort(key=lambda d: (d["created"], d["id"]))
        for k, rel in enumerate(ours):
            p = pos.get(rel["sha"])
            if p is None:
                continue
            done = [d for d in ours[:k] if d["sha"] in pos and d["finished"] <= rel["created"]]
            running = max(done, key=lambda d: (d["finished"], d["created"])) if done else None
            if running and p < pos[running["sha"]] and any(d["sha"] == rel["sha"] for d in done):
                rel["rollback"], rel["undoes"] = True, shipper[running["sha"]]
                rollbacks.add(rel["key"])
            elif hwm is None or p > hwm:
                rel["shipped"] = mainline[(0 if hwm is None else hwm + 1) : p + 1]
                shipper.update(dict.fromkeys(rel["shipped"], rel["key"]))
                for cid in dict.fromkeys(change_of[sha] for sha in rel["shipped"]):
                    hours = (rel["finished"] - first_at[cid]).total_seconds() / 3600
                    if hwm is not None and hours >= 0:  # the baseline's and negative ones are excluded
                        leads[cid] = hours
            hwm = p if hwm is None else max(hwm, p)
        releases += ours
        for inc in _incidents(stream, repo, rules):
            daily[(repo, inc["opened"])][1] += 1
            incidents.append(inc | {"repo": repo})
    recoveries = _recoveries(releases, _links(incidents, releases, rules, rules.service_of))
    for kind in ("merge", "squash", "rebase", "direct"):
        assert methods[kind] == set(edge[f"{kind}_change_ids"]), kind
    truth_daily = pd.read_csv(sample.truth_dir / "truth_daily.csv")
    expected_daily = {k: v for k, v in daily.items() if any(v)}
    got_daily = {(r.repo, r.day): [r.deployments, r.incidents_opened] for r in truth_daily.itertuples()}
    assert {k: v for k, v in got_daily.items() if any(v)} == expected_daily
    assert rollbacks == set(edge["rollback_deployment_ids"])
    truth_leads = pd.read_csv(sample.truth_dir / "truth_lead_times.csv").set_index("change_id")["lead_time_h"]
    assert set(truth_leads.index) == set(leads)
    for cid, hours in leads.items():
        assert truth_leads[cid] == pytest.approx(hours, abs=1e-5)
    assert not set(edge["skewed_clock_change_ids"]) & set(leads), "negative lead times are excluded"
    assert edge["baseline_change_ids"] and not set(edge["baseline_change_ids"]) & set(leads)
    truth_recs = pd.read_csv(sample.truth_dir / "truth_recoveries.csv").set_index("deployment_id")[
        "recovery_h"
    ]
    assert set(truth_recs.index) == set(recoveries)
    for key, hours in recoveries.items():
        if hours is None:
            assert pd.isna(truth_recs[key])
        else:
            assert truth_recs[key] == pytest.approx(hours, abs=1e-5)
