"""The HTML report in a real browser: every chart renders, no JavaScript error, nothing fetched from the
network, and names that are HTML show as text (no script of the data runs)."""

from __future__ import annotations

import pytest

from smart_maintenance.config import DataRoot
from smart_maintenance.reporting import build_report, write_report
from smart_maintenance_tests.browser.chromium import chromium, screenshot
from smart_maintenance_tests.reporting.lakes import DAY, EVIL, EVIL_TECHNICIAN, NOW, RUNS, hand_made_lake

pytestmark = pytest.mark.e2e


def test_report_renders_its_charts_without_errors(tmp_path):
    root = DataRoot(tmp_path / "data").ensure()
    hand_made_lake(root.root)
    report = build_report(root.lake, DAY.date(), DAY.date(), NOW, RUNS)
    html, _ = write_report(report, root.reports / "daily", DAY.date().isoformat())
    charts = report.html.count('class="plotly-graph-div"')
    assert charts == 10

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems, requests, dialogs = [], [], []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(html.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}", timeout=30_000)
        assert page.locator(".js-plotly-plot").count() == charts
        # Data-derived names are text: in the tables and in the chart labels, and nothing of them ran.
        assert page.locator("td", has_text=EVIL).count() >= 1
        assert page.locator("td", has_text=EVIL_TECHNICIAN).count() >= 1
        assert page.locator("#chart-top_sensors text", has_text=EVIL).count() >= 1
        assert page.evaluate("document.querySelectorAll('body img').length") == 0
        assert page.evaluate("document.querySelectorAll('body script').length") == charts  # one per chart, none from data
        screenshot(page, "report.png")
    assert not dialogs, dialogs
    assert not problems, problems
    assert not requests, requests
