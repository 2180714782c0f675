"""One self-contained HTML file: plotly's JavaScript embedded once (the plant network may have no
internet: no CDN, no external URL at all, and a Content-Security-Policy that forbids fetching any),
every section drawn from the summary dict, every data-derived string HTML-escaped."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from smart_maintenance.reporting.charts import Figure, figures
from smart_maintenance.reporting.frames import utc
from smart_maintenance.reporting.summary import key_numbers

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "showSendToCloud": False}
# No network at all: scripts and styles only inline, images only data: URIs.
CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
       "img-src data:; font-src data:")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}nav{padding:8px 28px;background:#e8ecf2;font-size:14px}nav a{margin-right:14px;color:#1f3a5f}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border-radius:6px;padding:12px 18px;margin:16px 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}h2{font-size:18px;margin:6px 0 10px}h3{font-size:15px;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border-radius:6px;padding:10px 14px;min-width:120px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}.card .v{font-size:22px;font-weight:600}.card .k{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}th,td{border-bottom:1px solid #e3e3e3;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f0f2f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#777;font-style:italic}.note{color:#555;font-size:13px}.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.status-at_risk{color:#a50f15;font-weight:600}.status-alerting{color:#e6550d;font-weight:600}.status-watch{color:#b8860b}
.status-ok{color:#31a354}.status-no_data{color:#888}@media(max-width:900px){.grid{grid-template-columns:1fr}}
"""
SECTIONS = [("fleet", "Fleet health"), ("anomalies", "Anomalies"), ("maintenance", "Maintenance"),
            ("forecasts", "Forecasts"), ("data-quality", "Data quality"), ("performance", "Pipeline performance")]


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, kind: str = "") -> str:
    """A cell's text (escaped). kind: int, float, pct, hours, ts, or '' for text."""
    if value is None or value == "":
        return "–"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "hours":
        return f"{float(value):,.1f} h"
    if kind == "float":
        return f"{float(value):,.3g}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "ts":
        ts = utc(value)
        return esc(ts.strftime("%Y-%m-%d %H:%M UTC")) if ts is not None else "–"
    return esc(value)


Column = tuple[str, str, str]  # (key, header, kind)


def table(rows: list[dict[str, Any]], columns: list[Column], empty: str = "none") -> str:
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for _, h, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, kind in columns:
            value = row.get(key)
            css = ' class="n"' if kind in ("int", "float", "pct", "hours") else ""
            if key == "status" and value:
                cells.append(f'<td class="status-{esc(value)}">{fmt(value)}</td>')
            else:
                cells.append(f"<td{css}>{fmt(value, kind)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pairs(mapping: dict[str, Any], kind: str = "int") -> str:
    return table([{"k": k, "v": v} for k, v in mapping.items()], [("k", "", ""), ("v", "", kind)])


def render_html(summary: dict[str, Any]) -> str:
    charts = {name: (_chart(name, fig) if fig is not None else "") for name, fig in figures(summary).items()}
    report = summary["report"]
    title = f"Smart Maintenance report {report['start']}" + (f" .. {report['end']}" if report["end"] != report["start"] else "")
    nav = "".join(f'<a href="#{sid}">{esc(name)}</a>' for sid, name in SECTIONS)
    body = "".join(render(summary, charts) for render in RENDERERS)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{CSS}</style>"
            f'<script type="text/javascript">{_plotly_js()}</script></head><body>'
            f"<header><h1>{esc(title)}</h1><p>Window {fmt(report['start'])} .. {fmt(report['end'])} (UTC days) · as of "
            f"{fmt(report['as_of'], 'ts')} · generated {fmt(report['generated_at'], 'ts')}</p></header>"
            f"<nav>{nav}</nav><main>{_cards(summary)}{body}</main>"
            f'<footer class="note" style="padding:0 28px 20px">The same numbers are in the JSON summary next to this file.'
            f"</footer></body></html>")


@functools.cache
def _plotly_js() -> str:
    """plotly.js itself (4.8 MB), read from the plotly package once per process rather than per report."""
    return get_plotlyjs()


def _chart(name: str, fig: Figure) -> str:
    # validate=False: the figures are already plotly.js JSON (`charts`); validating would build graph objects.
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG, div_id=f"chart-{name}",
                       validate=False)


def _cards(summary: dict[str, Any]) -> str:
    kinds = {"anomaly_rate": "pct", "mttr_hours": "hours", "freshness_hours": "hours"}
    cards = "".join(f'<div class="card"><div class="v">{fmt(v, kinds.get(k, "int"))}</div><div class="k">'
                    f'{esc(k.replace("_", " "))}</div></div>' for k, v in key_numbers(summary).items())
    return f'<section id="key-numbers"><h2>Key numbers</h2><div class="cards">{cards}</div></section>'


