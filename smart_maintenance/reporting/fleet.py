"""Fleet health overview: one row per equipment with its readings, anomaly rates, alerts, health and
risk, and a status that orders the fleet for a plant manager (at risk first)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from smart_maintenance.reporting.frames import LakeView, Window, records

# Worst first. The rule, in order: a forecast says it may fail within a week -> at_risk; a credible alert
# in the window -> alerting; an alert that needs investigation -> watch; no readings -> no_data; else ok.
STATUSES = ("at_risk", "alerting", "watch", "ok", "no_data")
LATEST_LOOKBACK_DAYS = 30  # "latest anomaly rate": the last day with scores within this many days
COLUMNS = ["equipment_id", "site", "type", "criticality", "status", "readings", "anomaly_rate", "latest_day",
           "latest_anomaly_rate", "alerts", "credible_alerts", "needs_investigation", "suspected_false_positive",
           "health", "p_fail_7d", "rul_hours", "rul_lower_hours", "predicted_failure_at"]


def fleet_summary(view: LakeView, window: Window, alerts: pd.DataFrame, forecasts: pd.DataFrame,
                  health: pd.DataFrame) -> dict[str, Any]:
    fleet = fleet_frame(view, window, alerts, forecasts, health)
    counts = {s: int((fleet["status"] == s).sum()) for s in STATUSES} if len(fleet) else dict.fromkeys(STATUSES, 0)
    return {"equipment_count": len(fleet), "by_status": counts, "equipment": records(fleet, COLUMNS)}


def fleet_frame(view: LakeView, window: Window, alerts: pd.DataFrame, forecasts: pd.DataFrame,
                health: pd.DataFrame) -> pd.DataFrame:
    equipment = view.table("equipment")
    ids = set(equipment.get("equipment_id", pd.Series(dtype=object)).dropna())
    rates = _anomaly_rates(view, window)
    ids |= set(rates["equipment_id"]) | set(alerts["equipment_id"].dropna()) | set(forecasts["equipment_id"])
    latest = _latest_rates(view, window, ids)
    fleet = pd.DataFrame({"equipment_id": pd.Series(sorted(ids, key=str), dtype=object)})
    if len(equipment):
        fleet = fleet.merge(equipment[["equipment_id", "site", "type", "criticality"]].drop_duplicates("equipment_id"),
                            on="equipment_id", how="left")
    fleet = fleet.merge(rates, on="equipment_id", how="left").merge(latest, on="equipment_id", how="left")
    fleet["readings"] = fleet["readings"].fillna(0).astype(int)
    by_status = alerts.pivot_table(index="equipment_id", columns="validation_status", values="alert_id",
                                   aggfunc="count") if len(alerts) else pd.DataFrame()
    for status, column in (("credible", "credible_alerts"), ("needs_investigation", "needs_investigation"),
                           ("suspected_false_positive", "suspected_false_positive")):
        counts = by_status[status] if status in by_status else pd.Series(dtype=float)
        fleet[column] = fleet["equipment_id"].map(counts).fillna(0).astype(int)
    fleet["alerts"] = fleet["equipment_id"].map(alerts.groupby("equipment_id").size()).fillna(0).astype(int)
    fleet = fleet.merge(health, on="equipment_id", how="left")
    risk = [c for c in ("equipment_id", "p_fail_7d", "rul_hours", "rul_lower_hours", "predicted_failure_at", "at_risk")
            if c in forecasts]
    fleet = fleet.merge(forecasts[risk], on="equipment_id", how="left")
    fleet["status"] = [fleet_status(r) for r in fleet.to_dict("records")]
    order = {s: i for i, s in enumerate(STATUSES)}
    return fleet.sort_values(["status", "credible_alerts", "alerts"], key=lambda c: c.map(order) if c.name == "status" else c,
                             ascending=[True, False, False]).reset_index(drop=True)


def fleet_status(row: dict[str, Any]) -> str:
    risk = row.get("at_risk")
    if isinstance(risk, (bool, np.bool_)) and risk:
        return "at_risk"
    if row.get("credible_alerts", 0) > 0:
        return "alerting"
    if row.get("needs_investigation", 0) > 0:
        return "watch"
    if row.get("readings", 0) == 0:
        return "no_data"
    return "ok"


def _anomaly_rates(view: LakeView, window: Window) -> pd.DataFrame:
    if not view.has("anomaly_scores"):
        return pd.DataFrame(columns=["equipment_id", "readings", "anomaly_rate"])
    return view.sql(
        f"SELECT equipment_id, count(*) AS readings, avg(is_anomaly::DOUBLE) AS anomaly_rate "
        f"FROM {view.scan('anomaly_scores')} WHERE date BETWEEN ? AND ? AND timestamp >= ? AND timestamp < ? GROUP BY ALL",
        [window.start, window.end, window.begin.to_pydatetime(), window.as_of.to_pydatetime()])


def _latest_rates(view: LakeView, window: Window, equipment_ids: set) -> pd.DataFrame:
    """Each equipment's anomaly rate on its last scored day at or before the report's as-of (at least
    for `equipment_ids`, the fleet's: rows of others may be missing)."""
    if not view.has("anomaly_scores"):
        return pd.DataFrame(columns=["equipment_id", "latest_day", "latest_anomaly_rate"])
    # Usually the window's last day has scores of the whole fleet, and reading that day alone is enough;
    # else the whole lookback (which costs a scan of every day of scores in it).
    latest = _last_day_rates(view, window, window.end)
    if equipment_ids <= set(latest["equipment_id"]):
        return latest
    return _last_day_rates(view, window, window.end - timedelta(days=LATEST_LOOKBACK_DAYS))


def _last_day_rates(view: LakeView, window: Window, since: date) -> pd.DataFrame:
    """Per equipment, the anomaly rate of its last day with scores from `since` to the window's end."""
    return view.sql(
        f"""SELECT equipment_id, CAST(date AS VARCHAR) AS latest_day, rate AS latest_anomaly_rate FROM (
              SELECT equipment_id, date, avg(is_anomaly::DOUBLE) AS rate FROM {view.scan('anomaly_scores')}
              WHERE date BETWEEN ? AND ? AND timestamp < ? GROUP BY ALL)
            QUALIFY row_number() OVER (PARTITION BY equipment_id ORDER BY date DESC) = 1""",
        [since, window.end, window.as_of.to_pydatetime()])
