"""Small hand-made reading frames for the detection tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01", tz="UTC")


def plant(
    n: int = 1500,
    equipment: tuple[str, ...] = ("pump-1",),
    sensors: tuple[str, ...] = ("vibration", "current", "temperature"),
    seed: int = 0,
    freq: str = "1min",
) -> pd.DataFrame:
    """Clean, noisy, correlated readings: one row per (equipment, sensor, minute)."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(START, periods=n, freq=freq)
    rows = []
    for e in equipment:
        common = rng.standard_normal(n)
        for j, s in enumerate(sensors):
            level = 50.0 + 10 * j
            value = level + 0.5 * common + rng.standard_normal(n)
            rows.append(pd.DataFrame({"timestamp": times, "equipment_id": e, "sensor_id": s, "value": value, "sensor_type": s}))
    return pd.concat(rows, ignore_index=True)


def at(frame: pd.DataFrame, sensor: str, start: int, stop: int | None = None, equipment: str = "pump-1") -> pd.Series:
    """Mask of a sensor's readings with minute index in [start, stop)."""
    minute = ((frame["timestamp"] - START) / pd.Timedelta("1min")).astype(int)
    stop = start + 1 if stop is None else stop
    return (frame["sensor_id"] == sensor) & (frame["equipment_id"] == equipment) & (minute >= start) & (minute < stop)


def split(frame: pd.DataFrame, minute: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = START + pd.Timedelta(minutes=minute)
    return frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]
