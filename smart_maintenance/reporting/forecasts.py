"""Forecasts: each equipment's latest remaining-useful-life forecast (as of the report) with its interval,
and which equipment is at risk. Empty until the forecasting assets write `failure_forecasts`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from smart_maintenance.reporting.frames import LakeView, Window, records, utc_column

# At risk: likely to fail within a week, or a failure that cannot be ruled out within a week.
AT_RISK_P_FAIL_7D = 0.5
AT_RISK_HOURS = 7 * 24.0
COLUMNS = ["equipment_id", "as_of", "rul_hours", "rul_lower_hours", "rul_upper_hours", "predicted_failure_at",
           "method", "p_fail_7d", "p_fail_30d", "interval_level", "beyond_horizon", "drivers", "at_risk"]


def latest_forecasts(view: LakeView, window: Window) -> pd.DataFrame:
    """The newest forecast per equipment made at or before the report's as-of, with `at_risk`."""
    if not view.has("failure_forecasts"):
        return pd.DataFrame(columns=COLUMNS)
    forecasts = view.table("failure_forecasts")
    forecasts["as_of"] = utc_column(forecasts, "as_of")
    forecasts = forecasts[forecasts["as_of"] <= window.as_of]
    latest = forecasts.sort_values("as_of").groupby("equipment_id", as_index=False).tail(1)
    latest = latest.assign(at_risk=[at_risk(r) for r in latest.to_dict("records")])
    return latest.sort_values(["at_risk", "rul_lower_hours"], ascending=[False, True]).reset_index(drop=True)


def at_risk(row: dict[str, Any]) -> bool:
    p7 = row.get("p_fail_7d")
    if p7 is not None and not pd.isna(p7) and p7 >= AT_RISK_P_FAIL_7D:
        return True
    beyond = row.get("beyond_horizon")
    lower = row.get("rul_lower_hours")
    if beyond is True or lower is None or pd.isna(lower):
        return False
    return float(lower) <= AT_RISK_HOURS


def forecast_summary(view: LakeView, latest: pd.DataFrame) -> dict[str, Any]:
    if not view.has("failure_forecasts"):
        return {"available": False, "note": "no data yet: failure_forecasts is not in the lake", "equipment": [],
                "at_risk": 0, "forecasted_equipment": 0}
    return {"available": True, "note": "" if len(latest) else "no forecast made at or before the report's as-of time",
            "forecasted_equipment": len(latest), "at_risk": int(latest["at_risk"].sum()) if len(latest) else 0,
            "equipment": records(latest, COLUMNS)}


def latest_health(view: LakeView, window: Window) -> pd.DataFrame:
    """The newest health score per equipment (`equipment_health`, when the forecasting assets wrote it)."""
    if not view.has("equipment_health"):
        return pd.DataFrame(columns=["equipment_id", "health"])
    health = view.table("equipment_health")
    stamp = utc_column(health, "as_of" if "as_of" in health else "date")
    health = health[stamp <= window.as_of].assign(_at=stamp)
    if "date" in health:
        health = health.assign(_at=utc_column(health, "date"))
    return health.sort_values("_at").groupby("equipment_id", as_index=False).tail(1)[["equipment_id", "health"]]
