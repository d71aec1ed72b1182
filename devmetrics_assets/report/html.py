"""The report page: one self-contained HTML file, plotly.js inlined once, no network needed to open it.

`render_page` turns `data.Section`s into HTML. Every section (the org, then each team) holds exactly five
plotly charts, one per metric (`div.plotly-graph-div`), and `<body data-chart-count="N">` carries
5 x (1 + teams): a browser test relies on both. The lead-time stage view is plain HTML/CSS bars, so it never
adds to that count. Every text that comes from data is escaped (`esc`); figure titles are escaped in
`charts`, and plotly serialises figure JSON with `<` as `\\u003c`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from devmetrics_assets.report.charts import BAND_COLOURS, PARTIAL_NOTE, metric_figure
from devmetrics_assets.report.data import Metric, Section, metrics_for
from devmetrics_assets.transforms.dora_bands import BANDS, BANDS_SOURCE

CHARTS_PER_SECTION = 5
EXPLAIN_HINT = "Open a metric to see the rows counted in its numerator and denominator (devmetrics explain)."
EXPLAIN_ROWS = 25  # rows shown of each explain table (the rest is counted, not shown)
STAGE_COLOURS = {"coding": "#4575b4", "pickup": "#91bfdb", "review": "#fdae61", "deploy": "#d73027"}
# A short mode bar (image export, zoom, pan, reset) that leaves the chart's title readable.
_PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
                               "toggleSpikelines", "hoverClosestCartesian", "hoverCompareCartesian"],
}

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 20px}
header{padding-top:18px} h1{margin:.2em 0} h2{border-bottom:2px solid #ddd;padding-bottom:4px}
nav a{margin-right:12px} .meta{color:#555;font-size:13px}
section.scope{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px 18px 18px;margin:18px 0}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:8px}
.chart{min-height:300px;min-width:0;overflow:hidden}
table{border-collapse:collapse;font-size:13px;margin:6px 0 14px}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 9px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f3f3f3}
.better{color:#1a7f37} .worse{color:#c62828}
.band{padding:1px 7px;border-radius:9px;font-size:12px}
.stack{display:flex;height:16px;min-width:2px;background:#eee} .stack span{display:block;height:100%}
.stages{width:100%} .stages td.bar{width:45%}
.legend span{display:inline-block;width:11px;height:11px;margin:0 4px 0 12px}
details{margin:4px 0 10px} summary{cursor:pointer} .formula{font-family:monospace}
.note{color:#666;font-size:12px} .scroll{overflow-x:auto;max-width:100%}
"""


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or another container is a value
        return False


def fmt_value(value: Any, metric: Metric) -> str:
    if _missing(value):
        return "–"
    if metric.percent:
        return f"{float(value) * 100:.1f} %"
    return f"{float(value):.1f} h" if metric.unit == "hours" else f"{float(value):.2f}"


def fmt_change(change: Any, change_pct: Any, metric: Metric) -> str:
    if _missing(change):
        return "–"
    text = f"{float(change) * 100:+.1f} pp" if metric.percent else \
        f"{float(change):+.1f} h" if metric.unit == "hours" else f"{float(change):+.2f}"
    if not _missing(change_pct):
        text += f" ({float(change_pct) * 100:+.0f} %)"
    return text


def band_chip(band: Any) -> str:
    if _missing(band):
        return "–"
    colour = BAND_COLOURS.get(str(band), "#ddd")
    return f'<span class="band" style="background:{colour}">{esc(band)}</span>'


def _number(digits: int) -> Callable[[Any], str]:
    return lambda v: "–" if _missing(v) else f"{float(v):,.{digits}f}"


def _percent(v: Any) -> str:
    return "–" if _missing(v) else f"{float(v) * 100:.1f} %"


