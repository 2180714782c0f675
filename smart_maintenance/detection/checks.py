"""Stage checks: pure functions returning (passed, metadata), for asset checks to wrap.

- every reading scored exactly once
- scores within [0, 1]
- alert rate per equipment-day within bounds (an alert storm means miscalibration), top offenders
- no credible alert from a sensor flagged faulty
- drift per sensor: KS statistic of a recent window against a reference window
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY, text_values
from smart_maintenance.detection.scoring import SCORE_COLUMNS

READING_KEY = KEY + ["timestamp"]


def check_scored_once(readings: pd.DataFrame, scores: pd.DataFrame) -> tuple[bool, dict]:
    """Each (equipment_id, sensor_id, timestamp) of `readings` appears exactly once in `scores`."""
    r, s = pd.Series(_key_hashes(readings)), pd.Series(_key_hashes(scores))
    duplicated = int(s.duplicated().sum())
    r_set, s_set = r.drop_duplicates(), s.drop_duplicates()
    missing = int((~r_set.isin(s_set)).sum())  # hash-table membership: linear, no sort
    extra = int((~s_set.isin(r_set)).sum())
    meta = {"readings": len(readings), "scores": len(scores), "missing": missing, "duplicated": duplicated, "extra": extra}
    return missing == 0 and duplicated == 0 and extra == 0, meta


def _key_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per reading key: set operations on millions of keys in vectorised numpy."""
    return pd.util.hash_pandas_object(_keys(frame), index=False).to_numpy()


def check_scores_in_range(scores: pd.DataFrame) -> tuple[bool, dict]:
    """anomaly_score and every score_<detector> present, not null and within [0, 1]."""
    cols = ["anomaly_score"] + [c for c in SCORE_COLUMNS if c in scores]
    bad = {}
    for c in cols:
        v = scores[c].to_numpy(dtype=float)
        n = int((np.isnan(v) | (v < 0) | (v > 1)).sum())
        if n:
            bad[c] = n
    return not bad, {"columns_checked": cols, "out_of_range": bad, "rows": len(scores)}


def check_alert_rate(alerts: pd.DataFrame, scores: pd.DataFrame, config: DetectionConfig | None = None, top: int = 5) -> tuple[bool, dict]:
    """Alerts per equipment-day (days the equipment has scored readings) at most the configured bound."""
    config = config or DetectionConfig()
    bound = config.checks.max_alerts_per_equipment_day
    days = scores.assign(day=scores["timestamp"].dt.floor("D")).groupby("equipment_id")["day"].nunique()
    counts = (
        alerts.assign(day=alerts["started_at"].dt.floor("D")).groupby(["equipment_id", "day"]).size()
        if len(alerts)
        else pd.Series(dtype=int)
    )
    offenders = counts[counts > bound].sort_values(ascending=False)
    per_day = (alerts.groupby("equipment_id").size() / days).dropna() if len(alerts) else pd.Series(dtype=float)
    meta = {
        "bound_per_equipment_day": bound,
        "equipment_days": int(days.sum()),
        "alerts": len(alerts),
        "mean_alerts_per_equipment_day": float(len(alerts) / days.sum()) if days.sum() else 0.0,
        "max_alerts_in_an_equipment_day": int(counts.max()) if len(counts) else 0,
        "top_offenders": [
            {"equipment_id": e, "day": str(d.date()), "alerts": int(n)} for (e, d), n in offenders.head(top).items()
        ],
        "highest_rate_equipment": {str(k): float(v) for k, v in per_day.sort_values(ascending=False).head(top).items()},
    }
    return offenders.empty, meta


def check_no_credible_from_faulty_sensor(alerts: pd.DataFrame, faulty_sensors: pd.DataFrame | None = None) -> tuple[bool, dict]:
    """No `credible` alert on a sensor flagged faulty (by its own alert's sensor_fault, or listed in
    `faulty_sensors` with equipment_id, sensor_id)."""
    if len(alerts) == 0:
        return True, {"violations": 0, "alert_ids": []}
    faulty = alerts["sensor_fault"].fillna(False).astype(bool) if "sensor_fault" in alerts else pd.Series(False, index=alerts.index)
    if faulty_sensors is not None and len(faulty_sensors):
        listed = set(zip(faulty_sensors["equipment_id"].astype(str), faulty_sensors["sensor_id"].astype(str)))
        faulty = faulty | pd.Series([k in listed for k in zip(alerts["equipment_id"], alerts["sensor_id"])], index=alerts.index)
    bad = alerts[faulty & (alerts["validation_status"] == "credible")]
    return bad.empty, {"violations": len(bad), "alert_ids": bad["alert_id"].head(20).tolist()}


def check_drift(reference: pd.DataFrame, recent: pd.DataFrame, config: DetectionConfig | None = None) -> tuple[bool, dict]:
    """Two-sample KS per sensor between a reference window and a recent window of readings.

    Fails when any sensor's KS statistic exceeds `drift_ks_max`; metadata lists the drifted sensors
    (the caller refits models for them or investigates).
    """
    from scipy import stats  # ~0.4 s to import: only where drift is judged, not when Dagster loads the assets

    config = config or DetectionConfig()
    cfg = config.checks
    ref = {k: g["value"].dropna().to_numpy() for k, g in reference.groupby(KEY)}
    drifted, judged = [], 0
    for key, g in recent.groupby(KEY):
        a, b = ref.get(key), g["value"].dropna().to_numpy()
        if a is None or len(a) < cfg.drift_min_readings or len(b) < cfg.drift_min_readings:
            continue
        judged += 1
        res = stats.ks_2samp(a, b)
        if res.statistic > cfg.drift_ks_max:
            drifted.append(
                {"equipment_id": key[0], "sensor_id": key[1], "ks": round(float(res.statistic), 4), "p_value": float(res.pvalue),
                 "reference_median": float(np.median(a)), "recent_median": float(np.median(b))}
            )  # fmt: skip
    drifted.sort(key=lambda d: -d["ks"])
    return not drifted, {"sensors_judged": judged, "drifted": drifted, "ks_max": cfg.drift_ks_max}


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "equipment_id": text_values(frame["equipment_id"]),
            "sensor_id": text_values(frame["sensor_id"]),
            "timestamp": pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)).as_unit("us").asi8,
        }
    )
