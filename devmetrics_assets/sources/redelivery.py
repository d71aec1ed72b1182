"""Redeliveries: the same delivery id again is stored once; with a different body it is a conflict.

Providers resend a delivery with its id and its bytes unchanged (GitHub's "Redeliver", a retried
webhook), and Bronze keeps the first copy. Two different bodies under one id cannot both be the
delivery: Bronze keeps the one it stored first (history is immutable) and the other is quarantined as a
conflict, with both payload hashes in its reason, so it is never dropped without a trace.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from devmetrics_assets.storage.tables import RECORD_REF
from devmetrics_assets.transforms.quarantine import REJECT_COLUMNS


def split_conflicts(rows: pd.DataFrame, stored: Mapping[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to append, conflict rejects) for one source's Bronze rows.

    `stored` maps the delivery ids already in Bronze to their payload hash. A row conflicts when its id
    is stored with another hash, or when an earlier-received row of the same batch has the id with
    another hash (the earlier one is the one Bronze keeps, as `append_bronze` does).
    """
    if rows.empty:
        return rows, pd.DataFrame(columns=REJECT_COLUMNS)
    order = rows.assign(_ord=range(len(rows))).sort_values(["received_at", "_ord"], kind="stable")
    first_hash = order.groupby("delivery_id", sort=False)["payload_sha256"].transform("first")
    kept_hash = order["delivery_id"].map(dict(stored)).astype(object).fillna(first_hash)
    conflict = (order["payload_sha256"] != kept_hash).to_numpy(dtype=bool)
    bad = order[conflict]
    rejects = pd.DataFrame({
        "source": bad["source"].astype(str),
        "record_ref": bad[RECORD_REF].astype(str) if RECORD_REF in bad else bad["delivery_id"].astype(str),
        "partition_day": pd.to_datetime(bad["received_day"]).astype("datetime64[us]"),
        "reason": [f"conflicting redelivery: delivery id {d} is stored with another body "
                   f"(kept sha256 {k[:12]}…, this one {h[:12]}…)"
                   for d, k, h in zip(bad["delivery_id"], kept_hash[conflict], bad["payload_sha256"],
                                      strict=True)],
        "record": bad["body"].astype(str),
    }, columns=REJECT_COLUMNS).reset_index(drop=True)
    kept = order[~conflict].sort_values("_ord", kind="stable").drop(columns="_ord").reset_index(drop=True)
    return kept, rejects
