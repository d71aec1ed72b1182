"""The Dagster UI in headless Chromium, on a demo home served by `devmetrics ui` (= `dagster dev`).

What a person opening the UI after `devmetrics demo` must see: every asset of the definitions in the
catalog with its description, the Gold month's org_metrics Markdown rendered as a table, and a failed
check with its explanation on the asset's Checks tab. Expected values come from the definitions, the
Dagster instance and the warehouse, never from the page itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from devmetrics_assets_tests.browser.cdp import Browser, Page
from devmetrics_assets_tests.browser.support import (
    DemoHome,
    UiServer,
    markdown_table,
    normalise,
    save_screenshot,
)

pytestmark = pytest.mark.browser

GOLD_ASSET = "gold_dora_monthly"
FAILED_ASSET = "bronze_github"
FAILED_CHECK = "signature_verification"
# The check's entry in the checks list: by its title (the name truncation keeps the full name there),
# else by its text.
CHECK_ENTRY_JS = (f"(document.querySelector('[title=\"{FAILED_CHECK}\"]')"
                  " || [...document.querySelectorAll('span')]"
                  f".find(e => e.innerText.trim() === '{FAILED_CHECK}'))")
PAGE_TIMEOUT = 90.0  # a slow, shared machine: the first GraphQL answers can take a while


@pytest.fixture(scope="module")
def ui(demo_home: DemoHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """`devmetrics ui --port <free port>` on the demo home; stopped by its process group afterwards."""
    server = UiServer.start(demo_home, tmp_path_factory.mktemp("ui") / "dagster-dev.log")
    try:
        try:
            server.wait_ready()
        except (RuntimeError, TimeoutError) as error:
            pytest.fail(str(error), pytrace=False)
        # What the community dialog's "Skip" does: it would otherwise cover the first page opened.
        server.graphql("mutation { setNuxSeen }")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def page(browser: Browser, ui: UiServer) -> Page:
    return browser.new_page(width=1440, height=1100)


@pytest.fixture(scope="module")
def defs(demo_home: DemoHome) -> dg.Definitions:
    from devmetrics_assets.definitions import build_definitions

    with demo_home.environment():
        return build_definitions()


def open_ui(page: Page, ui: UiServer, path: str, wait_text: str) -> None:
    page.navigate(f"{ui.url}{path}", timeout=PAGE_TIMEOUT)
    page.wait_for_text(wait_text, timeout=PAGE_TIMEOUT)


def context_of(page: Page, selector: str) -> str | None:
    """The text of the nearest ancestor of the element that shows more than the element itself
    (an asset's link -> the catalog cell with its description)."""
    return page.evaluate(f"""(() => {{
        const el = document.querySelector({json.dumps(selector)});
        if (!el) return null;
        const own = el.innerText.trim();
        for (let up = el.parentElement; up; up = up.parentElement) {{
            const text = up.innerText.trim();
            if (text.replaceAll(own, '').trim().length > 0) return text;
        }}
        return null;
    }})()""")


def row_of(page: Page, name: str) -> str | None:
    """The text of an asset's catalog row: the smallest ancestor of its link that also shows the code
    location (a link to /locations/...)."""
    return page.evaluate(f"""(() => {{
        const link = document.querySelector('a[href="/assets/{name}"]');
        for (let up = link && link.parentElement; up; up = up.parentElement)
            if (up.querySelector('a[href^="/locations/"]')) return up.innerText;
        return null;
    }})()""")


def test_the_catalog_lists_every_asset_with_its_description(page: Page, ui: UiServer, defs: dg.Definitions,
                                                            artifacts) -> None:
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert len(specs) >= 8, "the definitions should hold Bronze, Silver, Gold and quarantine assets"
    open_ui(page, ui, "/assets", next(iter(specs)))
    listed_js = """[...document.querySelectorAll('a[href^="/assets/"]')]
        .map(a => decodeURIComponent(new URL(a.href).pathname.slice('/assets/'.length)))
        .filter(p => p)"""
    expected = json.dumps(sorted(specs))
    listed = page.wait_for(f"(() => {{ const names = {listed_js};"
                           f" return {expected}.every(n => names.includes(n)) && names; }})()",
                           timeout=PAGE_TIMEOUT, what="a catalog link for every asset")
    assert set(listed) == set(specs), f"the catalog lists {sorted(set(listed))}; defined: {sorted(specs)}"
    try:  # for the screenshot only: let the status column finish loading
        page.wait_for(r"(t => !/Loading|(^|\n)- partitions/.test(t) && /\d+ partitions/.test(t))"
                      "(document.body.innerText)",
                      timeout=30, what="the status column")
    except AssertionError:
        pass
    save_screenshot(page, "catalog.png")
    for name, spec in specs.items():
        assert spec.description, f"{name} has no description in the definitions"
        cell = context_of(page, f'a[href="/assets/{name}"]')
        assert cell is not None, f"no catalog row for {name}"
        shown = normalise(cell)
        # The catalog shows the description's beginning (long ones are cut): at least 100 characters of it.
        start = normalise(spec.description)[:100]
        assert start in shown, f"{name}: the catalog row shows {shown!r}, expected it to contain {start!r}"
        row = row_of(page, name)
        assert row is not None and spec.group_name in row.split("\n"), (
            f"{name}: its row {row!r} does not show its group {spec.group_name}")


def latest_gold_materialisation(demo_home: DemoHome) -> tuple[str | None, str]:
    """The partition and the org_metrics Markdown of gold_dora_monthly's latest materialisation."""
    with demo_home.environment(), dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(GOLD_ASSET))
    assert event is not None and event.asset_materialization is not None, "Gold month never materialised"
    metadata = event.asset_materialization.metadata
    assert "org_metrics" in metadata, f"no org_metrics in the latest materialisation: {sorted(metadata)}"
    return event.asset_materialization.partition, str(metadata["org_metrics"].value)


