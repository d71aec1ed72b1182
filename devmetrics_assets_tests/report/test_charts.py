"""plot_dora and the report's figures: five panels, DORA bands shaded, partial periods hollow."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from devmetrics_assets.report.charts import (
    PARTIAL_NOTE,
    PARTIAL_SYMBOL,
    dora_figure,
    metric_figure,
    plot_dora,
)
from devmetrics_assets.report.data import METRICS, band_zones
from devmetrics_assets_tests.report.frames import gold, row, sample


class FakeStorage:
    """A Storage that only reads (the `read_window` of the Storage protocol, filters included)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.tables: list[str] = []

    def read_window(self, table: str, column: str, lo: pd.Timestamp | None, hi: pd.Timestamp | None, *,
                    columns: list[str] | None = None, filters: dict | None = None) -> pd.DataFrame:
        self.tables.append(table)
        frame = self.frame
        for name, value in (filters or {}).items():
            frame = frame[frame[name] == value]
        if lo is not None:
            frame = frame[frame[column] >= lo]
        if hi is not None:
            frame = frame[frame[column] < hi]
        return frame.reset_index(drop=True)


def org() -> pd.DataFrame:
    frame = sample()
    return frame[frame["scope_type"] == "org"]


def band_shapes(fig) -> dict[str, tuple[str, float, float]]:
    return {s.name: (s.yref, s.y0, s.y1) for s in fig.layout.shapes if (s.name or "").startswith("band:")}


def test_dora_figure_has_five_panels_one_trace_each() -> None:
    fig = dora_figure(org(), "month")
    titles = [a.text for a in fig.layout.annotations if a.yref == "paper" and a.text != PARTIAL_NOTE]
    assert titles == [m.title if m.band_column else f"{m.title} (no DORA band)" for m in METRICS]
    assert [t.yaxis for t in fig.data] == ["y", "y2", "y3", "y4", "y5"]
    axes = [k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")]
    assert sorted(axes) == ["yaxis", "yaxis2", "yaxis3", "yaxis4", "yaxis5"]
    assert [list(t.y) for t in fig.data][1] == [30.0, 40.0, 50.0, 30.0]  # lead time, Jan..Apr


def test_bands_are_shaded_from_dora_bands_in_their_panels() -> None:
    fig = dora_figure(org(), "month")
    shapes = band_shapes(fig)
    cfr = {z.band: z for z in band_zones(METRICS[2])}
    assert shapes["band:change_failure_rate:elite"] == ("y3", 0.0, cfr["elite"].high)
    assert shapes["band:change_failure_rate:high"] == ("y3", cfr["high"].low, cfr["high"].high)
    assert shapes["band:lead_time:elite"][0] == "y2" and shapes["band:lead_time:elite"][2] == 24.0
    assert shapes["band:deployment_frequency:high"][:2] == ("y", 1.0)
    assert shapes["band:recovery:elite"] == ("y4", 0.0, 1.0)
    assert not any(name.startswith("band:rework_rate") for name in shapes)  # rework has no band
    # the axis ends above the data, and no band is drawn past it
    top = fig.layout.yaxis2.range[1]
    assert top > 50.0 and all(y1 <= fig.layout[f"yaxis{yref[1:]}"].range[1] + 1e-9
                              for yref, _, y1 in shapes.values())


def test_partial_periods_are_hollow_and_noted() -> None:
    fig = dora_figure(org(), "month")
    for trace in fig.data:
        assert list(trace.marker.symbol) == [PARTIAL_SYMBOL, "circle", "circle", PARTIAL_SYMBOL]
        assert "partial period (20 days observed)" in trace.customdata[0]
    assert any(a.text == PARTIAL_NOTE for a in fig.layout.annotations)
    whole = dora_figure(gold([row("2025-02-01"), row("2025-03-01")]), "month")
    assert not any(a.text == PARTIAL_NOTE for a in whole.layout.annotations)


def test_team_comparison_one_line_per_team_and_names_escaped() -> None:
    frame = gold([row("2025-03-01", "team", "x"), row("2025-03-01", "team", "<b>y</b>")])
    fig = dora_figure(frame, "week")
    assert len(fig.data) == 10
    assert [t.name for t in fig.data[:2]] == ["&lt;b&gt;y&lt;/b&gt;", "x"]
    assert [t.showlegend for t in fig.data] == [True, True] + [False] * 8


def test_metric_figure_is_one_panel() -> None:
    fig = metric_figure(org(), METRICS[2], "month")
    assert len(fig.data) == 1
    assert [k for k in fig.layout.to_plotly_json() if k.startswith("yaxis")] == ["yaxis"]
    assert fig.layout.yaxis.tickformat == ".0%"
    assert {s.name for s in fig.layout.shapes} >= {"band:change_failure_rate:elite"}
    assert "no DORA band" in metric_figure(org(), METRICS[4], "month").layout.title.text


def test_plot_dora_reads_gold_through_load_gold() -> None:
    storage = FakeStorage(sample())
    fig = plot_dora("month", start="2025-02-01", end="2025-03-31", warehouse=storage)
    assert storage.tables == ["gold_dora_monthly"]
    assert len(fig.data) == 5 and len(fig.data[0].x) == 2  # org only, February and March
    assert "organisation" in fig.layout.title.text
    teams = plot_dora("month", scope_type="team", warehouse=FakeStorage(sample()))
    assert sorted({t.name for t in teams.data}) == ["x", "y"]
    with pytest.raises(ValueError, match="no Gold"):
        plot_dora("month", start="2030-01-01", warehouse=FakeStorage(sample()))
    with pytest.raises(ValueError, match="grain"):
        plot_dora("year", warehouse=storage)


def test_plot_dora_is_exported_lazily() -> None:
    code = (
        "import sys\n"
        "from devmetrics_assets import load_gold\n"
        "assert 'plotly' not in sys.modules, 'load_gold imported plotly'\n"
        "from devmetrics_assets import plot_dora\n"
        "assert 'plotly' in sys.modules and callable(plot_dora)\n"
        "assert 'dagster' not in sys.modules, 'plot_dora imported dagster'\n"
        "import devmetrics_assets\n"
        "try:\n"
        "    devmetrics_assets.no_such_name\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
