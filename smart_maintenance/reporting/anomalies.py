"""Anomaly summary: alerts started in the window, over time by severity and validation status, the
sensors that alert most, and the false-positive rate from human feedback when there is any."""

from __future__ import annotations

from typing import Any

import pandas as pd

from smart_maintenance.reporting.frames import LakeView, Window, plain, records, share, utc_column

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("credible", "needs_investigation", "suspected_false_positive")
TOP_SENSORS = 10
# A decision on a request is human feedback on the alerts that opened it: `reject` says the evidence did
# not warrant work (counted as a false positive), `approve`/`modify` confirm it; `defer` is no verdict.
CONFIRMING, REJECTING = frozenset({"approve", "modify"}), frozenset({"reject"})


def window_alerts(view: LakeView, window: Window) -> pd.DataFrame:
    """Alerts that started inside the window (and not after `as_of`)."""
    alerts = view.table("alerts")
    if alerts.empty:
        return pd.DataFrame(columns=["alert_id", "equipment_id", "sensor_id", "started_at", "ended_at", "severity",
                                     "validation_status"])
    started = utc_column(alerts, "started_at")
    return alerts[(started >= window.begin) & (started < window.as_of)].reset_index(drop=True)


def anomaly_summary(view: LakeView, window: Window, alerts: pd.DataFrame) -> dict[str, Any]:
    by_severity = {s: int((alerts["severity"] == s).sum()) for s in SEVERITIES}
    by_status = {s: int((alerts["validation_status"] == s).sum()) for s in STATUSES}
    open_alerts = int(alerts["is_open"].fillna(False).astype(bool).sum()) if "is_open" in alerts else 0
    scores = _score_totals(view, window)
    return {
        "alerts": len(alerts),
        "by_severity": by_severity,
        "by_validation_status": by_status,
        "open": open_alerts,
        "readings_scored": scores["scored"],
        "anomalous_readings": scores["anomalies"],
        "anomaly_rate": share(scores["anomalies"], scores["scored"]),
        "suspected_false_positive_share": share(by_status["suspected_false_positive"], len(alerts)),
        "over_time": _over_time(alerts, window),
        "top_sensors": _top_sensors(alerts),
        "false_positive_rate": human_false_positive_rate(view, alerts),
    }


def _score_totals(view: LakeView, window: Window) -> dict[str, int]:
    if not view.has("anomaly_scores"):
        return {"scored": 0, "anomalies": 0}
    row = view.sql(
        f"SELECT count(*) AS scored, coalesce(sum(is_anomaly::INT), 0) AS anomalies FROM {view.scan('anomaly_scores')} "
        "WHERE date BETWEEN ? AND ? AND timestamp >= ? AND timestamp < ?",
        [window.start, window.end, window.begin.to_pydatetime(), window.as_of.to_pydatetime()]).iloc[0]
    return {"scored": int(row["scored"]), "anomalies": int(row["anomalies"])}


def _over_time(alerts: pd.DataFrame, window: Window) -> list[dict[str, Any]]:
    """Alert counts per time bucket (hour or day), per severity and per validation status; every bucket
    of the window is listed, so a quiet period shows as zeros rather than as a gap."""
    freq = "h" if window.bucket == "hour" else "D"
    buckets = pd.date_range(window.begin, window.stop, freq=freq, inclusive="left")
    flags = {"alerts": pd.Series(True, index=alerts.index)}
    flags |= {f"severity_{s}": alerts["severity"].eq(s).fillna(False) for s in SEVERITIES}
    flags |= {f"status_{s}": alerts["validation_status"].eq(s).fillna(False) for s in STATUSES}
    # One group-by for all buckets and counts (a mask per bucket and count cost ~15 ms a day's report).
    started = utc_column(alerts, "started_at").dt.floor(freq).rename("bucket")
    counts = pd.DataFrame(flags, dtype=int).groupby(started).sum().reindex(buckets, fill_value=0)
    return [{"bucket": plain(bucket), **{k: int(v) for k, v in zip(counts.columns, row)}}
            for bucket, row in zip(buckets, counts.itertuples(index=False, name=None))]


def _top_sensors(alerts: pd.DataFrame) -> list[dict[str, Any]]:
    if alerts.empty:
        return []
    frame = alerts.assign(credible=alerts["validation_status"] == "credible",
                          peak_score=alerts["peak_score"] if "peak_score" in alerts else float("nan"))
    top = (frame.groupby(["equipment_id", "sensor_id"], dropna=False)
           .agg(alerts=("alert_id", "size"), credible=("credible", "sum"), peak_score=("peak_score", "max"),
                last_started=("started_at", "max"))
           .reset_index().sort_values(["credible", "alerts", "peak_score"], ascending=False))
    return records(top, limit=TOP_SENSORS)


def human_false_positive_rate(view: LakeView, alerts: pd.DataFrame) -> dict[str, Any]:
    """Share of the window's alerts judged by a human (through a decision on a request they opened)
    whose request was rejected. Needs the `decisions` and `maintenance_requests` datasets."""
    missing = [d for d in ("decisions", "maintenance_requests") if not view.has(d)]
    if missing:
        return {"available": False, "value": None, "alerts_judged": 0, "rejected": 0,
                "note": f"not available: no human feedback yet ({', '.join(missing)} not in the lake)"}
    requests = view.table("maintenance_requests")
    if "evidence_alert_ids" not in requests:
        return {"available": False, "value": None, "alerts_judged": 0, "rejected": 0,
                "note": "not available: maintenance_requests has no evidence_alert_ids to link decisions to alerts"}
    decisions = view.table("decisions")
    decisions = decisions.assign(_at=utc_column(decisions, "decided_at")).sort_values("_at", na_position="first")
    latest = decisions.groupby("request_id")["decision"].last()
    links = (requests[["request_id", "evidence_alert_ids"]].dropna()
             .assign(alert_id=lambda f: f["evidence_alert_ids"].str.split(";")).explode("alert_id"))
    links["alert_id"] = links["alert_id"].str.strip()
    links["decision"] = links["request_id"].map(latest)
    verdicts = links[links["alert_id"].isin(set(alerts["alert_id"]))].dropna(subset=["decision"])
    judged = verdicts[verdicts["decision"].isin(CONFIRMING | REJECTING)]
    # An alert behind several requests counts once: rejected only if every verdict on it was a rejection.
    per_alert = judged.groupby("alert_id")["decision"].agg(lambda d: all(x in REJECTING for x in d))
    n, rejected = len(per_alert), int(per_alert.astype(bool).sum())  # an empty agg is '' under pandas 3
    return {"available": True, "value": share(rejected, n), "alerts_judged": n, "rejected": rejected,
            "note": "rejected requests count their alerts as false positives" if n
            else "no alert of the window has a decided request yet"}
