"""What one run shares between steps: the per-shard main-line memo, Gold facts, and exact fast paths."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from devmetrics_assets.config import DoraRules
from devmetrics_assets.providers.github import mainline as M
from devmetrics_assets.transforms import facts_memo, gold_facts
from devmetrics_assets.transforms.payloads import to_utc
from devmetrics_assets.transforms.releases import _Release, _Sequence


def _push(repo: str, sha: str, seq: int) -> dict:
    body = ('{"ref": "refs/heads/main", "before": "' + "0" * 40 + '", "after": "' + sha + '", '
            '"repository": {"full_name": "' + repo + '", "default_branch": "main", "pushed_at": 1700000000}, '
            '"commits": [{"id": "' + sha + '", "timestamp": "2023-11-14T22:13:20Z", "message": "m"}]}')
    return {"source": "s", "provider": "github", "delivery_id": f"d{seq}", "event_type": "push",
            "received_at": pd.Timestamp("2023-11-14T22:13:21Z"), "body": body, "load_seq": seq}


def test_mainline_memo_keeps_one_result_per_shard() -> None:
    shards = [pd.DataFrame([_push(f"o/r{k}", f"{k:040x}", k)]) for k in range(M.MEMO_ENTRIES)]
    first = [M.load_mainline(s) for s in shards]
    again = [M.load_mainline(s) for s in shards]  # every shard's result is still there
    assert all(a is b for a, b in zip(first, again, strict=True))
    M.load_mainline(pd.DataFrame([_push("o/new", "f" * 40, 99)]))  # one more: the oldest goes
    assert M.load_mainline(shards[0]) is not first[0]
    assert M.load_mainline(shards[-1]) is first[-1]


def test_facts_memo_equals_the_direct_computation_and_hands_out_copies() -> None:
    deployments = pd.DataFrame(columns=["deployment_id"])
    changes = pd.DataFrame({"change_id": pd.Series([], dtype="str")})
    calls = []
    real = gold_facts.lead_time_facts
    try:
        gold_facts.lead_time_facts = lambda d, c, r: calls.append(1) or pd.DataFrame({"x": [len(d), len(c)]})
        a = facts_memo.lead_time_facts(deployments, changes, DoraRules())
        a.loc[0, "x"] = 42  # a caller changing its copy changes nothing for the next
        b = facts_memo.lead_time_facts(deployments.copy(), changes.copy(), DoraRules())
        c = facts_memo.lead_time_facts(deployments, pd.DataFrame({"change_id": ["c1"]}), DoraRules())
    finally:
        gold_facts.lead_time_facts = real
    assert calls == [1, 1]  # b was a hit, c (other content) was not
    assert b["x"].tolist() == [0, 0] and c["x"].tolist() == [0, 1]


def test_running_at_is_the_latest_finished_release_with_a_position() -> None:
    rng = random.Random(7)
    base = pd.Timestamp("2026-01-01", tz="UTC")
    for _ in range(200):
        seq = _Sequence(np.array([]))
        for i in range(rng.randint(0, 12)):
            pos = float(rng.randint(0, 5)) if rng.random() < 0.8 else np.nan
            done = base + pd.Timedelta(minutes=rng.randint(0, 6)) if rng.random() < 0.8 else None
            release = _Release(f"r{i}", "s", pos, base, i, done)
            seq.releases.append(release)
            if not np.isnan(pos):
                seq.positioned.append(release)
        when = base + pd.Timedelta(minutes=rng.randint(0, 6))
        done = [r for r in seq.releases
                if not np.isnan(r.pos) and r.finished is not None and r.finished <= when]
        expected = max(done, key=lambda r: (r.finished, r.first_index)) if done else None
        assert seq.running_at(when) is expected


def test_to_utc_on_text_columns_equals_the_per_value_path() -> None:
    values = ["2020-01-01T00:00:00Z", None, " 1600000000 ", "", "bad", "2021-05-05T01:02:03+02:00"]
    fast, fast_bad = to_utc(pd.Series(values, dtype="str"))
    slow, slow_bad = to_utc(values)
    pd.testing.assert_series_equal(fast, slow)
    assert fast_bad.tolist() == slow_bad.tolist() == [False, False, False, True, True, False]
