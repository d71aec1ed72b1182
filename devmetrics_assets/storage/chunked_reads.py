"""Backend aggregates over long windows computed a few days at a time, so the backend's working memory
(DuckDB's hash tables over payloads) is bounded by a chunk, not the window.

Exact when the aggregate groups by day: every group lies within one chunk, and the normalised frame is
sorted the same way whatever the chunks.
"""

from __future__ import annotations

import pandas as pd

from devmetrics_assets.storage.backend import Storage
from devmetrics_assets.storage.reading import reading
from devmetrics_assets.storage.shapes import normalise_shapes

SHAPE_CHUNK_DAYS = 7


def bronze_shapes_chunked(
    storage: Storage, source: str, start: pd.Timestamp, end: pd.Timestamp, days: int = SHAPE_CHUNK_DAYS
) -> pd.DataFrame:
    """Storage.bronze_shapes of [start, end), computed per `days` received days (same rows and order)."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    edges = [*pd.date_range(start, end, freq=f"{days}D", inclusive="left"), end]
    with reading(storage):  # a burst of reads: one connection for every chunk (storage/reading.py)
        parts = [storage.bronze_shapes(source, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    parts = [p for p in parts if len(p)] or parts[:1]
    if not parts:
        return storage.bronze_shapes(source, start, end)
    return normalise_shapes(pd.concat(parts, ignore_index=True))
