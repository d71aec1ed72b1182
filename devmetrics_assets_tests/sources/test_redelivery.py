"""A redelivery with the same body is stored once; a different body under one id is a conflict."""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.sources.redelivery import split_conflicts


def rows(items: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(delivery id, received at, body) rows of one source."""
    return pd.DataFrame({
        "source": "gh", "delivery_id": [i for i, _, _ in items],
        "received_at": pd.to_datetime([t for _, t, _ in items], utc=True),
        "received_day": pd.to_datetime([t[:10] for _, t, _ in items]),
        "body": [b for _, _, b in items], "payload_sha256": [f"sha-{b}" for _, _, b in items],
        "record_ref": [f"file:f.jsonl:{n}" for n in range(1, len(items) + 1)],
    })


def test_same_body_again_is_not_a_conflict_and_the_earliest_body_wins_inside_a_batch() -> None:
    batch = rows([("d1", "2025-03-04T10:00Z", "A"), ("d1", "2025-03-04T09:00Z", "B"),
                  ("d2", "2025-03-04T10:00Z", "C"), ("d2", "2025-03-04T11:00Z", "C")])
    kept, conflicts = split_conflicts(batch, {})
    assert kept["record_ref"].tolist() == ["file:f.jsonl:2", "file:f.jsonl:3", "file:f.jsonl:4"]
    assert conflicts["record_ref"].tolist() == ["file:f.jsonl:1"]
    assert conflicts["reason"].iloc[0].startswith("conflicting redelivery: delivery id d1 is stored")
    assert conflicts["record"].iloc[0] == "A"


def test_a_stored_id_with_another_body_is_a_conflict_and_the_stored_one_stays() -> None:
    batch = rows([("d1", "2025-03-05T10:00Z", "NEW"), ("d3", "2025-03-05T10:00Z", "X")])
    kept, conflicts = split_conflicts(batch, {"d1": "sha-OLD"})
    assert kept["delivery_id"].tolist() == ["d3"]
    assert conflicts["partition_day"].tolist() == [pd.Timestamp("2025-03-05")]
    assert "kept sha256 sha-OLD" in conflicts["reason"].iloc[0]
    same, none = split_conflicts(rows([("d1", "2025-03-05T10:00Z", "OLD")]), {"d1": "sha-OLD"})
    assert len(same) == 1 and none.empty  # a true redelivery: append_bronze stores nothing new
