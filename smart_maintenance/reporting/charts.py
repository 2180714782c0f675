"""Plotly figures of the report, drawn from the summary dict only (so charts and JSON agree).

Each figure is the plain dict plotly.js reads (`{"data": [traces], "layout": {...}}`), not a
`plotly.graph_objects.Figure`: those validate every property as it is set, which cost more than the rest
of the report (~0.1 s a report, plus their import in every new process). These figures are small and
fixed, so they are written directly, in the shape `go.Figure(...).to_dict()` gives (test_charts.py checks
each against it), and `plotly.io.to_html(..., validate=False)` embeds them.

Plotly renders text through its own pseudo-HTML (it understands <b>, <br>, <a href>...), so every
string that comes from data goes through `label()`: it is HTML-escaped, and plotly shows the entities
as the literal characters. A sensor called `<script>` is drawn as the text "<script>".
"""

from __future__ import annotations

import functools
import html
import json
import pkgutil
from typing import Any

from smart_maintenance.reporting.palette import FLEET_COLORS, SEVERITY_COLORS, STATUS_COLORS  # noqa: F401 - re-exported

HEIGHT = 340
TEMPLATE = "plotly_white"
Figure = dict[str, Any]


def label(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


@functools.cache
def _template_json(name: str = TEMPLATE) -> str:
    """What `layout.template="plotly_white"` expands to: the JSON file plotly itself loads the template from,
    read once per process (each figure parses its own copy, so no figure can alter another's)."""
    return pkgutil.get_data("plotly", f"package_data/templates/{name}.json").decode("utf-8")


def _figure(data: list[dict[str, Any]], title: str, **layout: Any) -> Figure:
    """A figure with the report's common layout (`layout` overrides height and margin, adds the rest)."""
    layout = {"height": HEIGHT, "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, **layout}
    return {"data": data, "layout": {"template": json.loads(_template_json()), "title": {"text": title, "x": 0.01},
                                     "legend": {"orientation": "h", "y": -0.2}, **layout}}


def _bar(**props: Any) -> dict[str, Any]:
    return {"type": "bar", **props}


def _scatter(**props: Any) -> dict[str, Any]:
    return {"type": "scatter", **props}


def fleet_alerts(summary: dict[str, Any]) -> Figure | None:
    equipment = summary["fleet"]["equipment"]
    if not equipment:
        return None
    names = [label(e["equipment_id"]) for e in equipment]
    statuses = [label(e["status"]) for e in equipment]
    data = [_bar(name=status, x=names, y=[e[column] for e in equipment], marker={"color": STATUS_COLORS[status]},
                 customdata=statuses,
                 hovertemplate="%{x}: %{y} alerts (fleet status %{customdata})<extra>" + status + "</extra>")
            for status, column in (("credible", "credible_alerts"), ("needs_investigation", "needs_investigation"),
                                   ("suspected_false_positive", "suspected_false_positive"))]
    return _figure(data, "Alerts per equipment by validation status", barmode="stack", xaxis={"type": "category"})


def alerts_over_time(summary: dict[str, Any], by: str) -> Figure | None:
    """`by`: 'severity' or 'status'."""
    series = summary["anomalies"]["over_time"]
    if not series:
        return None
    x = [row["bucket"] for row in series]
    colors = SEVERITY_COLORS if by == "severity" else STATUS_COLORS
    data = [_bar(name=key, x=x, y=[row[f"{by}_{key}"] for row in series], marker={"color": color})
            for key, color in colors.items()]
    title = f"Alerts started per {summary['report']['bucket']} by {'severity' if by == 'severity' else 'validation status'}"
    return _figure(data, title, barmode="stack", xaxis={"type": "date"})


def top_sensors(summary: dict[str, Any]) -> Figure | None:
    top = summary["anomalies"]["top_sensors"][::-1]
    if not top:
        return None
    names = [f"{label(t['equipment_id'])} / {label(t['sensor_id'])}" for t in top]
    data = [_bar(name="credible", y=names, x=[t["credible"] for t in top], orientation="h",
                 marker={"color": STATUS_COLORS["credible"]}),
            _bar(name="other", y=names, x=[t["alerts"] - t["credible"] for t in top], orientation="h",
                 marker={"color": "#9e9e9e"})]
    return _figure(data, "Sensors with the most alerts", barmode="stack", yaxis={"type": "category"},
                   height=max(HEIGHT, 28 * len(top) + 120), margin={"l": 200, "r": 20, "t": 50, "b": 50})


def requests_by_status(summary: dict[str, Any]) -> Figure | None:
    requests = summary["maintenance"]["requests"]
    if not requests["available"] or not requests["total"]:
        return None
    items = [(k, v) for k, v in requests["by_status"].items() if v]
    data = [_bar(x=[label(k) for k, _ in items], y=[v for _, v in items], marker={"color": "#3182bd"})]
    return _figure(data, "Maintenance requests by status", xaxis={"type": "category"}, showlegend=False)


def schedule_gantt(summary: dict[str, Any]) -> Figure | None:
    schedule = summary["maintenance"]["schedule"]
    rows = schedule["gantt"]
    if not rows:
        return None
    import pandas as pd

    data = []
    for late in (False, True):
        part = [r for r in rows if bool(r.get("late")) == late]
        if not part:
            continue
        starts = [pd.Timestamp(r["start"]) for r in part]
        millis = [(pd.Timestamp(r["end"]) - s).total_seconds() * 1000 for r, s in zip(part, starts)]
        data.append(_bar(name="late" if late else "on time", orientation="h", base=[s.isoformat() for s in starts],
                         x=millis, y=[label(r.get("technician") or r["technician_id"]) for r in part],
                         marker={"color": "#de2d26" if late else "#3182bd"},
                         customdata=[[label(r["request_id"]), label(r.get("equipment_id")), r["start"], r["end"]]
                                     for r in part],
                         hovertemplate="%{y}: request %{customdata[0]} on %{customdata[1]}<br>%{customdata[2]} .. "
                                       "%{customdata[3]}<extra></extra>"))
    techs = sorted({label(r.get("technician") or r["technician_id"]) for r in rows})
    return _figure(data, "Technician schedule", barmode="overlay", height=max(HEIGHT, 30 * len(techs) + 120),
                   xaxis={"type": "date", "range": [schedule["horizon_start"], schedule["horizon_end"]]},
                   yaxis={"type": "category", "categoryorder": "array", "categoryarray": techs[::-1]},
                   margin={"l": 160, "r": 20, "t": 50, "b": 50})


def utilisation(summary: dict[str, Any]) -> Figure | None:
    rows = [r for r in summary["maintenance"]["schedule"]["utilisation"] if r["utilisation"] is not None]
    if not summary["maintenance"]["schedule"]["available"] or not rows:
        return None
    data = [_bar(x=[label(r["name"]) for r in rows], y=[r["utilisation"] for r in rows], marker={"color": "#756bb1"})]
    return _figure(data, "Technician utilisation (assigned / shift hours)", yaxis={"tickformat": ".0%"},
                   xaxis={"type": "category"}, showlegend=False)


def rul_intervals(summary: dict[str, Any]) -> Figure | None:
    rows = [r for r in summary["forecasts"]["equipment"] if r.get("rul_lower_hours") is not None]
    if not rows:
        return None
    data = []
    for risk in (True, False):
        part = [r for r in rows if bool(r.get("at_risk")) == risk]
        if not part:
            continue
        # Beyond the horizon there is no median: the marker sits at the "not before" bound, no upper whisker.
        mid = [r["rul_hours"] if r.get("rul_hours") is not None else r["rul_lower_hours"] for r in part]
        upper = [(r["rul_upper_hours"] - m) if r.get("rul_upper_hours") is not None else 0 for r, m in zip(part, mid)]
        lower = [m - r["rul_lower_hours"] for r, m in zip(part, mid)]
        data.append(_scatter(name="at risk" if risk else "not at risk", mode="markers", x=mid,
                             y=[label(r["equipment_id"]) for r in part],
                             marker={"color": "#a50f15" if risk else "#3182bd", "size": 10},
                             error_x={"type": "data", "symmetric": False, "array": upper, "arrayminus": lower}))
    return _figure(data, "Remaining useful life (hours) with its interval",
                   xaxis={"title": {"text": "hours"}, "rangemode": "tozero"}, yaxis={"type": "category"},
                   height=max(HEIGHT, 28 * len(rows) + 120), margin={"l": 140, "r": 20, "t": 50, "b": 50})


def quarantine_reasons(summary: dict[str, Any]) -> Figure | None:
    reasons = summary["data_quality"]["all_time"]["quarantine_by_reason"][::-1]
    if not reasons:
        return None
    data = [_bar(y=[label(r["reason"]) for r in reasons], x=[r["rows"] for r in reasons], orientation="h",
                 marker={"color": "#fd8d3c"})]
    return _figure(data, "Quarantined rows by reason (all time)", showlegend=False, yaxis={"type": "category"},
                   margin={"l": 220, "r": 20, "t": 50, "b": 50})


def ingest_throughput(summary: dict[str, Any]) -> Figure | None:
    rows = [b for b in summary["performance"]["batch_list"] if b.get("readings_per_second") is not None]
    if not rows:
        return None
    data = [_scatter(x=[b["ingested_at"] for b in rows], y=[b["readings_per_second"] for b in rows],
                     mode="markers+lines", marker={"color": "#31a354"})]
    return _figure(data, "Ingest throughput per batch (readings/s)", xaxis={"type": "date"}, showlegend=False)


def figures(summary: dict[str, Any]) -> dict[str, Figure | None]:
    return {
        "fleet_alerts": fleet_alerts(summary),
        "alerts_by_severity": alerts_over_time(summary, "severity"),
        "alerts_by_status": alerts_over_time(summary, "status"),
        "top_sensors": top_sensors(summary),
        "requests_by_status": requests_by_status(summary),
        "schedule_gantt": schedule_gantt(summary),
        "utilisation": utilisation(summary),
        "rul_intervals": rul_intervals(summary),
        "quarantine_reasons": quarantine_reasons(summary),
        "ingest_throughput": ingest_throughput(summary),
    }