def table(frame: pd.DataFrame, columns: Sequence[tuple[str, str, Callable[[Any], str] | None]],
          *, empty: str = "nothing to show", css: str = "") -> str:
    """An HTML table of `frame`: (column, heading, formatter) each; formatters return HTML, None escapes."""
    if frame is None or frame.empty:
        return f'<p class="note">{esc(empty)}</p>'
    present = [(c, h, f) for c, h, f in columns if c in frame.columns]
    head = "".join(f"<th>{esc(h)}</th>" for _, h, f in present)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{f(row[c]) if f else esc('–' if _missing(row[c]) else row[c])}</td>"
                        for c, _, f in present)
        body.append(f"<tr>{cells}</tr>")
    klass = f' class="{esc(css)}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def changes_table(section: Section, grain: str) -> str:
    if section.changes.empty:
        return '<p class="note">no period to compare yet</p>'
    metrics = {m.key: m for m in metrics_for(grain)}
    first = section.changes.iloc[0]
    rows = []
    for _, row in section.changes.iterrows():
        metric = metrics[row["metric"]]
        direction = row["direction"] if not _missing(row["direction"]) else ""
        rows.append(
            f"<tr><td>{esc(metric.title)}</td><td>{esc(fmt_value(row['value'], metric))}</td>"
            f"<td>{esc(fmt_value(row['previous'], metric))}</td>"
            f'<td class="{esc(direction)}">{esc(fmt_change(row["change"], row["change_pct"], metric))}'
            f"{' ' + esc(direction) if direction in ('better', 'worse') else ''}</td>"
            f"<td>{band_chip(row['band']) if metric.band_column else 'no DORA band'}</td></tr>"
        )
    head = (f"<tr><th>metric</th><th>{esc(first['period'])}</th><th>{esc(first['previous_period'])}</th>"
            f"<th>change</th><th>band ({esc(first['period'])})</th></tr>")
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


WORST_TABLE = [
    ("repo", "repo", None),
    ("deployments", "deployments", _number(0)),
    ("change_failures", "change failures", _number(0)),
    ("change_failure_rate", "change failure rate", _percent),
    ("change_failure_rate_band", "CFR band", band_chip),
    ("lead_time_changes", "changes with a lead time", _number(0)),
    ("lead_time_median_h", "lead time median (h)", _number(1)),
    ("lead_time_p90_h", "lead time p90 (h)", _number(1)),
    ("lead_time_band", "lead time band", band_chip),
]


def stages_view(stages: pd.DataFrame | None) -> str:
    """Stacked bars of the lead-time stage medians per period (HTML/CSS: not a plotly chart)."""
    if stages is None or stages.empty:
        return ""
    names = [c for c in stages.columns if c in STAGE_COLOURS]
    totals = stages[names].fillna(0).sum(axis=1)
    widest = float(totals.max()) or 1.0
    rows = []
    for _, row in stages.iterrows():
        segments = "".join(
            f'<span style="width:{float(row[s]) / widest * 100:.2f}%;background:{STAGE_COLOURS[s]}" '
            f'title="{esc(s)}: {float(row[s]):.1f} h"></span>'
            for s in names if not _missing(row[s]) and float(row[s]) > 0
        )
        values = " · ".join(f"{esc(s)} {'–' if _missing(row[s]) else f'{float(row[s]):.1f}'}" for s in names)
        partial = " (partial)" if bool(row["is_partial"]) else ""
        rows.append(f"<tr><td>{esc(row['period'])}{partial}</td><td class=\"bar\"><div class=\"stack\">"
                    f"{segments}</div></td><td>{values} h</td></tr>")
    legend = "".join(f'<span style="background:{STAGE_COLOURS[s]}"></span>{esc(s)}' for s in names)
    return (f'<h3>Lead time by stage (median hours)</h3><p class="legend note">{legend}</p>'
            f'<table class="stages"><tbody>{"".join(rows)}</tbody></table>'
            '<p class="note">Each stage\'s median on its own: the stages need not add up to the lead-time '
            "median.</p>")


@dataclass(frozen=True)
class ExplainResult:
    """One explanation for the page: the object `explain()` returned, or why there is none."""

    metric: Metric
    explanation: Any | None
    error: str | None = None


def _explain_frame(title: str, frame: Any) -> str:
    if not isinstance(frame, pd.DataFrame):
        return ""
    shown = frame.head(EXPLAIN_ROWS)
    more = f" (first {EXPLAIN_ROWS} of {len(frame)})" if len(frame) > EXPLAIN_ROWS else f" ({len(frame)})"
    columns = [(str(c), str(c), None) for c in shown.columns]
    return f"<h5>{esc(title)}{esc(more)}</h5>" + table(shown.astype(object), columns, empty="no rows")


