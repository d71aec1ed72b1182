"""The report page: self-contained, five plotly charts per section, every data text escaped."""

from __future__ import annotations

import re
import sys
import types
from types import SimpleNamespace

import pandas as pd
import pytest

from devmetrics_assets.report.build import build_report
from devmetrics_assets.report.data import METRICS, build_sections
from devmetrics_assets.report.html import ExplainResult, render_page
from devmetrics_assets.storage.warehouse import NothingMaterializedError
from devmetrics_assets_tests.report.frames import TEAMS, gold, row, sample
from devmetrics_assets_tests.report.test_charts import FakeStorage

HOSTILE = '<script>alert("x")</script>&co'
HOSTILE_REPO = "acme/<img src=x onerror=alert(1)>"


def hostile_sample() -> pd.DataFrame:
    rows = [
        row("2025-03-01", "team", HOSTILE),
        row("2025-03-01", "repo", HOSTILE_REPO, change_failure_rate=0.3, change_failures=3),
    ]
    return pd.concat([sample(), gold(rows)], ignore_index=True)


TEAMS_HOSTILE = {**TEAMS, HOSTILE_REPO: HOSTILE}


def page(frame: pd.DataFrame, teams: dict[str, str], **kwargs: object) -> str:
    sections = build_sections(frame, "month", teams)
    return render_page(sections, "month", covered="2025-01 to 2025-04", generated="2025-05-01 00:00 UTC",
                       **kwargs)


def chart_divs(text: str) -> int:
    return len(re.findall(r'<div id="[^"]*" class="plotly-graph-div"', text))


def test_five_charts_per_section_and_the_count_on_body() -> None:
    text = page(sample(), TEAMS)
    sections = text.split('<section class="scope"')[1:]
    assert len(sections) == 3  # org, team x, team y
    assert [chart_divs(s) for s in sections] == [5, 5, 5]
    assert chart_divs(text) == 15 and text.count('class="plotly-graph-div"') == 15
    assert re.search(r'<body data-chart-count="15">', text)
    for metric in METRICS:
        assert text.count(f'data-metric="{metric.key}"') == 3


def test_self_contained_plotly_js_inlined_once() -> None:
    text = page(sample(), TEAMS)
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert "@import" not in text
    assert text.count("* plotly.js v") == 1
    assert text.count("Plotly.newPlot(") == 15


def test_hostile_names_are_escaped_everywhere() -> None:
    text = page(hostile_sample(), TEAMS_HOSTILE)
    assert '<script>alert("x")' not in text and "<img src=x" not in text
    assert "Team &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co" in text  # heading and nav
    assert 'data-scope="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co"' in text
    assert "acme/&lt;img src=x onerror=alert(1)&gt;" in text  # worst repos
    assert re.search(r'<body data-chart-count="20">', text) and chart_divs(text) == 20


def test_changes_and_worst_repos_are_shown() -> None:
    text = page(sample(), TEAMS)
    org = text.split('<section class="scope"')[1]
    assert "Last full period: 2025-03. 2025-04 is partial" in org
    assert "<th>2025-03</th><th>2025-02</th>" in org
    assert "-5.0 pp (-50 %)" in org and "+10.0 h (+25 %)" in org  # CFR 10 -> 5 %, lead 40 -> 50 h
    cfr = org.split("Worst repos in 2025-03: change failure rate")[1].split("</table>")[0]
    assert [m for m in re.findall(r"<td>(acme/\w)</td>", cfr)] == ["acme/c", "acme/b", "acme/a"]
    assert "Lead time by stage" not in text


def test_stage_view_is_not_a_chart() -> None:
    frame = sample().assign(coding_median_h=5.0, pickup_median_h=2.0, review_median_h=7.5,
                            deploy_median_h=1.0)
    text = page(frame, TEAMS)
    assert text.count("Lead time by stage") == 3
    assert 'title="review: 7.5 h"' in text
    assert chart_divs(text) == 15 and 'data-chart-count="15"' in text


def explanation(metric: str, scope: str, period: str) -> SimpleNamespace:
    rows = pd.DataFrame({"deployment_id": [HOSTILE, "d2"], "change_failure": [True, False]})
    return SimpleNamespace(metric=metric, scope=scope, period=period, grain="month", value=0.5,
                           formula="change_failures / deployments = 1 / 2", numerator=rows.head(1),
                           denominator=rows, gold_column="change_failure_rate")


def test_explain_tables_escaped_and_limited() -> None:
    explained = {0: [ExplainResult(METRICS[2], explanation("change_failure_rate", "org", "2025-03")),
                     ExplainResult(METRICS[0], None, "ExplainError: <nope>")]}
    text = page(sample(), TEAMS, explained=explained)
    assert "Explain: the rows behind the last full period" in text
    assert "Change failure rate: <span class=\"formula\">change_failures / deployments = 1 / 2</span>" in text
    assert "<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co</td>" in text
    assert "not explained (ExplainError: &lt;nope&gt;)" in text
    assert "numerator (1)" in text and "denominator (2)" in text


@pytest.fixture
def fake_explain(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    calls: list[tuple[str, str, str]] = []

    def explain(metric: str, scope: str = "org", period: str | None = None, *, warehouse: object = None):
        calls.append((metric, scope, str(period)))
        if metric == "rework_rate":
            raise ValueError("cannot explain rework here")
        return explanation(metric, scope, str(period))

    module = types.ModuleType("devmetrics_assets.explain")
    module.explain = explain  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devmetrics_assets.explain", module)
    return calls


def test_build_report_explains_each_section_at_its_last_full_period(fake_explain: list) -> None:
    report = build_report("month", team_of=TEAMS, warehouse=FakeStorage(sample()), generated="now",
                          explain=True)
    assert report.charts == 15 and report.explained
    assert ("change_failure_rate", "org", "2025-03") in fake_explain
    assert ("recovery_time", "team:x", "2025-03") in fake_explain
    assert len(fake_explain) == 15
    assert report.html.count("not explained (ValueError: cannot explain rework here)") == 3


def test_build_report_without_fact_tables_leaves_explain_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def explain(*_: object, **__: object) -> None:
        raise NothingMaterializedError("Nothing materialised yet: table 'gold_fact_deployments'")

    module = types.ModuleType("devmetrics_assets.explain")
    module.explain = explain  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devmetrics_assets.explain", module)
    report = build_report("month", team_of=TEAMS, warehouse=FakeStorage(sample()), explain=True)
    assert not report.explained
    assert report.html.count("Explain tables left out: Nothing materialised yet") == 1
    plain = build_report("month", team_of=TEAMS, warehouse=FakeStorage(sample()), explain=False)
    assert "Explain" not in plain.html.split("<main>")[1]


def test_a_history_without_a_full_period_says_so() -> None:
    frame = gold([row("2025-03-01", is_partial=True, days_covered=12)])
    text = page(frame, {})
    assert "Latest period (partial: no full period yet): 2025-03." in text
    assert 'data-chart-count="5"' in text and chart_divs(text) == 5
