"""Validation of alerts: is an episode a credible equipment fault? One rule, stated once, with reasons.

Evidence gathered for each alert (all human-readable in `validation_reasons`):
- sensor fault: stuck, out of physical range or dropout among the detectors fired => the sensor is
  suspect, not the machine;
- recent maintenance on the equipment within `maintenance_window` before the episode;
- data quality of the window: share of the sensor's readings without a gap or missing value;
- corroboration: alerts of other sensors of the same equipment within `corroboration_window`;
- persistence: anomalous readings in the episode.

Rule (first match): sensor fault => suspected_false_positive; after maintenance or poor data =>
needs_investigation; corroborated => credible; transient (< min_persistent_readings) =>
suspected_false_positive; peak >= credible_peak_score => credible; otherwise needs_investigation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY

STATUSES = ("credible", "needs_investigation", "suspected_false_positive")
SENSOR_FAULT_DETECTORS = {"stuck": "stuck value", "out_of_range": "out of physical range", "gap": "dropout"}


def validate_alerts(
    alerts: pd.DataFrame,
    scores: pd.DataFrame,
    maintenance_events: pd.DataFrame | None = None,
    config: DetectionConfig | None = None,
) -> pd.DataFrame:
    """`alerts` (from build_alerts) plus validation_status, validation_reasons ('; '-joined),
    sensor_fault (bool), corroborating_sensors (';'-joined) and data_quality (0..1)."""
    config = config or DetectionConfig()
    cfg = config.validation
    out = alerts.copy().reset_index(drop=True)
    statuses, reasons_col, faults, corroborating, quality = [], [], [], [], []
    by_sensor = {k: g for k, g in scores.groupby(KEY, sort=False)} if len(scores) else {}
    events = _events(maintenance_events)
    for row in out.itertuples(index=False):
        reasons: list[str] = []
        fired = set(filter(None, str(row.detectors_fired).split(";")))
        fault_kinds = [label for det, label in SENSOR_FAULT_DETECTORS.items() if det in fired]
        others = out[
            (out["equipment_id"] == row.equipment_id)
            & (out["sensor_id"] != row.sensor_id)
            & (out["started_at"] <= row.ended_at + cfg.corroboration_window)
            & (out["ended_at"] >= row.started_at - cfg.corroboration_window)
        ]["sensor_id"]
        others = sorted(set(others))
        q = _quality(by_sensor.get((row.equipment_id, row.sensor_id)), row, cfg)
        recent = events[
            (events["equipment_id"] == row.equipment_id)
            & (events["timestamp"] <= row.started_at)
            & (events["timestamp"] >= row.started_at - cfg.maintenance_window)
        ]
        if fault_kinds:
            reasons.append(f"sensor suspect, not the machine: {', '.join(fault_kinds)}")
        if len(recent):
            last = recent.sort_values("timestamp").iloc[-1]
            hours = (row.started_at - last["timestamp"]).total_seconds() / 3600
            reasons.append(
                f"started {hours:.1f} h after {last['event_type']} at {last['timestamp']:%Y-%m-%d %H:%M} UTC "
                "(possible post-maintenance transient or recalibration)"
            )
        if q < cfg.min_data_quality:
            reasons.append(f"poor data quality in the window: {q:.0%} of readings without gap or missing value")
        if others:
            reasons.append(f"corroborated by {len(others)} other sensor(s) of the equipment: {', '.join(others)}")
        else:
            reasons.append("not corroborated by other sensors of the equipment")
        persistent = row.n_readings >= cfg.min_persistent_readings
        reasons.append(
            f"{'persistent' if persistent else 'transient'}: {row.n_readings} anomalous reading(s) "
            f"from {row.started_at:%Y-%m-%d %H:%M:%S} to {row.ended_at:%Y-%m-%d %H:%M:%S}, peak score {row.peak_score:.2f}"
        )
        if fault_kinds:
            status = "suspected_false_positive"
        elif len(recent) or q < cfg.min_data_quality:
            status = "needs_investigation"
        elif others:
            status = "credible"
        elif not persistent:
            status = "suspected_false_positive"
        elif row.peak_score >= cfg.credible_peak_score:
            status = "credible"
        else:
            status = "needs_investigation"
        statuses.append(status)
        reasons_col.append("; ".join(reasons))
        faults.append(bool(fault_kinds))
        corroborating.append(";".join(others))
        quality.append(q)
    out["validation_status"] = pd.Series(statuses, dtype=object)
    out["validation_reasons"] = pd.Series(reasons_col, dtype=object)
    out["sensor_fault"] = pd.Series(faults, dtype=bool)
    out["corroborating_sensors"] = pd.Series(corroborating, dtype=object)
    out["data_quality"] = pd.Series(quality, dtype=float)
    return out


def _events(events: pd.DataFrame | None) -> pd.DataFrame:
    if events is None or len(events) == 0:
        return pd.DataFrame({"equipment_id": pd.Series(dtype=object), "timestamp": pd.Series(dtype="datetime64[us, UTC]"), "event_type": pd.Series(dtype=object)})
    time_col = "timestamp" if "timestamp" in events else "event_time"
    ts = pd.to_datetime(events[time_col])
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return pd.DataFrame(
        {
            "equipment_id": events["equipment_id"].astype(str).to_numpy(),
            "timestamp": ts.reset_index(drop=True),
            "event_type": events["event_type"].astype(str).to_numpy(),
        }
    )


def _quality(sensor_scores: pd.DataFrame | None, row, cfg) -> float:
    """Share of the sensor's readings in the episode window (plus the corroboration margin) that have a
    value and no dropout before them."""
    if sensor_scores is None:
        return 1.0
    ts = sensor_scores["timestamp"]
    window = sensor_scores[(ts >= row.started_at - cfg.corroboration_window) & (ts <= row.ended_at)]
    if len(window) == 0:
        return 1.0
    ok = window["value"].notna().to_numpy() & (window["score_gap"].to_numpy() < 0.5)
    return float(np.mean(ok))
