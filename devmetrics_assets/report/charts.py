"""Plotly figures of the DORA metrics: one panel per metric, DORA bands shaded, partial periods hollow.

`plot_dora` is the notebook entry point (`from devmetrics_assets import plot_dora`); the HTML report
draws each metric as its own figure with `metric_figure`. Both use `add_metric`, so a notebook panel and a
report chart look the same. The band ranges come from `data.band_zones` (i.e. transforms/dora_bands.py).

Text that comes from data (team and repo names) is HTML-escaped before it reaches a figure: plotly.js
reads a subset of HTML in titles, legends and hover labels.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from devmetrics_assets.report.data import Metric, band_zones, check_grain, metrics_for, period_label
from devmetrics_assets.storage.backend import Storage

BAND_COLOURS = {
    "elite": "#1a9850",
    "high": "#91cf60",
    "medium": "#fee08b",
    "medium / low": "#fee08b",
    "low": "#fc8d59",
}
BAND_OPACITY = 0.22
PARTIAL_SYMBOL, FULL_SYMBOL = "circle-open", "circle"
PARTIAL_NOTE = "Hollow markers: partial period (not all of its days observed yet)."
NO_BAND_NOTE = "no DORA band"
MIN_VISIBLE_BAND = 0.08  # a band showing less than this share of the axis is left out
SHAPE_PREFIX = "band"  # shape names are band:<metric key>:<band>


def _top(frame: pd.DataFrame, metric: Metric) -> float:
    """Upper end of the y axis: the data with headroom, at least past the first band cut-off."""
    values = pd.to_numeric(frame.get(metric.column, pd.Series(dtype="float64")), errors="coerce").dropna()
    peak = float(values.max()) if not values.empty else 0.0
    bounds = [b for z in band_zones(metric) for b in (z.low, z.high) if 0 < b < math.inf]
    first_cut = min(bounds) if bounds else 0.0
    top = max(peak, first_cut) * 1.15
    if top <= 0:
        top = 1.0 if not metric.percent else 0.1
    return top


def _hover(frame: pd.DataFrame, metric: Metric, grain: str) -> list[str]:
    texts = []
    for _, row in frame.iterrows():
        parts = [period_label(row["period_start"], grain)]
        band = row.get(metric.band_column) if metric.band_column else None
        if band is not None and not pd.isna(band):
            parts.append(f"band: {html.escape(str(band))}")
        if bool(row.get("is_partial", False)):
            parts.append(f"partial period ({int(row.get('days_covered', 0))} days observed)")
        texts.append(" · ".join(parts))
    return texts


def add_metric(fig: go.Figure, frame: pd.DataFrame, metric: Metric, grain: str, *,
               row: int | None = None, col: int | None = None, showlegend: bool = False) -> None:
    """One line per scope in `frame` (lines + markers, hollow where partial), the metric's DORA bands as
    shaded rectangles (shape names `band:<metric key>:<band>`), and the y axis from 0 to the data."""
    where = {"row": row, "col": col} if row is not None else {}
    frame = frame.sort_values("period_start", kind="stable")
    top = _top(frame, metric)
    number = ".1%" if metric.percent else ".3g"
    for scope, rows in frame.groupby("scope", sort=True):
        partial = rows["is_partial"].astype(bool).tolist() if "is_partial" in rows else [False] * len(rows)
        values = pd.to_numeric(rows[metric.column], errors="coerce") if metric.column in rows \
            else pd.Series([math.nan] * len(rows))
        fig.add_trace(
            go.Scatter(
                x=rows["period_start"].tolist(),
                y=[None if pd.isna(v) else float(v) for v in values],
                mode="lines+markers",
                name=html.escape(str(scope)),
                legendgroup=html.escape(str(scope)),
                showlegend=showlegend,
                marker={"symbol": [PARTIAL_SYMBOL if p else FULL_SYMBOL for p in partial], "size": 8,
                        "line": {"width": 2}},
                customdata=_hover(rows, metric, grain),
                hovertemplate=f"%{{fullData.name}}<br>%{{y:{number}}}<br>%{{customdata}}<extra></extra>",
                connectgaps=False,
            ),
            **where,
        )
    for zone in band_zones(metric):
        if min(zone.high, top) - zone.low < MIN_VISIBLE_BAND * top:  # off the axis, or a sliver
            continue
        fig.add_hrect(
            y0=zone.low, y1=min(zone.high, top), fillcolor=BAND_COLOURS[zone.band], opacity=BAND_OPACITY,
            line_width=0, layer="below", name=f"{SHAPE_PREFIX}:{metric.key}:{zone.band}",
            annotation_text=zone.band, annotation_position="top right",
            annotation_font={"size": 9, "color": "#555"}, exclude_empty_subplots=False, **where,
        )
    axis = {"range": [0, top], "rangemode": "tozero", "title": {"text": metric.unit, "font": {"size": 10}}}
    if metric.percent:
        axis["tickformat"] = ".0%"
    fig.update_yaxes(**axis, **where)


def _partial(frame: pd.DataFrame) -> bool:
    return "is_partial" in frame and bool(frame["is_partial"].astype(bool).any())


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0, y=0, yshift=-46, xanchor="left",
                       yanchor="top", showarrow=False, font={"size": 10, "color": "#555"})


def metric_figure(frame: pd.DataFrame, metric: Metric, grain: str, *, title: str | None = None,
                  height: int = 300) -> go.Figure:
    """One metric over time as its own figure (the HTML report's charts)."""
    check_grain(grain)
    fig = go.Figure()
    add_metric(fig, frame, metric, grain, showlegend=frame["scope"].nunique() > 1)
    heading = html.escape(title if title is not None else metric.title)
    if metric.band_column is None:
        heading += f" <span style='font-size:11px;color:#777'>({NO_BAND_NOTE})</span>"
    fig.update_layout(title={"text": heading, "font": {"size": 14}}, height=height,
                      margin={"l": 55, "r": 20, "t": 40, "b": 60}, template="plotly_white")
    if _partial(frame):
        _note(fig, PARTIAL_NOTE)
    return fig


def dora_figure(frame: pd.DataFrame, grain: str = "month", *, title: str | None = None) -> go.Figure:
    """The five metrics of the scopes in `frame` (Gold rows), one panel each, sharing the time axis."""
    metrics = metrics_for(grain)
    titles = [m.title + ("" if m.band_column else f" ({NO_BAND_NOTE})") for m in metrics]
    fig = make_subplots(rows=len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.045,
                        subplot_titles=titles)
    many = frame["scope"].nunique() > 1
    for i, metric in enumerate(metrics, start=1):
        add_metric(fig, frame, metric, grain, row=i, col=1, showlegend=many and i == 1)
    fig.update_layout(height=260 * len(metrics), template="plotly_white",
                      margin={"l": 60, "r": 30, "t": 70, "b": 70},
                      title={"text": html.escape(title) if title else None})
    fig.update_xaxes(showticklabels=True)
    if _partial(frame):
        _note(fig, PARTIAL_NOTE)
    return fig


def plot_dora(grain: str = "month", *, scope_type: str = "org", scope: str | None = None,
              start: str | None = None, end: str | None = None,
              warehouse: str | Path | Storage | None = None) -> go.Figure:
    """The DORA metrics from Gold as a plotly figure: deployment frequency, lead time (median), change
    failure rate, failed-deployment recovery time (median) and rework rate, one panel each over time.

    DORA bands are shaded (transforms/dora_bands.py; rework rate has none), partial periods drawn with
    hollow markers. `scope_type` org|team|service|repo; `scope` one name of it, or None for every scope
    of that type (one line each: a team comparison). `start`/`end` as for `load_gold`.
    """
    from devmetrics_assets.storage.loaders import load_gold

    check_grain(grain)
    gold = load_gold(grain, start, end, scope_type=scope_type, scope=scope, warehouse=warehouse)
    if gold.empty:
        raise ValueError(f"no Gold {grain} rows for scope_type={scope_type!r} scope={scope!r} in the range")
    if scope_type == "org":
        what = "organisation"
    else:
        what = f"{scope_type} {scope}" if scope else f"every {scope_type}"
    return dora_figure(gold, grain, title=f"DORA metrics per {grain}: {what}")
