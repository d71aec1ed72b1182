"""Bronze shapes computed a few days at a time equal the shapes of the whole window."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from devmetrics_assets.storage.chunked_reads import bronze_shapes_chunked
from devmetrics_assets.storage.warehouse import Warehouse
from devmetrics_assets_tests.storage.test_aggregates import bronze, day


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    store = Warehouse(tmp_path / "warehouse.duckdb")
    store.append_bronze(bronze())
    return store


@pytest.mark.parametrize("days", [1, 2, 3, 30])
def test_chunked_shapes_equal_one_pass(warehouse: Warehouse, days: int) -> None:
    start, end = day("2025-02-27"), day("2025-03-08")
    whole = warehouse.bronze_shapes("alpha", start, end)
    assert whole["received_day"].nunique() == 3  # days in several chunks, one with a non-object body
    pd.testing.assert_frame_equal(bronze_shapes_chunked(warehouse, "alpha", start, end, days), whole)


def test_chunked_shapes_of_a_quiet_window_are_empty_like_one_pass(warehouse: Warehouse) -> None:
    start, end = day("2025-04-01"), day("2025-04-20")
    pd.testing.assert_frame_equal(bronze_shapes_chunked(warehouse, "alpha", start, end, 7),
                                  warehouse.bronze_shapes("alpha", start, end))
