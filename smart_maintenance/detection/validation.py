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
    # The evidence of every alert at once (one helper per kind), then the rule, alert by alert.
    sensors = scores.groupby(KEY, sort=False).indices if len(scores) else {}  # each sensor's rows, grouped once
    corroborating = _corroborating(out, cfg)
    quality = _quality(out, scores, sensors, cfg)
    stopped = _stopped(out, scores, sensors, cfg)
    last_events = _last_events(out, maintenance_events, cfg)
    warmups = in_warmup(out, rebaselines)
    statuses, reasons_col, faults = [], [], []
    for row, others, q, stop, event, warmup in zip(
        out.itertuples(index=False), corroborating, quality, stopped, last_events, warmups
    ):
        reasons: list[str] = []
        fired = set(filter(None, str(row.detectors_fired).split(";")))
        fault_kinds = [label for det, label in SENSOR_FAULT_DETECTORS.items() if det in fired]
        if fault_kinds:
            reasons.append(f"sensor suspect, not the machine: {', '.join(fault_kinds)}")
        if event is not None:
            at, event_type = event
            hours = (row.started_at - at).total_seconds() / 3600
            reasons.append(
                f"started {hours:.1f} h after {event_type} at {at:%Y-%m-%d %H:%M} UTC "
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
        if stop:
            reasons.append(f"equipment stopped or starting up: {stop} at idle (an operating-state change, "
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
        if stop:
            status = "needs_investigation"  # a stop also explains idle, flat or silent sensors
        elif fault_kinds:
            status = "suspected_false_positive"
        elif event is not None or warmup is not None or q < cfg.min_data_quality:
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
    out["validation_status"] = pd.Series(statuses, dtype=object)
    out["validation_reasons"] = pd.Series(reasons_col, dtype=object)
    out["sensor_fault"] = pd.Series(faults, dtype=bool)
    out["corroborating_sensors"] = pd.Series([";".join(others) for others in corroborating], dtype=object)
    out["data_quality"] = pd.Series(quality, dtype=float)
    return out


# --- evidence: one value per alert --------------------------------------------------------------------
# Windows include both ends; readings or events without a time fall in no window. A sensor's readings are
# sorted by time once and cut with searchsorted (_count_in_windows), not filtered once per alert.


def _corroborating(alerts: pd.DataFrame, cfg) -> list[list[str]]:
    """Per alert: the other sensors of its equipment (sorted) with an alert overlapping its episode
    widened by `corroboration_window` on both sides."""
    found: list[list[str]] = [[] for _ in range(len(alerts))]
    margin = np.timedelta64(cfg.corroboration_window)
    started, ended = _times(alerts["started_at"]), _times(alerts["ended_at"])
    sensor = alerts["sensor_id"].to_numpy(dtype=object)
    for rows in alerts.groupby("equipment_id", sort=False).indices.values():
        for i in rows:
            near = (sensor[rows] != sensor[i]) & (started[rows] <= ended[i] + margin) & (ended[rows] >= started[i] - margin)
            found[i] = sorted(set(sensor[rows[near]]))
    return found


def _quality(alerts: pd.DataFrame, scores: pd.DataFrame, sensors: dict[tuple, np.ndarray], cfg) -> np.ndarray:
    """Per alert: the share of its sensor's readings in its quality window (the episode, from
    `corroboration_window` before it) that have a value and no dropout before them; 1.0 without
    readings there."""
    quality = np.ones(len(alerts))
    if len(scores) == 0 or len(alerts) == 0:
        return quality
    ok = scores["value"].notna().to_numpy() & (scores["score_gap"].to_numpy() < 0.5)
    times = _times(scores["timestamp"])
    start, end = _quality_windows(alerts, cfg)
    for key, mine in alerts.groupby(KEY, sort=False).indices.items():
        if key in sensors:
            n, n_ok = _count_in_windows(times, ok, sensors[key], start[mine], end[mine])
            quality[mine] = np.where(n > 0, n_ok / np.maximum(n, 1), 1.0)
    return quality


def _quality_windows(alerts: pd.DataFrame, cfg) -> tuple[np.ndarray, np.ndarray]:
    return _times(alerts["started_at"]) - np.timedelta64(cfg.corroboration_window), _times(alerts["ended_at"])


def rows_read(alerts: pd.DataFrame, config: DetectionConfig | None = None) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Which rows of `scores` validate_alerts reads: per alert, its own sensor's rows in its quality
    window [start, end] (returned, one row per alert), and every row of the load sensors (of the
    returned sensor types: their typical level is the median of all of them). Given only those rows, it
    judges as given all of them, so a loader reads no more (issue 8). Keep it in step with _quality and
    _stopped (smart_maintenance_tests/detection/test_warmups.py)."""
    cfg = (config or DetectionConfig()).validation
    start, end = _quality_windows(alerts, cfg)
    windows = pd.DataFrame({
        "equipment_id": alerts["equipment_id"].to_numpy(), "sensor_id": alerts["sensor_id"].to_numpy(),
        "start": pd.to_datetime(start, utc=True), "end": pd.to_datetime(end, utc=True),
    })
    return windows, cfg.load_sensor_types


def _stopped(alerts: pd.DataFrame, scores: pd.DataFrame, sensors: dict[tuple, np.ndarray], cfg) -> list[str]:
    """Per alert: the equipment's load sensors (', '-joined, sorted) idle in at least `stopped_share` of
    their readings in the episode window (from `state_margin` before it), or ''. Idle: below
    `idle_fraction` of the sensor's typical level, the median of what `scores` holds for it (a sensor
    typically at 0 is never idle). sensors: the rows of each sensor in `scores`."""
    stopped = [""] * len(alerts)
    if len(scores) == 0 or "sensor_type" not in scores or len(alerts) == 0:
        return stopped
    code = np.full(len(scores), -1)  # the sensor of each row, by position in `sensors`
    for k, rows in enumerate(sensors.values()):
        code[rows] = k
    load = np.flatnonzero(scores["sensor_type"].isin(cfg.load_sensor_types).to_numpy() & (code >= 0))
    value = scores["value"].to_numpy(dtype=float)
    typical = pd.Series(value[load]).groupby(code[load]).transform("median").abs().to_numpy()
    load, typical = load[typical > 0], typical[typical > 0]
    idle = np.abs(value[load]) <= cfg.idle_fraction * typical
    times = _times(scores["timestamp"])[load]
    load_sensors: dict[str, dict[str, np.ndarray]] = {}
    keys = list(sensors)
    for k, rows in pd.Series(code[load]).groupby(code[load]).indices.items():
        equipment_id, sensor_id = keys[k]
        load_sensors.setdefault(equipment_id, {})[sensor_id] = rows
    started, ended = _times(alerts["started_at"]), _times(alerts["ended_at"])
    for equipment_id, mine in alerts.groupby("equipment_id", sort=False).indices.items():
        of_equipment = load_sensors.get(equipment_id, {})
        names: list[list[str]] = [[] for _ in mine]
        for sensor_id in sorted(of_equipment):
            n, n_idle = _count_in_windows(times, idle, of_equipment[sensor_id], started[mine] - np.timedelta64(cfg.state_margin), ended[mine])
            for k in np.flatnonzero((n > 0) & (n_idle / np.maximum(n, 1) >= cfg.stopped_share)):
                names[k].append(sensor_id)
        for i, idle_sensors in zip(mine, names):
            stopped[i] = ", ".join(idle_sensors)
    return stopped


def _last_events(alerts: pd.DataFrame, maintenance_events: pd.DataFrame | None, cfg) -> list[tuple | None]:
    """Per alert: (timestamp, event_type) of the latest maintenance event of its equipment at most
    `maintenance_window` before its start (up to the start itself), else None."""
    found: list[tuple | None] = [None] * len(alerts)
    events = _events(maintenance_events)
    if len(events) == 0 or len(alerts) == 0:
        return found
    times = _times(events["timestamp"])
    of_equipment = events.groupby("equipment_id", sort=False).indices
    started = _times(alerts["started_at"])
    window = np.timedelta64(cfg.maintenance_window)
    at, event_type = list(events["timestamp"]), list(events["event_type"])
    for i, equipment_id in enumerate(alerts["equipment_id"]):
        rows = of_equipment.get(equipment_id)
        if rows is None:
            continue
        recent = rows[(times[rows] <= started[i]) & (times[rows] >= started[i] - window)]
        if len(recent):
            last = recent[np.argsort(times[recent])[-1]]  # ties: as DataFrame.sort_values (quicksort)
            found[i] = (at[last], event_type[last])
    return found


def _count_in_windows(times: np.ndarray, flags: np.ndarray, rows: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Of the readings `rows` (positions in `times` and `flags`): how many lie in each window
    [start, end], and how many of those are flagged."""
    rows = rows[~np.isnat(times[rows])]
    rows = rows[np.argsort(times[rows], kind="stable")]
    t = times[rows]
    flagged = np.r_[0, np.cumsum(flags[rows])]
    lo, hi = np.searchsorted(t, start, side="left"), np.searchsorted(t, end, side="right")
    return hi - lo, flagged[hi] - flagged[lo]


def _times(ts: pd.Series) -> np.ndarray:
    """Times as numpy datetime64 (a tz-aware series gives its UTC times). NaT stays NaT: false in every
    comparison."""
    return ts.values


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
