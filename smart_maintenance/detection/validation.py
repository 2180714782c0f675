"""Validation of alerts: is an episode a credible equipment fault? One rule, stated once, with reasons.

Evidence gathered for each alert (all human-readable in `validation_reasons`):
- operating state: the equipment's load sensors (speed, current, power, flow) at idle in the window
  => it stopped or is starting up;
- sensor fault: stuck, out of physical range or dropout among the detectors fired => the sensor is
  suspect, not the machine;
- recent maintenance on the equipment within `maintenance_window` before the episode, or a repair whose
  baseline warm-up the episode started in (resets.py: the sensor's normal is still being re-learned);
- data quality of the window: share of the sensor's readings without a gap or missing value;
- corroboration: alerts of other sensors of the same equipment within `corroboration_window`;
- persistence: anomalous readings in the episode.

Rule (first match): stopped => needs_investigation; sensor fault => suspected_false_positive; after
maintenance or poor data => needs_investigation; corroborated and persistent => credible; corroborated
but transient => needs_investigation; transient (< min_persistent_readings) => suspected_false_positive;
peak >= credible_peak_score => credible; otherwise needs_investigation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY
from smart_maintenance.detection.resets import in_warmup

STATUSES = ("credible", "needs_investigation", "suspected_false_positive")
SENSOR_FAULT_DETECTORS = {"stuck": "stuck value", "out_of_range": "out of physical range", "gap": "dropout"}


def validate_alerts(
    alerts: pd.DataFrame,
    scores: pd.DataFrame,
    maintenance_events: pd.DataFrame | None = None,
    config: DetectionConfig | None = None,
    rebaselines: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`alerts` (from build_alerts) plus validation_status, validation_reasons ('; '-joined),
    sensor_fault (bool), corroborating_sensors (';'-joined) and data_quality (0..1).

    rebaselines: the re-baselines after repairs of the alerts' sensors (resets.fit_rebaselines), for
    their warm-up windows."""
    config = config or DetectionConfig()
    cfg = config.validation
    out = alerts.copy().reset_index(drop=True)
    statuses, reasons_col, faults, corroborating, quality = [], [], [], [], []
    by_sensor = {k: g for k, g in scores.groupby(KEY, sort=False)} if len(scores) else {}
    load = _load_readings(scores, cfg)
    events = _events(maintenance_events)
    warmups = in_warmup(out, rebaselines)
    for row, warmup in zip(out.itertuples(index=False), warmups):
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
        if warmup is not None:
            reasons.append(
                f"started during the sensor's baseline warm-up after {warmup['event_type']} at "
                f"{warmup['reset_at']:%Y-%m-%d %H:%M} UTC: its normal is being re-learned from its first "
                f"{config.resets.readings} readings after the repair (the new normal is not yet known)"
            )
        if q < cfg.min_data_quality:
            reasons.append(f"poor data quality in the window: {q:.0%} of readings without gap or missing value")
        stopped = _stopped(load.get(row.equipment_id), row, cfg)
        if stopped:
            reasons.append(f"equipment stopped or starting up: {stopped} at idle (an operating-state change, "
                           "not a fault signature; check whether the stop was planned)")
        if others:
            reasons.append(f"corroborated by {len(others)} other sensor(s) of the equipment: {', '.join(others)}")
        else:
            reasons.append("not corroborated by other sensors of the equipment")
        persistent = row.n_readings >= cfg.min_persistent_readings
        reasons.append(
            f"{'persistent' if persistent else 'transient'}: {row.n_readings} anomalous reading(s) "
            f"from {row.started_at:%Y-%m-%d %H:%M:%S} to {row.ended_at:%Y-%m-%d %H:%M:%S}, peak score {row.peak_score:.2f}"
        )
        if stopped:
            status = "needs_investigation"  # a stop also explains idle, flat or silent sensors
        elif fault_kinds:
            status = "suspected_false_positive"
        elif len(recent) or warmup is not None or q < cfg.min_data_quality:
            status = "needs_investigation"
        elif others and persistent:
            status = "credible"
        elif others:
            status = "needs_investigation"  # a one-off blip on coupled sensors (e.g. current and power)
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


def _load_readings(scores: pd.DataFrame, cfg) -> dict[str, pd.DataFrame]:
    """Per equipment: its load sensors' readings (timestamp, sensor_id, value) with each sensor's typical
    level (the median of what `scores` holds for it)."""
    if len(scores) == 0 or "sensor_type" not in scores:
        return {}
    load = scores[scores["sensor_type"].isin(cfg.load_sensor_types)][["equipment_id", "sensor_id", "timestamp", "value"]]
    if len(load) == 0:
        return {}
    load = load.assign(typical=load.groupby(["equipment_id", "sensor_id"])["value"].transform("median"))
    return {k: g for k, g in load.groupby("equipment_id", sort=False)}


def _stopped(load: pd.DataFrame | None, row, cfg) -> str:
    """The load sensors found idle in the episode window (from `state_margin` before it), or ''."""
    if load is None:
        return ""
    window = load[(load["timestamp"] >= row.started_at - cfg.state_margin) & (load["timestamp"] <= row.ended_at)]
    window = window[window["typical"].abs() > 0]
    if len(window) == 0:
        return ""
    idle = window["value"].abs() <= cfg.idle_fraction * window["typical"].abs()
    share = idle.groupby(window["sensor_id"]).mean()
    return ", ".join(sorted(share[share >= cfg.stopped_share].index)) if (share >= cfg.stopped_share).any() else ""


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
