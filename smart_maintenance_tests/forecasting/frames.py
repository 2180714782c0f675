"""Small hand-made plants for the forecasting tests: names no real plant uses, on purpose."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2025-06-01", tz="UTC")


def series(equipment_id: str, sensor_id: str, values: np.ndarray, freq: str = "1h", start: pd.Timestamp = START) -> pd.DataFrame:
    times = pd.date_range(start, periods=len(values), freq=freq)
    return pd.DataFrame({"timestamp": times, "equipment_id": equipment_id, "sensor_id": sensor_id, "value": values,
                         "sensor_type": "generic"})  # fmt: skip


def ramp(hours: int, onset: int, base: float, slope: float, noise: float, seed: int = 0) -> np.ndarray:
    """Flat at `base` until `onset`, then linear with `slope` per hour; Gaussian noise."""
    t = np.arange(hours, dtype=float)
    return base + slope * np.maximum(t - onset, 0) + np.random.default_rng(seed).normal(0, noise, hours)


def sensor_rows(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Reference rows (equipment_id, sensor_id, alarm_limit or nan)."""
    return pd.DataFrame([(e, s, "generic", "u", -1e9, 1e9, lim) for e, s, lim in rows],
                        columns=["equipment_id", "sensor_id", "sensor_type", "unit", "valid_min", "valid_max", "alarm_limit"])  # fmt: skip


def run_to_failure_fleet(n_equipment: int = 8, runs: int = 2, seed: int = 0, equipment_type: str = "widget_press"):
    """Equipment that wear out again and again: sensor 'squeal' rises (convex) towards each failure,
    'hum' is noise, 'grip' falls. Returns readings, events, equipment; hourly, each run 120-200 h."""
    rng = np.random.default_rng(seed)
    parts, events = [], []
    for i in range(n_equipment):
        eq = f"wp-{i:02d}"
        t = START + pd.Timedelta(hours=int(rng.integers(0, 50)))
        level = rng.uniform(0.9, 1.1)
        for _ in range(runs):
            n = int(rng.integers(120, 200))
            wear = (np.arange(n) / (n - 1)) ** 1.5
            for sensor, values in (("squeal", 10 * level + 8 * wear + rng.normal(0, 0.3, n)),
                                   ("hum", 5 + rng.normal(0, 0.3, n)),
                                   ("grip", 20 * level - 6 * wear + rng.normal(0, 0.3, n))):  # fmt: skip
                parts.append(series(eq, sensor, values, start=t))
            failure = t + pd.Timedelta(hours=n - 1)
            events += [(eq, failure, "failure"), (eq, failure + pd.Timedelta(hours=3), "corrective_repair")]
            t = failure + pd.Timedelta(hours=4)
    readings = pd.concat(parts, ignore_index=True)
    ev = pd.DataFrame(events, columns=["equipment_id", "timestamp", "event_type"])
    equipment = pd.DataFrame({"equipment_id": [f"wp-{i:02d}" for i in range(n_equipment)], "type": equipment_type,
                              "criticality": "high"})  # fmt: skip
    return readings, ev, equipment


def alarm_before_failure_fleet(n_equipment: int, seed: int = 0, start: pd.Timestamp = START, healthy_hours: int = 240,
                               types: tuple[str, ...] = ("drying_kiln",)):  # fmt: skip
    """Equipment that wear out once, like the simulated plant's: healthy for `healthy_hours`, then over a
    wear-out of 80-140 h two sensors rise as base + 1.3 x gain x (limit - base) x progress^1.6, so the
    alarm comes before the failure: 'shell_heat' (gain 1) crosses its limit at 85 % of the wear-out,
    'bearing_noise' (gain 0.9) at 91 %; the failure comes at its end. 'hum' is noise without a limit.
    Equipment i is of type types[i % len(types)]. Returns readings, events (failure, then repair),
    equipment, sensors; hourly."""
    rng = np.random.default_rng(seed)
    parts, events, sensors = [], [], []
    for i in range(n_equipment):
        eq = f"dk-{seed}-{i:02d}"
        wear = int(rng.integers(80, 141))
        progress = np.concatenate([np.zeros(healthy_hours), np.arange(1, wear + 1) / wear])
        for sensor, base, limit, gain in (("shell_heat", 50.0, 80.0, 1.0), ("bearing_noise", 2.8, 7.1, 0.9)):
            values = base + 1.3 * gain * (limit - base) * progress**1.6 + rng.normal(0, 0.005 * (limit - base), len(progress))
            parts.append(series(eq, sensor, values, start=start))
            sensors.append((eq, sensor, limit))
        parts.append(series(eq, "hum", 5 + rng.normal(0, 0.3, len(progress)), start=start))
        sensors.append((eq, "hum", np.nan))
        failure = start + pd.Timedelta(hours=len(progress))
        events += [(eq, failure, "failure"), (eq, failure + pd.Timedelta(hours=2), "corrective_repair")]
    readings = pd.concat(parts, ignore_index=True)
    ev = pd.DataFrame(events, columns=["equipment_id", "timestamp", "event_type"])
    ids = [e for e, _, _ in events[::2]]
    equipment = pd.DataFrame({"equipment_id": ids, "type": [types[i % len(types)] for i in range(len(ids))], "criticality": "high"})
    return readings, ev, equipment, sensor_rows(sensors)