def _fleet(summary: dict[str, Any], charts: dict[str, str]) -> str:
    fleet = summary["fleet"]
    cols: list[Column] = [("equipment_id", "equipment", ""), ("site", "site", ""), ("type", "type", ""),
                          ("criticality", "criticality", ""), ("status", "status", ""), ("readings", "readings", "int"),
                          ("anomaly_rate", "anomaly rate", "pct"), ("latest_day", "latest day", ""),
                          ("latest_anomaly_rate", "latest rate", "pct"), ("alerts", "alerts", "int"),
                          ("credible_alerts", "credible", "int"), ("health", "health", "float"),
                          ("p_fail_7d", "P(fail 7 d)", "pct"), ("rul_hours", "RUL", "hours")]
    return (f'<section id="fleet"><h2>Fleet health overview</h2>{pairs(fleet["by_status"])}'
            f'<p class="note">Status: at_risk (forecast: likely failure within 7 days) &gt; alerting (credible alert) &gt; '
            f"watch (alert needing investigation) &gt; ok; no_data: no readings in the window.</p>"
            f'{charts["fleet_alerts"]}{table(fleet["equipment"], cols, "no equipment known yet")}</section>')


def _anomalies(summary: dict[str, Any], charts: dict[str, str]) -> str:
    a = summary["anomalies"]
    fp = a["false_positive_rate"]
    fp_text = (f"{fmt(fp['value'], 'pct')} of {fp['alerts_judged']} alerts judged by operators ({esc(fp['note'])})"
               if fp["available"] and fp["value"] is not None else esc(fp["note"]))
    top: list[Column] = [("equipment_id", "equipment", ""), ("sensor_id", "sensor", ""), ("alerts", "alerts", "int"),
                         ("credible", "credible", "int"), ("peak_score", "peak score", "float"),
                         ("last_started", "last started", "ts")]
    return (f'<section id="anomalies"><h2>Anomaly summary</h2>'
            f"<p>{fmt(a['alerts'], 'int')} alerts started in the window ({fmt(a['open'], 'int')} still open); "
            f"{fmt(a['anomalous_readings'], 'int')} of {fmt(a['readings_scored'], 'int')} readings anomalous "
            f"({fmt(a['anomaly_rate'], 'pct')}).</p>"
            f'<div class="grid"><div><h3>By severity</h3>{pairs(a["by_severity"])}</div>'
            f'<div><h3>By validation status</h3>{pairs(a["by_validation_status"])}</div></div>'
            f"<p><b>False-positive rate (human feedback):</b> {fp_text}. Suspected false positives by the validation "
            f"agents: {fmt(a['suspected_false_positive_share'], 'pct')}.</p>"
            f'<div class="grid"><div>{charts["alerts_by_severity"]}</div><div>{charts["alerts_by_status"]}</div></div>'
            f'<h3>Top sensors</h3>{charts["top_sensors"]}{table(a["top_sensors"], top, "no alerts in the window")}</section>')


def _maintenance(summary: dict[str, Any], charts: dict[str, str]) -> str:
    m = summary["maintenance"]
    req, rep, sch = m["requests"], m["repairs"], m["schedule"]
    if req["available"]:
        overdue: list[Column] = [("request_id", "request", ""), ("equipment_id", "equipment", ""), ("status", "status", ""),
                                 ("priority", "priority", "int"), ("due_by", "due by", "ts"),
                                 ("hours_overdue", "overdue by", "hours")]
        requests = (f"<p>{fmt(req['total'], 'int')} requests, {fmt(req['open'], 'int')} open, "
                    f"<b>{fmt(req['overdue'], 'int')} overdue</b> ({esc(req['note'])}).</p>"
                    f'{charts["requests_by_status"]}<h3>Overdue requests</h3>{table(req["overdue_requests"], overdue, "none overdue")}')
    else:
        requests = f'<p class="empty">{esc(req["note"])}</p>'
    failures: list[Column] = [("equipment_id", "equipment", ""), ("failed_at", "failed at", "ts"),
                              ("repaired_at", "repaired at", "ts"), ("hours_to_repair", "time to repair", "hours"),
                              ("repair_event", "by", ""), ("technician_id", "technician", ""), ("notes", "notes", "")]
    repairs = (f"<p>{fmt(rep['failures'], 'int')} failures in the window, {fmt(rep['repaired'], 'int')} repaired; "
               f"<b>MTTR {fmt(rep['mttr_hours'], 'hours')}</b> (median {fmt(rep['median_hours'], 'hours')}). "
               f'<span class="note">{esc(rep["note"])}</span></p>{pairs(rep["events_by_type"]) if rep["events_by_type"] else ""}'
               f'{table(rep["failures_list"], failures, "no failures in the window")}')
    if sch["available"]:
        util: list[Column] = [("technician_id", "technician", ""), ("name", "name", ""), ("assignments", "assignments", "int"),
                              ("assigned_hours", "assigned", "hours"), ("available_hours", "shift hours", "hours"),
                              ("utilisation", "utilisation", "pct")]
        schedule = (f"<p>{fmt(sch['assignments'], 'int')} assignments from {fmt(sch['horizon_start'], 'ts')} to "
                    f"{fmt(sch['horizon_end'], 'ts')} ({esc(sch['note'])}).</p>{charts['schedule_gantt']}"
                    f"{charts['utilisation']}{table(sch['utilisation'], util, 'no technicians')}")
    else:
        schedule = f'<p class="empty">{esc(sch["note"])}</p>'
    return (f'<section id="maintenance"><h2>Maintenance summary</h2><h3>Requests</h3>{requests}'
            f"<h3>Failures and repairs</h3>{repairs}<h3>Technician schedule</h3>{schedule}</section>")


