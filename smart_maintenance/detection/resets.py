"""Baseline resets after a repair (issue 5, "closing the loop").

A corrective repair or a replacement may give a sensor a new normal (a new bearing vibrates less, a
replaced transmitter reads with another offset). Without a reset the detector keeps alerting on the new
normal until the weekly models have forgotten the old one, up to four weeks later. With it:

- *which sensors*: an event resets the sensors it names (a `sensor_id` column, ';'-separated, or sensor
  ids of the equipment from the reference written as words in `notes`, e.g. "replaced vib transmitter"),
  else every sensor of its equipment;
- *scoring*: from the event on, a sensor's readings form a new segment. Its first `resets.readings`
  readings are the warm-up, each scored against a baseline learned from the segment's readings before
  it (median / IQR, as for a sensor without a fitted baseline); later readings against the baseline of
  those first readings, frozen (`fit_rebaselines`). Rate of change, stuck, gap and the smoothed
  deviation restart with the segment. The multivariate model re-centres the sensor on its new level
  and stays silent during the warm-up. Causal: a reading's score uses only readings at or before it,
  so a period scores the same in one call or in micro-batches;
- *later weekly models* learn only from readings after the event (`training_cut`); when the warm-up
  is not over at the end of the training window, the sensor gets no fitted baseline and the scoring
  carries its re-baseline on (a *pending* reset, kept in the model);
- *validation*: an alert that starts during a sensor's warm-up gets the after-maintenance status
  (`needs_investigation`), never `credible`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from smart_maintenance.detection.baseline import sensor_baselines
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.readings import KEY, group_starts, micros, prepare_readings

RESET_COLUMNS = ["equipment_id", "sensor_id", "reset_at", "event_type"]  # sensor_id None: every sensor
STAT_COLUMNS = ["n", "center", "scale", "diff_scale", "interval_s", "max_run"]
WARMUP_COLUMNS = ["equipment_id", "sensor_id", "reset_at", "event_type", "complete_at"]
REBASELINE_COLUMNS = [*WARMUP_COLUMNS, *STAT_COLUMNS]
_WORD = re.compile(r"[\w\-]+")
NAT = np.iinfo(np.int64).min  # NaT as int64


def _utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts, errors="coerce")
    ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    return ts.dt.as_unit("us").reset_index(drop=True)


def empty_resets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "equipment_id": pd.Series(dtype=object),
            "sensor_id": pd.Series(dtype=object),
            "reset_at": pd.Series(dtype="datetime64[us, UTC]"),
            "event_type": pd.Series(dtype=object),
        }
    )


def baseline_resets(
    events: pd.DataFrame | None, config: DetectionConfig, sensors: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per reset (RESET_COLUMNS), sorted: the maintenance events of `config.resets.event_types`,
    each with the sensors it names (sensor_id None: the event names none, every sensor is reset).

    sensors: the reference (equipment_id, sensor_id), against which the words of `notes` are matched.
    """
    if events is None or len(events) == 0 or "event_type" not in events:
        return empty_resets()
    kinds = events["event_type"].astype(str).str.lower().to_numpy()
    events = events[np.isin(kinds, config.resets.event_types)]
    if len(events) == 0:
        return empty_resets()
    times = _utc(events["timestamp" if "timestamp" in events else "event_time"])
    known: dict[str, set[str]] = {}
    if sensors is not None and len(sensors):
        for e, s in zip(sensors["equipment_id"].astype(str), sensors["sensor_id"].astype(str)):
            known.setdefault(e, set()).add(s)
    explicit = events["sensor_id"] if "sensor_id" in events else pd.Series([None] * len(events))
    notes = events["notes"] if "notes" in events else pd.Series([None] * len(events))
    rows = []
    for eq, at, kind, named, note in zip(
        events["equipment_id"].astype(str), times, events["event_type"].astype(str).str.lower(), explicit, notes
    ):
        if pd.isna(at):
            continue
        if isinstance(named, str) and named.strip():
            names = {n.strip() for n in named.split(";") if n.strip()}
        else:
            names = set(_WORD.findall(note)) & known.get(eq, set()) if isinstance(note, str) else set()
        rows += [(eq, s, at, kind) for s in sorted(names)] or [(eq, None, at, kind)]
    if not rows:
        return empty_resets()
    out = pd.DataFrame(rows, columns=RESET_COLUMNS).astype(
        {"equipment_id": object, "sensor_id": object, "event_type": object}
    )
    out["reset_at"] = out["reset_at"].dt.as_unit("us")
    out = out.drop_duplicates(["equipment_id", "sensor_id", "reset_at"])
    order = (
        out.assign(_s=out["sensor_id"].fillna("")).sort_values(["equipment_id", "reset_at", "_s"], kind="stable").index
    )
    return out.loc[order].reset_index(drop=True)