RENDERED_TABLES_JS = """[...document.querySelectorAll('table')]
    .filter(t => t.querySelector(':scope > thead > tr > th') && t.querySelector(':scope > tbody > tr > td'))
    .map(t => ({
        head: [...t.querySelectorAll(':scope > thead > tr > th')].map(th => th.innerText.trim()),
        rows: [...t.querySelectorAll(':scope > tbody > tr')]
            .map(tr => [...tr.children].map(td => td.innerText.trim())),
        label: ((t.parentElement.closest('tr') || {}).innerText || '').split('\\n').map(s => s.trim())
            .find(s => s) || '',
    }))"""


def test_the_gold_month_page_renders_the_org_metrics_markdown_as_a_table(
        page: Page, ui: UiServer, demo_home: DemoHome, artifacts) -> None:
    from devmetrics_assets import load_gold

    partition, markdown = latest_gold_materialisation(demo_home)
    header, body = markdown_table(markdown)
    assert "deployments" in header, f"org_metrics has no deployments column: {header}"
    open_ui(page, ui, f"/assets/{GOLD_ASSET}", "org_metrics")
    tables: list[dict[str, Any]] = page.wait_for(
        f"(() => {{ const t = {RENDERED_TABLES_JS}.filter(t => t.head.includes('deployments'));"
        " return t.length ? t : null; })()", timeout=PAGE_TIMEOUT, what="a rendered <table> of org_metrics")
    matching = [t for t in tables if t["head"] == header]
    assert matching, f"rendered header cells {[t['head'] for t in tables]}, expected {header}"
    table = matching[0]
    assert table["label"] == "org_metrics", f"the table sits in the metadata row {table['label']!r}"
    assert table["rows"] == body, f"rendered rows {table['rows']}, the materialisation wrote {body}"
    # What the table shows is what Gold holds for the organisation in that month.
    with demo_home.environment():
        org = load_gold("month", partition, partition, scope_type="org", warehouse=demo_home.warehouse)
    assert len(org) == 1, f"Gold holds {len(org)} org rows for {partition}"
    deployments = str(int(org["deployments"].iloc[0]))
    column = header.index("deployments")
    assert deployments in [row[column] for row in table["rows"]], (
        f"Gold's org deployments for {partition} = {deployments}; the table shows {table['rows']}")
    page.set_viewport(1800, 1100)  # wide enough for the metadata table and the Markdown table in it
    try:
        page.evaluate("""(() => { const th = [...document.querySelectorAll('table thead th')]
            .find(th => th.innerText.trim() === 'deployments');
            th.closest('table').scrollIntoView({block: 'center'});
            for (let up = th.parentElement; up; up = up.parentElement) up.scrollLeft = 0;  // keys in view
            return true; })()""")
        page.settle(0.5)
        save_screenshot(page, "gold-month-org-metrics.png")
    finally:
        page.set_viewport(1440, 1100)


def latest_check_evaluation(demo_home: DemoHome) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(FAILED_ASSET), FAILED_CHECK)
    with demo_home.environment(), dg.DagsterInstance.get() as instance:
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
    assert record is not None and record.event is not None, f"{FAILED_ASSET}/{FAILED_CHECK} never ran"
    evaluation = record.event.dagster_event.event_specific_data
    assert isinstance(evaluation, dg.AssetCheckEvaluation)
    return evaluation


def test_the_checks_tab_shows_the_failed_check_and_its_explanation(page: Page, ui: UiServer,
                                                                  demo_home: DemoHome, defs: dg.Definitions,
                                                                  artifacts) -> None:
    evaluation = latest_check_evaluation(demo_home)
    assert not evaluation.passed and evaluation.description, "the planted check did not fail with a reason"
    spec = next(s for s in defs.resolve_assets_def(dg.AssetKey(FAILED_ASSET)).check_specs
                if s.name == FAILED_CHECK)
    open_ui(page, ui, f"/assets/{FAILED_ASSET}?view=checks", FAILED_CHECK)
    row = page.wait_for(f"""(() => {{ const el = {CHECK_ENTRY_JS};
        for (let up = el && el.parentElement; up; up = up.parentElement)
            if (/failed|succeeded|warning|skipped|running/i.test(up.innerText)) return up.innerText;
        return null; }})()""", timeout=PAGE_TIMEOUT, what=f"the {FAILED_CHECK} row of the checks list")
    assert "Failed" in row, f"the checks list shows {row!r} for {FAILED_CHECK}"
    page.click(CHECK_ENTRY_JS)
    # The detail pane: its own description, the blocking note, the result and the check's explanation.
    explanation = normalise(re.sub(r"`([^`]*)`", r"\1", evaluation.description))
    page.wait_for(f"document.body.innerText.replace(/\\s+/g, ' ').includes({json.dumps(explanation)})",
                  timeout=PAGE_TIMEOUT, what="the failed check's explanation")
    shown = normalise(page.text())
    assert "--no-verify" in explanation and "WITHOUT signature verification" in explanation
    assert normalise(spec.description or "") in shown, f"check description {spec.description!r} not shown"
    assert "This is a blocking asset check" in shown
    assert re.search(r"Evaluation result\s+Failed", page.text()), "the latest evaluation is not shown failed"
    summary = evaluation.metadata.get("summary")
    if summary is not None:  # the metadata the check wrote, listed as it was written
        assert normalise(str(summary.value)) in shown, f"metadata summary {summary.value!r} is not shown"
    save_screenshot(page, "checks-failed-signature-verification.png")
