"""`devmetrics report --out FILE` opened from disk in headless Chromium.

Contract of the page: 5 x (1 + number of teams) plotly charts (five DORA metrics for the organisation
and for each team), each a `div.plotly-graph-div` that plotly rendered into an `svg.main-svg`, and
`<body data-chart-count="N">`; no console error or uncaught exception; no network request (plotly.js
inlined). The expected count is computed here from Gold's team rows, not read from the page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devmetrics_assets_tests.browser.cdp import Browser
from devmetrics_assets_tests.browser.support import DemoHome, save_screenshot

pytestmark = pytest.mark.browser

METRICS = 5
RENDER_TIMEOUT = 90.0

CHART_STATE_JS = """(() => {
    const divs = [...document.querySelectorAll('div.plotly-graph-div')];
    return {divs: divs.length, rendered: divs.filter(d => d.querySelector('svg.main-svg')).length,
            count: document.body ? document.body.dataset.chartCount : null,
            ready: document.readyState};
})()"""


@pytest.fixture(scope="module")
def report_file(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    made = demo_home.cli("report", "--out", str(out))
    if made.returncode != 0 or not out.exists():
        pytest.fail(f"devmetrics report --out {out} failed (exit {made.returncode}):\n"
                    f"{made.stdout[-2000:]}{made.stderr[-2000:]}", pytrace=False)
    return out


def expected_chart_count(demo_home: DemoHome) -> tuple[int, list[str]]:
    from devmetrics_assets import load_gold

    with demo_home.environment():
        teams = load_gold("month", scope_type="team", warehouse=demo_home.warehouse)
    names = sorted(teams["scope"].dropna().unique())
    assert names, "Gold holds no team rows: the demo home should have teams"
    return METRICS * (1 + len(names)), names


def test_the_report_renders_every_chart_offline_without_console_errors(
        browser: Browser, report_file: Path, demo_home: DemoHome, artifacts) -> None:
    expected, teams = expected_chart_count(demo_home)
    page = browser.new_page(width=1400, height=1000)
    url = report_file.resolve().as_uri()
    page.navigate(url, timeout=RENDER_TIMEOUT)
    # Rendered = every plotly div has its svg, and the number no longer changes for a second.
    state = page.wait_for(
        f"""new Promise(resolve => {{
            const first = {CHART_STATE_JS};
            setTimeout(() => {{ const later = {CHART_STATE_JS};
                resolve(later.ready === 'complete' && later.divs > 0 && later.rendered === later.divs
                        && later.rendered === first.rendered ? later : null); }}, 1000);
        }})""", timeout=RENDER_TIMEOUT, interval=0.5,
        what="every div.plotly-graph-div rendered with an svg.main-svg")
    page.settle(1.0)  # late console errors and requests
    save_screenshot(page, "report.png", full_page=True)
    assert state["rendered"] == expected, (
        f"{state['rendered']} rendered charts ({state['divs']} plotly divs); expected {METRICS} x "
        f"(1 + {len(teams)} teams {teams}) = {expected}")
    assert state["divs"] == expected
    assert state["count"] == str(expected), (
        f'<body data-chart-count={json.dumps(state["count"])}>, expected "{expected}"')
    errors = [str(e) for e in page.console_errors]
    assert errors == [], "console errors / exceptions in the report:\n" + "\n".join(errors)
    assert url in page.requests, f"the page's own load was not seen by the network log: {page.requests[:5]}"
    remote = [u for u in page.requests if re.match(r"(?i)(https?|wss?|ftp):", u)]
    assert remote == [], f"the report loads network resources: {remote}"