def resets_fingerprint(resets: pd.DataFrame) -> str:
    """Short hash of a set of resets ('' for none): what a model knew of them."""
    if resets is None or len(resets) == 0:
        return ""
    text = "\n".join(
        f"{e}|{s}|{t.isoformat()}"
        for e, s, t in sorted(zip(resets["equipment_id"], resets["sensor_id"].fillna(""), resets["reset_at"]))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _matching(resets: pd.DataFrame, equipment_id: str, sensor_id: str) -> pd.DataFrame:
    return resets[
        (resets["equipment_id"] == equipment_id) & (resets["sensor_id"].isna() | (resets["sensor_id"] == sensor_id))
    ]


# --- fitting the weekly models -----------------------------------------------------------------------


def training_cut(
    frame: pd.DataFrame, resets: pd.DataFrame | None, lo: pd.Timestamp, as_of: pd.Timestamp, config: DetectionConfig
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.Timestamp]]:
    """Training readings (prepared, in (lo, as_of]) without what a reset made obsolete.

    For each sensor reset in the window, only its readings at or after the latest reset are kept. When
    too few readings say what the new normal is at `as_of` (fewer than `resets.readings` or spanning less
    than `resets.min_training_span`, and less than `resets.max_duration` passed), the reset is *pending*:
    the sensor keeps what it had before it (readings after an earlier reset, else all), and the scoring
    re-baselines it from the reset on, exactly as in the week of the repair.
    Returns (kept readings, pending resets (RESET_COLUMNS), equipment -> its latest
    repair of the whole equipment that cut: its multivariate model learns from then on; a transmitter
    replacement does not change how the equipment's sensors move together).
    """
    pending = empty_resets()
    if resets is None or len(resets) == 0 or len(frame) == 0:
        return frame, pending, {}
    window = resets[
        (resets["reset_at"] > lo)
        & (resets["reset_at"] <= as_of)
        & resets["equipment_id"].isin(frame["equipment_id"].unique())
    ]
    if len(window) == 0:
        return frame, pending, {}
    cfg = config.resets
    drop = np.zeros(len(frame), dtype=bool)
    times = micros(frame["timestamp"])
    rows, since = [], {}
    whole = set(window.loc[window["sensor_id"].isna(), ["equipment_id", "reset_at"]].itertuples(index=False, name=None))
    for (eq, sensor), idx in frame.groupby(KEY, sort=True).indices.items():
        matching = _matching(window, eq, sensor).sort_values("reset_at", kind="stable")
        at = sorted(set(matching["reset_at"]))
        if not at:
            continue
        after = times[idx] >= micros(pd.Series([at[-1]]))[0]
        span = (times[idx][after].max() - times[idx][after].min()) / 1e6 if after.any() else 0.0
        enough = after.sum() >= cfg.readings and span >= cfg.min_training_span.total_seconds()
        if not (enough or as_of >= at[-1] + cfg.max_duration):
            rows.append((eq, sensor, at[-1], matching["event_type"].iat[-1]))
            at = at[:-1]  # the earlier resets (whose warm-ups were over by then) still cut
            if not at:
                continue
            after = times[idx] >= micros(pd.Series([at[-1]]))[0]
        drop[idx[~after]] = True
        if (eq, at[-1]) in whole:  # a repair of the equipment: its joint normal restarts too (not a transmitter's)
            since[eq] = max(since.get(eq, at[-1]), at[-1])
    if rows:
        pending = pd.DataFrame(rows, columns=RESET_COLUMNS).astype({"equipment_id": object, "sensor_id": object})
    return frame[~drop].reset_index(drop=True), pending, since