def _forecasts(summary: dict[str, Any], charts: dict[str, str]) -> str:
    f = summary["forecasts"]
    if not f["available"]:
        return f'<section id="forecasts"><h2>Forecasts</h2><p class="empty">{esc(f["note"])}</p></section>'
    cols: list[Column] = [("equipment_id", "equipment", ""), ("at_risk", "at risk", ""), ("rul_hours", "RUL", "hours"),
                          ("rul_lower_hours", "lower", "hours"), ("rul_upper_hours", "upper", "hours"),
                          ("predicted_failure_at", "predicted failure", "ts"), ("p_fail_7d", "P(fail 7 d)", "pct"),
                          ("p_fail_30d", "P(fail 30 d)", "pct"), ("method", "method", ""), ("as_of", "as of", "ts"),
                          ("drivers", "drivers", "")]
    return (f'<section id="forecasts"><h2>Forecasts</h2><p>{fmt(f["at_risk"], "int")} of '
            f'{fmt(f["forecasted_equipment"], "int")} forecasted equipment at risk. {esc(f["note"])}</p>'
            f'{charts["rul_intervals"]}{table(f["equipment"], cols, "no forecasts")}</section>')


def _data_quality(summary: dict[str, Any], charts: dict[str, str]) -> str:
    q = summary["data_quality"]
    w, total = q["window"], q["all_time"]
    keys = ["files", "files_ingested", "files_duplicate_file", "files_rejected", "rows_read", "rows_kept",
            "rows_quarantined", "rows_duplicate", "rows_replaced"]
    reasons_all = {r["reason"]: r["rows"] for r in total["quarantine_by_reason"]}
    reasons_window = {r["reason"]: r["rows"] for r in w["quarantine_by_reason"]}
    by_reason = [{"reason": k, "window": reasons_window.get(k, 0), "all": v} for k, v in reasons_all.items()]
    counts = table([{"what": k.replace("_", " "), "window": w[k], "all": total[k]} for k in keys],
                   [("what", "", ""), ("window", "ingested in the window", "int"), ("all", "all time", "int")])
    reasons: list[Column] = [("reason", "reason", ""), ("window", "rows ingested in the window", "int"),
                             ("all", "rows all time", "int")]
    rejected: list[Column] = [("source_file", "file", ""), ("reason", "why", ""), ("ingested_at", "at", "ts")]
    stale: list[Column] = [("equipment_id", "equipment", ""), ("newest", "newest reading", "ts"), ("age_hours", "age", "hours")]
    return (f'<section id="data-quality"><h2>Data quality</h2>'
            f"<p>{fmt(q['readings_in_window'], 'int')} readings in the window. Newest reading "
            f"{fmt(q['newest_reading_at'], 'ts')}: <b>{fmt(q['freshness_hours'], 'hours')} old</b> at the as-of time.</p>"
            f"{counts}{charts['quarantine_reasons']}<h3>Quarantine by reason</h3>"
            f"{table(by_reason, reasons, 'nothing quarantined')}"
            f"<h3>Rejected files</h3>{table(q['rejected_files'], rejected, 'no file rejected in the window')}"
            f"<h3>Stale equipment</h3>{table(q['stale_equipment'], stale, 'every equipment reported recently')}</section>")


def _performance(summary: dict[str, Any], charts: dict[str, str]) -> str:
    p = summary["performance"]
    batches: list[Column] = [("ingested_at", "batch at", "ts"), ("files", "files", "int"),
                             ("readings_read", "readings", "int"), ("seconds", "seconds", "float"),
                             ("readings_per_second", "readings/s", "int")]
    jobs: list[Column] = [("job", "job", ""), ("runs", "runs", "int"), ("failed", "failed", "int"),
                          ("median_seconds", "median s", "float"), ("max_seconds", "max s", "float")]
    runs = (table(p["runs_by_job"], jobs, "no runs in the window") if p["runs_available"]
            else f'<p class="empty">{esc(p["runs_note"])}</p>')
    return (f'<section id="performance"><h2>Pipeline performance</h2><p>{fmt(p["batches"], "int")} ingest batches; '
            f"median {fmt(p['readings_per_second_median'], 'int')} readings/s (max {fmt(p['readings_per_second_max'], 'int')}).</p>"
            f"{charts['ingest_throughput']}{table(p['batch_list'], batches, 'no ingest batch in the window')}"
            f"<h3>Run durations</h3>{runs}</section>")


RENDERERS: list[Callable[[dict[str, Any], dict[str, str]], str]] = [
    _fleet, _anomalies, _maintenance, _forecasts, _data_quality, _performance]
