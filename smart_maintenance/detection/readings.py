"""The detection input contract and the bounded-window helpers every detector shares.

Readings: `timestamp` (UTC, tz-aware), `equipment_id`, `sensor_id`, `value` (float), `sensor_type`
(may be null). A sensor is the pair (equipment_id, sensor_id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["equipment_id", "sensor_id"]
READING_COLUMNS = ["timestamp", "equipment_id", "sensor_id", "value", "sensor_type"]
# The string dtype pandas gives text columns (Arrow-backed, NaN for missing), as read from the lake: such a
# column is kept as it is; converting it to Python strings and back cost more than scoring it (issue 8).
TEXT = pd.StringDtype(na_value=np.nan)


def prepare_readings(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings with the contract columns and dtypes, sorted by sensor then time (stable)."""
    missing = {"timestamp", "equipment_id", "sensor_id", "value"} - set(readings.columns)
    if missing:
        raise ValueError(f"readings lack columns {sorted(missing)}")
    out = pd.DataFrame(
        {
            "timestamp": _utc(readings["timestamp"]),
            "equipment_id": text_values(readings["equipment_id"]),
            "sensor_id": text_values(readings["sensor_id"]),
            "value": pd.to_numeric(readings["value"], errors="coerce").astype("float64").to_numpy(),
            "sensor_type": (
                text_values(readings["sensor_type"], null_as_none=True)
                if "sensor_type" in readings
                else np.full(len(readings), None, dtype=object)
            ),
        }
    )
    return out.sort_values(["equipment_id", "sensor_id", "timestamp"], kind="stable").reset_index(drop=True)


def text_values(column: pd.Series, null_as_none: bool = False) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """A text column's values, for a new frame: kept as they are when already of the TEXT dtype, else as
    Python strings (nulls as None with `null_as_none`, else NaN), which pandas infers as TEXT."""
    if column.dtype == TEXT:
        return column.array
    if null_as_none:
        return column.astype(object).where(column.notna(), None).to_numpy()
    return column.astype(str).to_numpy()


def _utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert("UTC").dt.as_unit("us").reset_index(drop=True)


def micros(ts: pd.Series) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (UTC)."""
    return pd.DatetimeIndex(ts).as_unit("us").asi8


def group_starts(sorted_keys: pd.DataFrame) -> np.ndarray:
    """For rows sorted by sensor: the row index where each row's sensor begins."""
    n = len(sorted_keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    for col in sorted_keys.columns:
        v = labels(sorted_keys[col])
        new[1:] &= v[1:] == v[:-1]
    new = ~new
    new[0] = True
    return np.maximum.accumulate(np.where(new, np.arange(n), 0))


def labels(column: pd.Series) -> np.ndarray:
    """Values equal where the column's are: integer codes for TEXT (cheaper than Python strings), a null
    equal to nothing (as NaN != NaN)."""
    if column.dtype != TEXT:
        return column.to_numpy()
    codes = pd.factorize(column)[0]
    return np.where(codes >= 0, codes, -1 - np.arange(len(codes)))


def trailing_mean(values: np.ndarray, starts: np.ndarray, window: int, exclusive: bool = False) -> np.ndarray:
    """Mean of the last `window` non-NaN values of each row's group (rows before it if `exclusive`).

    Summed in a fixed order per row, so the result depends only on the window's contents: bit-identical
    whatever earlier rows exist (unlike a running sum). Rows of axis 0 are time; extra axes are features.
    """
    n = values.shape[0]
    idx = np.arange(n)
    acc = np.zeros(values.shape, dtype=np.float64)
    cnt = np.zeros(values.shape, dtype=np.float64)
    first = 1 if exclusive else 0
    for k in range(first, window + first):
        src = idx - k
        ok = src >= starts
        if not ok.any():
            break
        v = values[np.where(ok, src, 0)]
        ok = ok.reshape((n,) + (1,) * (values.ndim - 1)) & ~np.isnan(v)
        acc += np.where(ok, v, 0.0)
        cnt += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)


def previous(values: np.ndarray, starts: np.ndarray, lag: int = 1) -> np.ndarray:
    """The value `lag` rows earlier in the same group (NaN when there is none)."""
    idx = np.arange(len(values)) - lag
    ok = idx >= starts
    out = np.full(values.shape, np.nan)
    out[ok] = values[idx[ok]]
    return out


def run_length(values: np.ndarray, starts: np.ndarray, cap: int) -> np.ndarray:
    """Consecutive identical readings ending at each row (1 = changed), counted up to `cap`."""
    n = len(values)
    prev = previous(values, starts)
    same = (values == prev) & ~np.isnan(values)
    idx = np.arange(n)
    last_change = np.maximum.accumulate(np.where(~same, idx, 0))
    return np.minimum(idx - last_change + 1, cap)