def applicable_resets(resets: pd.DataFrame | None, models, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """The resets scoring with `models` applies: those after its training (up to `until`) and those it
    left pending."""
    parts = []
    if resets is not None and len(resets):
        after = resets[resets["reset_at"] > models.as_of]
        parts.append(after[after["reset_at"] < until] if until is not None else after)
    pending = getattr(models, "pending_resets", None)
    if pending is not None and len(pending):
        parts.append(pending if "event_type" in pending else pending.assign(event_type="pending"))
    if not parts:
        return empty_resets()
    out = pd.concat(parts, ignore_index=True)[RESET_COLUMNS].drop_duplicates(["equipment_id", "sensor_id", "reset_at"])
    return out.sort_values(["equipment_id", "reset_at"], kind="stable").reset_index(drop=True)


# --- re-baselines: what the first readings after a reset say ----------------------------------------


def fit_rebaselines(resets: pd.DataFrame, first_readings: pd.DataFrame, config: DetectionConfig) -> pd.DataFrame:
    """One row per (reset, sensor) (REBASELINE_COLUMNS): the baseline of the sensor's first readings after
    the reset, and `complete_at`, the time from which it holds (its `resets.readings`-th reading, else
    the end of the segment: the next reset of the sensor or `resets.max_duration` after this one).

    resets: applicable resets (RESET_COLUMNS). first_readings: at least the first `resets.readings`
    readings of each reset sensor in [reset_at, reset_at + max_duration), with a `reset_at` column
    saying which reset they follow (more are ignored). Resets of a whole equipment also keep a row
    with sensor_id None (n = 0) for its sensors without readings yet.
    """
    if resets is None or len(resets) == 0:
        return pd.DataFrame(columns=REBASELINE_COLUMNS)
    rows = []
    for row, positions in _warmup_rows(resets, first_readings, config):
        readings = first_readings.iloc[positions if positions is not None else []]
        rows.append(row | _stats(readings.sort_values("timestamp").head(config.resets.readings), config))
    return _rows_frame(rows, REBASELINE_COLUMNS)


def warmups(resets: pd.DataFrame, first_readings: pd.DataFrame, config: DetectionConfig) -> pd.DataFrame:
    """fit_rebaselines' rows without the baselines (WARMUP_COLUMNS): when each warm-up ends. All that
    validation needs (in_warmup), without fitting a baseline per sensor (issue 8)."""
    return _rows_frame([row for row, _ in _warmup_rows(resets, first_readings, config)], WARMUP_COLUMNS)


def _warmup_rows(
    resets: pd.DataFrame, first_readings: pd.DataFrame, config: DetectionConfig
) -> Iterator[tuple[dict, np.ndarray | None]]:
    """fit_rebaselines' rows in its order, without the baselines, each with the positions in
    `first_readings` of its sensor's readings after the reset and before its segment ends (None for a
    whole equipment's sensor_id None row)."""
    cfg = config.resets
    if resets is None or len(resets) == 0:
        return
    times = pd.DatetimeIndex(first_readings["timestamp"]).as_unit("ns").asi8  # NaT: the smallest int64
    groups = first_readings.groupby(["equipment_id", "sensor_id", "reset_at"], sort=False).indices if len(first_readings) else {}
    by_reset: dict[tuple, list[str]] = {}
    for eq, sensor, at in groups:
        by_reset.setdefault((eq, at), []).append(sensor)
    own_times: dict[tuple, list[pd.Timestamp]] = {}  # the reset times of each sensor's own resets...
    whole_times: dict[str, list[pd.Timestamp]] = {}  # ...and of its equipment's (sensor_id None)
    for eq, sensor, at in zip(resets["equipment_id"], resets["sensor_id"], resets["reset_at"]):
        (whole_times.setdefault(eq, []) if pd.isna(sensor) else own_times.setdefault((eq, sensor), [])).append(at)
    for reset in resets.itertuples(index=False):
        whole = not isinstance(reset.sensor_id, str)
        sensors = sorted(by_reset.get((reset.equipment_id, reset.reset_at), [])) if whole else [reset.sensor_id]
        row = {"equipment_id": reset.equipment_id, "reset_at": reset.reset_at, "event_type": reset.event_type}
        for sensor in sensors:
            later = own_times.get((reset.equipment_id, sensor), []) + whole_times.get(reset.equipment_id, [])
            end = min([t for t in later if t > reset.reset_at] + [reset.reset_at + cfg.max_duration])
            idx = groups.get((reset.equipment_id, sensor, reset.reset_at), np.zeros(0, dtype=np.int64))
            positions = idx[(times[idx] < end.value) & (times[idx] != NAT)]
            first = np.sort(times[positions])[: cfg.readings]
            complete_at = pd.Timestamp(first[-1], tz="UTC") if len(first) == cfg.readings else end
            yield row | {"sensor_id": sensor, "complete_at": complete_at}, positions
        if whole:
            yield row | {"sensor_id": None, "complete_at": reset.reset_at + cfg.max_duration}, None


def _rows_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=columns)
    out = out.astype({"equipment_id": object, "sensor_id": object, "event_type": object})
    for col in ("reset_at", "complete_at"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.as_unit("us")
    return out


def _stats(readings: pd.DataFrame, config: DetectionConfig) -> dict:
    if len(readings) == 0:
        return {"n": 0, "center": np.nan, "scale": np.nan, "diff_scale": np.nan, "interval_s": np.nan, "max_run": 0}
    row = sensor_baselines(prepare_readings(readings.assign(sensor_id="s")), config).iloc[0]
    return {c: row[c] for c in STAT_COLUMNS}


def judge_moves(rebaselines: pd.DataFrame, baselines: pd.DataFrame, config: DetectionConfig) -> pd.DataFrame:
    """`rebaselines` with `moved`: whether a re-learned level differs from the sensor's fitted one by
    `resets.min_shift_z` fitted sigmas or more (always, when the sensor has no fitted baseline). Only a
    moved level replaces the fitted baseline after the warm-up."""
    fitted = baselines[baselines["n"] > 0].set_index(KEY)[["center", "scale"]]
    key = pd.MultiIndex.from_arrays([rebaselines["equipment_id"], rebaselines["sensor_id"]])
    old = fitted.reindex(key)
    shift = np.abs(rebaselines["center"].to_numpy(dtype=float) - old["center"].to_numpy(dtype=float))
    moved = np.isnan(old["center"].to_numpy(dtype=float)) | ~(
        shift < config.resets.min_shift_z * old["scale"].to_numpy(dtype=float)
    )
    return rebaselines.assign(moved=moved)


@dataclass
class Segments:
    """Per row of a prepared, sorted frame: the re-baseline it is scored with (row of `table`, -1: none)."""

    table: pd.DataFrame  # fit_rebaselines output
    row: np.ndarray  # index into table, -1 for rows before any reset
    reset_us: np.ndarray  # reset time of the row's segment (us), -1 for none
    warm: np.ndarray  # in the warm-up: baseline from the segment's earlier readings
    frozen: np.ndarray  # after the warm-up: baseline of the segment's first readings
    starts: np.ndarray  # row where the row's sensor-segment begins (group_starts of sensor + segment)

    def stat(self, column: str, fill=np.nan) -> np.ndarray:
        values = self.table[column].to_numpy(dtype=float)
        return np.where(self.row >= 0, values[np.maximum(self.row, 0)], fill)


def segments(frame: pd.DataFrame, rebaselines: pd.DataFrame | None) -> Segments | None:
    """Which re-baseline each row of `frame` (prepared, sorted by sensor then time) is scored with: the
    latest reset at or before the reading (a sensor's own row, else its equipment's sensor_id None row)."""
    if rebaselines is None or len(rebaselines) == 0 or len(frame) == 0:
        return None
    n = len(frame)
    row = np.full(n, -1, dtype=np.int64)
    t = micros(frame["timestamp"])
    base = group_starts(frame[KEY])
    firsts = np.flatnonzero(base == np.arange(n))
    ends = np.r_[firsts[1:], n]
    table = rebaselines.reset_index(drop=True)
    reset_us = micros(table["reset_at"])
    own_rows: dict[tuple, list[int]] = {}  # a sensor's own re-baselines, then its equipment's (sensor_id None)
    whole_rows: dict[str, list[int]] = {}
    for i, (equipment_id, sensor_id) in enumerate(zip(table["equipment_id"], table["sensor_id"])):
        if pd.isna(sensor_id):
            whole_rows.setdefault(equipment_id, []).append(i)
        else:
            own_rows.setdefault((equipment_id, sensor_id), []).append(i)
    sensors = zip(frame["equipment_id"].take(firsts), frame["sensor_id"].take(firsts))  # one per sensor
    for a, b, (equipment_id, sensor_id) in zip(firsts, ends, sensors):
        if equipment_id not in whole_rows and (equipment_id, sensor_id) not in own_rows:
            continue
        own = own_rows.get((equipment_id, sensor_id), [])
        own_times = set(reset_us[own])
        whole = whole_rows.get(equipment_id, [])
        candidates = np.r_[own, [i for i in whole if reset_us[i] not in own_times]].astype(np.int64)
        if len(candidates) == 0:
            continue
        candidates = candidates[np.argsort(reset_us[candidates], kind="stable")]
        k = np.searchsorted(reset_us[candidates], t[a:b], side="right") - 1
        row[a:b] = np.where(k >= 0, candidates[np.maximum(k, 0)], -1)
    if not (row >= 0).any():
        return None
    seg_reset = np.where(row >= 0, reset_us[np.maximum(row, 0)], -1)
    complete = np.where(row >= 0, micros(table["complete_at"])[np.maximum(row, 0)], -1)
    warm = (row >= 0) & (t <= complete)
    idx = np.arange(n)
    new = (base == idx) | (seg_reset != np.r_[-2, seg_reset[:-1]])
    starts = np.maximum.accumulate(np.where(new, idx, 0))
    return Segments(table, row, seg_reset, warm, (row >= 0) & ~warm, starts)


def apply_rebaselines(b: dict[str, np.ndarray], seg: Segments) -> np.ndarray:
    """Per-row baseline columns (detectors._per_row) with the re-baselines.

    A repair moves the level a sensor settles at, rarely the spread of its normal variation (load and
    ambient cycles that a hundred readings may not even cover): after the warm-up, rows of a segment
    whose level moved (`moved`, see judge_moves) take its center and sampling interval, and the larger
    of the fitted and the re-learned spreads; the others keep the fitted baseline. Warm-up rows (and
    segments without readings) are learned on-line (n = 0). Returns the fitted scale of each row, which
    bounds the on-line scale of warm-up rows from below (NaN where there is none).
    """
    moved = seg.stat("moved", 1.0) > 0 if "moved" in seg.table else np.ones(len(seg.row), dtype=bool)
    frozen = seg.frozen & moved
    fitted = np.where(b["n"] > 0, b["scale"], np.nan)
    b["center"] = np.where(frozen, seg.stat("center"), b["center"])
    b["interval_s"] = np.where(frozen, seg.stat("interval_s"), b["interval_s"])
    for c in ("scale", "diff_scale"):
        own = np.where(b["n"] > 0, b[c], np.nan)
        b[c] = np.where(frozen, np.fmax(seg.stat(c), own), b[c])
    b["max_run"] = np.where(frozen, np.fmax(b["max_run"], seg.stat("max_run", 0.0)), b["max_run"])
    b["n"] = np.where(frozen, np.fmax(seg.stat("n", 0.0), b["n"]), b["n"])
    b["n"] = np.where(seg.warm, 0.0, b["n"])
    return np.where(seg.row >= 0, fitted, np.nan)


def recentre(
    part: pd.DataFrame, idx: np.ndarray, model, seg: Segments, centers: pd.Series
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """One equipment's readings for its multivariate model (fitted before the reset, or on the sensor's
    readings before it when the reset was pending): a re-baselined sensor is shifted back by its change of level (its re-baseline's center minus its fitted center, `centers` by
    sensor_id; robust, so a fault inside the warm-up does not move it), and every reading of the
    equipment while one of the model's sensors is in warm-up is marked hidden (returned mask)."""
    rows = seg.row[idx]
    col = pd.Index(model.sensors).get_indexer(part["sensor_id"])
    applies = (rows >= 0) & (col >= 0)
    if not applies.any():
        return part, None
    t = micros(part["timestamp"])
    hidden = np.zeros(len(part), dtype=bool)
    starts_ends = {
        (int(r), int(c)) for r, c in zip(seg.reset_us[idx][applies], micros(seg.table["complete_at"])[rows[applies]])
    }
    for start, end in starts_ends:
        hidden |= (t >= start) & (t <= end)
    level = centers.reindex(part["sensor_id"]).to_numpy(dtype=float)
    slow = np.where(col >= 0, model.slow[np.maximum(col, 0)], True)  # slow sensors enter by their change
    # Every re-baselined sensor, moved or not: the smoothed T^2 sees even a small change of level, and a
    # hundred readings place a level well enough for it (their error is small next to the cycles it knows).
    new_level = seg.table["center"].to_numpy(dtype=float)[np.maximum(rows, 0)]
    offset = np.where(applies & ~slow, new_level - level, 0.0)
    offset = np.nan_to_num(offset)
    if offset.any():
        part = part.assign(value=part["value"].to_numpy() - offset)
    return part, hidden


def row_versions(version: str, seg: Segments | None, n: int) -> np.ndarray:
    """`model_version` of each row: the model's, or for a re-baselined segment a version of its own (so a
    day scored before a repair event was known is recognised as stale)."""
    out = np.full(n, version, dtype=object)
    if seg is None:
        return out
    for at in np.unique(seg.reset_us[seg.reset_us >= 0]):
        out[seg.reset_us == at] = hashlib.sha256(f"{version}|reset {int(at)}".encode()).hexdigest()[:12]
    return out


# --- validation ---------------------------------------------------------------------------------------


def in_warmup(alerts: pd.DataFrame, rebaselines: pd.DataFrame | None) -> list[pd.Series | None]:
    """For each alert, the re-baseline whose warm-up it started in (a row of `rebaselines`), else None: the
    latest reset at or before its start, among its sensor's own re-baselines and its equipment's (sensor_id
    None) at other times, if the alert started by that re-baseline's `complete_at`."""
    out: list[pd.Series | None] = [None] * len(alerts)
    if rebaselines is None or len(rebaselines) == 0 or len(alerts) == 0:
        return out
    reset_us, complete_us = micros(rebaselines["reset_at"]), micros(rebaselines["complete_at"])
    own_rows: dict[tuple, list[int]] = {}  # positions in rebaselines, in their order
    whole_rows: dict[str, list[int]] = {}
    timed = rebaselines["reset_at"].notna()  # a reset without a time is at or before nothing
    for i, (equipment_id, sensor_id, has_time) in enumerate(zip(rebaselines["equipment_id"], rebaselines["sensor_id"], timed)):
        if not has_time:
            continue
        if pd.isna(sensor_id):
            whole_rows.setdefault(equipment_id, []).append(i)
        else:
            own_rows.setdefault((equipment_id, sensor_id), []).append(i)
    started = micros(alerts["started_at"])  # NaT: the smallest int64, after no reset
    for i, (equipment_id, sensor_id) in enumerate(zip(alerts["equipment_id"], alerts["sensor_id"])):
        own = own_rows.get((equipment_id, sensor_id), [])
        own_times = {reset_us[j] for j in own}
        whole = [j for j in whole_rows.get(equipment_id, []) if reset_us[j] not in own_times]
        before = [j for j in own + whole if reset_us[j] <= started[i]]
        if before:
            latest = sorted(before, key=lambda j: reset_us[j])[-1]  # ties: the last, own before whole
            if started[i] <= complete_us[latest]:  # a NaT complete_at (smallest int64) holds no alert
                out[i] = rebaselines.iloc[latest]
    return out


def first_readings(readings: pd.DataFrame, resets: pd.DataFrame, config: DetectionConfig) -> pd.DataFrame:
    """From readings held in memory: each reset's readings in [reset_at, reset_at + max_duration) of the
    sensors it resets, with a `reset_at` column (what the assets read from the lake, for `fit_rebaselines`)."""
    frame = prepare_readings(readings)
    parts = []
    for reset in resets.itertuples(index=False):
        mine = (frame["equipment_id"] == reset.equipment_id) & (frame["timestamp"] >= reset.reset_at)
        mine &= frame["timestamp"] < reset.reset_at + config.resets.max_duration
        if isinstance(reset.sensor_id, str):
            mine &= frame["sensor_id"] == reset.sensor_id
        parts.append(frame[mine].groupby(KEY, sort=False).head(config.resets.readings).assign(reset_at=reset.reset_at))
    if not parts:
        return frame.iloc[:0].assign(reset_at=pd.Series(dtype="datetime64[us, UTC]"))
    return pd.concat(parts, ignore_index=True)