def explain_view(results: Sequence[ExplainResult] | None, note: str | None) -> str:
    if results is None:  # no explain tables: a note in the page header says why, once
        return ""
    blocks = []
    for result in results:
        metric, exp = result.metric, result.explanation
        if exp is None:
            blocks.append(f"<details><summary>{esc(metric.title)}: not explained "
                          f"({esc(result.error)})</summary></details>")
            continue
        value = getattr(exp, "value", None)
        column = getattr(exp, "gold_column", "") or metric.explain_metric
        shown = "–" if _missing(value) else f"{float(value):.4g}"
        formula = getattr(exp, "formula", "") or f"{column} = {shown}"
        blocks.append(
            f'<details><summary>{esc(metric.title)}: <span class="formula">{esc(formula)}</span></summary>'
            f'<div class="scroll">{_explain_frame("numerator", getattr(exp, "numerator", None))}'
            f'{_explain_frame("denominator", getattr(exp, "denominator", None))}</div></details>'
        )
    intro = f'<p class="note">{esc(note)}</p>' if note else ""
    return ("<h3>Explain: the rows behind the last full period</h3>" + intro
            + (f'<p class="note">{esc(EXPLAIN_HINT)}</p>' if blocks else "") + "".join(blocks))


def figure_div(fig: Any, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_PLOTLY_CONFIG))


def section_html(index: int, section: Section, grain: str,
                 explained: Sequence[ExplainResult] | None, explain_note: str | None) -> str:
    metrics = metrics_for(grain)
    if len(metrics) != CHARTS_PER_SECTION:
        raise AssertionError("the page promises five charts per section")
    charts = []
    for metric in metrics:
        fig = metric_figure(section.trend, metric, grain)
        charts.append(f'<div class="chart" data-metric="{esc(metric.key)}">'
                      f"{figure_div(fig, f'chart-{index}-{metric.key}')}</div>")
    at = "–" if section.at is None or section.changes.empty else esc(section.changes["period"].iloc[0])
    at_rows = section.trend[section.trend["period_start"] == section.at]
    last = "Latest period (partial: no full period yet)" if not at_rows.empty and \
        bool(at_rows["is_partial"].astype(bool).iloc[0]) else "Last full period"
    partial = (f" {esc(section.latest_partial)} is partial: drawn hollow in the charts, not compared."
               if section.latest_partial else "")
    scope = "all repos" if section.kind == "org" else f"repos of team {section.name}"
    return (
        f'<section class="scope" id="section-{index}" data-scope-type="{esc(section.kind)}" '
        f'data-scope="{esc(section.name)}"><h2>{esc(section.title)}</h2>'
        f'<p class="meta">{last}: {at}.{partial}</p>'
        f"<h3>Change against the previous period</h3>{changes_table(section, grain)}"
        f'<div class="charts">{"".join(charts)}</div>'
        f"{stages_view(section.stages)}"
        f"<h3>Worst repos in {at}: change failure rate</h3>"
        f"{table(section.worst_cfr, WORST_TABLE, empty=f'no deployments among the {scope}')}"
        f"<h3>Worst repos in {at}: lead time</h3>"
        f"{table(section.worst_lead_time, WORST_TABLE, empty=f'no lead times among the {scope}')}"
        f"{explain_view(explained, explain_note)}</section>"
    )


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (no CDN), safe inside one <script>."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def render_page(sections: Sequence[Section], grain: str, *, covered: str, generated: str,
                explained: dict[int, Sequence[ExplainResult]] | None = None,
                explain_note: str | None = None) -> str:
    """The whole page. `explained`: section index -> its explanations (None: no explain section)."""
    count = CHARTS_PER_SECTION * len(sections)
    nav = "".join(f'<a href="#section-{i}">{esc(s.title)}</a>' for i, s in enumerate(sections))
    body = "".join(
        section_html(i, s, grain, None if explained is None else explained.get(i, []), explain_note)
        for i, s in enumerate(sections)
    )
    bands = ", ".join(f'{band_chip(b)}' for b in BANDS)
    header_note = f'<p class="note">{esc(explain_note)}</p>' if explain_note and explained is None else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DORA metrics report ({esc(grain)})</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{plotly_js()}</script></head>\n'
        f'<body data-chart-count="{count}"><header><h1>DORA metrics</h1>'
        f'<p class="meta">Per {esc(grain)}, {esc(covered)}. Generated {esc(generated)}. '
        f"{len(sections)} sections, {count} charts.</p>"
        f"{header_note}<nav>{nav}</nav></header><main>{body}</main>"
        f'<footer><p class="note">Bands {bands}: {esc(BANDS_SOURCE)}; cut-offs in docs/metrics.md. '
        f"Deployment frequency is the median of deploy days per week; medium and low are decided per "
        f"whole month. {esc(PARTIAL_NOTE)} Rework rate has no DORA band.</p></footer></body></html>\n"
    )
