"""Readers: how each source type becomes Bronze rows for a received-day window.

A reader returns (rows, rejects): rows in the bronze_deliveries columns (docs/contracts.md §4,
without load_seq), rejects in the quarantine.REJECT_COLUMNS. The Bronze asset appends the rows
and quarantines the rejects; a reader never writes storage itself. `landing_jsonl` (what the receiver
and the pullers write) carries any provider; each provider adds its API pull (`<name>_api`) and any
reader of its own (`Provider.readers`, e.g. recorded GitHub JSONL).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd

from devmetrics_assets.providers import PROVIDERS
from devmetrics_assets.sources.landing import read_landing_jsonl
from devmetrics_assets.sources.pull.reader import read_api_source
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.time_bounds import TimeBounds

Reader = Callable[..., tuple[pd.DataFrame, pd.DataFrame]]

READERS: dict[str, Reader] = {"landing_jsonl": read_landing_jsonl}
for _provider in PROVIDERS.values():
    READERS.update(_provider.readers)
    if _provider.api is not None:
        READERS[_provider.api.source_type] = read_api_source  # API pull (docs/api-pull.md)


def read_source(
    spec: SourceSpec, *, start: datetime, end: datetime, secret: str | None, load_batch_id: str,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Bronze rows, rejects) of `spec` received in [start, end); times outside `bounds` are rejects."""
    try:
        reader = READERS[spec.type]
    except KeyError:
        known = sorted(READERS)
        raise ValueError(f"source {spec.name!r}: unknown type {spec.type!r}; known: {known}") from None
    return reader(spec, start=start, end=end, secret=secret, load_batch_id=load_batch_id, bounds=bounds)
