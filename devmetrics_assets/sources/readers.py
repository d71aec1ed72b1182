"""Readers: how each source type becomes Bronze rows for a received-day window.

A reader returns (rows, rejects): rows in the bronze_deliveries columns (docs/contracts.md §4,
without load_seq), rejects in the quarantine.REJECT_COLUMNS. The Bronze asset appends the rows
and quarantines the rejects; a reader never writes storage itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd

from devmetrics_assets.sources.github_jsonl import parse_deliveries, select_files
from devmetrics_assets.sources.landing import read_landing_jsonl
from devmetrics_assets.sources.pull.reader import read_github_api, read_gitlab_api, read_pagerduty_api
from devmetrics_assets.sources.registry import SourceSpec
from devmetrics_assets.sources.time_bounds import TimeBounds

Reader = Callable[..., tuple[pd.DataFrame, pd.DataFrame]]


def read_github_jsonl(
    spec: SourceSpec, *, start: datetime, end: datetime, secret: str | None, load_batch_id: str,
    bounds: TimeBounds | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recorded GitHub deliveries in the source's landing folder, received in [start, end)."""
    paths = sorted(spec.landing_dir.glob("*.jsonl")) if spec.landing_dir.exists() else []
    return parse_deliveries(
        select_files(paths, start.date(), end.date()), source=spec.name, secret=secret,
        load_batch_id=load_batch_id, received_start=start, received_end=end, bounds=bounds,
    )


READERS: dict[str, Reader] = {"github_jsonl": read_github_jsonl, "landing_jsonl": read_landing_jsonl}
READERS["github_api"] = read_github_api  # API pull (docs/api-pull.md)
READERS["gitlab_api"] = read_gitlab_api
READERS["pagerduty_api"] = read_pagerduty_api


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
