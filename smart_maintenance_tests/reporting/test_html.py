"""The HTML report: self-contained (plotly embedded once, nothing fetched), every data-derived string
escaped, the JSON summary the same numbers as data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from smart_maintenance.reporting import build_report, write_report
from smart_maintenance_tests.reporting.lakes import DAY, EVIL, EVIL_TECHNICIAN, NOW, RUNS


def report(hand_lake: Path):
    return build_report(hand_lake, DAY.date(), DAY.date(), NOW, RUNS)


def test_data_derived_html_renders_as_text(hand_lake):
    html = report(hand_lake).html
    assert EVIL not in html and EVIL_TECHNICIAN not in html and "<script>alert('notes')" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the tables, as text
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    # Inside the plotly JSON, the label is entity-escaped too (plotly draws entities as their characters).
    assert "&lt;script&gt;alert(1)&lt;\\u002fscript&gt;" in html or "\\u0026lt;script\\u0026gt;" in html
    # Every <script> tag of the page body is a chart's (plotly's bundle is in the head), none from the data.
    body = html.split("</head>", 1)[1]
    tags = re.findall(r"<script[^>]*>", body)
    assert tags and set(tags) <= {'<script>', '<script type="text/javascript">'} and len(tags) == body.count('class="plotly-graph-div"')


def test_json_keeps_the_names_as_data(hand_lake):
    summary = json.loads(report(hand_lake).json)
    sensors = {t["sensor_id"] for t in summary["anomalies"]["top_sensors"]}
    assert EVIL in sensors
    assert EVIL_TECHNICIAN in {u["name"] for u in summary["maintenance"]["schedule"]["utilisation"]}


def test_self_contained_no_cdn_no_external_fetch(hand_lake):
    html = report(hand_lake).html
    assert "<script src=" not in html and not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html.split("</style>")[0] + html.split("</head>")[1])
    assert html.count("plotly.js v") >= 1 and len(html) > 3_000_000  # the bundle itself is embedded
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "cdn.plot.ly" not in html.split("</head>")[1]


def test_every_section_and_chart_is_there(hand_lake):
    html = report(hand_lake).html
    for section in ("fleet", "anomalies", "maintenance", "forecasts", "data-quality", "performance"):
        assert f'<section id="{section}">' in html
    for chart in ("fleet_alerts", "alerts_by_severity", "alerts_by_status", "top_sensors", "requests_by_status",
                  "schedule_gantt", "utilisation", "rul_intervals", "quarantine_reasons", "ingest_throughput"):
        assert f'id="chart-{chart}"' in html, chart
    assert "MTTR 2.8 h" in html and "66.7%" in html  # mean time to repair; false-positive rate from decisions


def test_absent_datasets_render_no_data_yet(hand_lake):
    import shutil

    for dataset in ("failure_forecasts", "maintenance_requests", "technician_schedule"):
        shutil.rmtree(hand_lake / dataset)
    html = report(hand_lake).html
    for dataset in ("failure_forecasts", "maintenance_requests", "technician_schedule"):
        assert f"no data yet: {dataset} is not in the lake" in html
    assert 'id="chart-schedule_gantt"' not in html and 'id="chart-rul_intervals"' not in html


def test_files_are_written_atomically_side_by_side(hand_lake, tmp_path):
    html_path, json_path = write_report(report(hand_lake), tmp_path / "reports" / "daily", "2026-03-10")
    assert html_path.name == "2026-03-10.html" and json_path.name == "2026-03-10.json"
    assert json.loads(json_path.read_text())["report"]["start"] == "2026-03-10"
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["2026-03-10.html", "2026-03-10.json"]
