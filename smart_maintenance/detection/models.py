"""Fitted detection artifacts: per-sensor baselines and per-equipment models, with their training window.

`fit_models` is called when the caller decides (a schedule, a drift check), never by `score_readings`.
A `Models` object is plain data (pandas + numpy): pickle/joblib it as a versioned asset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from smart_maintenance.detection.baseline import sensor_baselines, with_reference
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.multivariate import EquipmentModel, fit_equipment_model
from smart_maintenance.detection.readings import KEY, READING_COLUMNS, prepare_readings
from smart_maintenance.detection.resets import resets_fingerprint, training_cut


@dataclass
class Models:
    as_of: pd.Timestamp
    train_start: pd.Timestamp | None  # first reading used (None: no history)
    train_end: pd.Timestamp | None  # last reading used (<= as_of)
    config_fingerprint: str
    baselines: pd.DataFrame  # one row per sensor, see baseline.BASELINE_COLUMNS
    equipment: dict[str, EquipmentModel] = field(default_factory=dict)
    n_readings: int = 0
    # Resets in the training window (resets.py): their fingerprint (part of the version), and those whose
    # warm-up was not over at as_of, which the scoring carries on (None in models fitted before resets).
    train_resets: str = ""
    pending_resets: pd.DataFrame | None = None

    @property
    def version(self) -> str:
        """Stable id of this fit: same config, window, data size and resets give the same version."""
        text = f"{self.config_fingerprint}|{self.as_of}|{self.train_start}|{self.train_end}|{self.n_readings}"
        text += f"|resets {self.train_resets}" if self.train_resets else ""
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def metadata(self) -> dict:
        """What an asset materialisation should show about this artifact."""
        return {
            "version": self.version,
            "as_of": str(self.as_of),
            "train_start": str(self.train_start),
            "train_end": str(self.train_end),
            "n_readings": self.n_readings,
            "n_sensors": len(self.baselines),
            "n_equipment_models": len(self.equipment),
            "config_fingerprint": self.config_fingerprint,
            "pending_resets": 0 if self.pending_resets is None else len(self.pending_resets),
        }


def fit_models(
    history: pd.DataFrame,
    config: DetectionConfig | None = None,
    as_of: pd.Timestamp | None = None,
    sensors: pd.DataFrame | None = None,
    resets: pd.DataFrame | None = None,
) -> Models:
    """Learn baselines and equipment models from readings in (as_of - training_window, as_of].

    history: readings (contract columns). as_of: end of the training window (default: the latest
    reading). sensors: optional reference with equipment_id, sensor_id, valid_min, valid_max, sensor_type.
    resets: baseline resets (resets.baseline_resets): a reset sensor learns only from readings after it.
    Only the most recent `max_training_readings` of each sensor are used.
    """
    config = config or DetectionConfig()
    if as_of is None:
        times = prepare_readings(history)["timestamp"]
        as_of = times.max() if len(times) else pd.Timestamp.now(tz="UTC")
    return fit_models_by_equipment([history], config, as_of, sensors, resets)


def fit_models_by_equipment(
    chunks: Iterable[pd.DataFrame],
    config: DetectionConfig,
    as_of: pd.Timestamp,
    sensors: pd.DataFrame | None = None,
    resets: pd.DataFrame | None = None,
) -> Models:
    """`fit_models` over readings that come in chunks, e.g. one equipment at a time from the lake.

    Every model is fitted from one sensor's (baseline) or one equipment's (multivariate) readings, so
    when each chunk holds all the readings of its equipment, chunks in equipment order give exactly
    the Models of one call on everything, while only one chunk is held in memory at a time.
    """
    as_of = _utc(as_of)
    lo = as_of - config.baseline.training_window
    learned, equipment, pending = [], {}, []
    n_readings, train_start, train_end = 0, None, None
    for chunk in chunks:
        frame = prepare_readings(chunk)
        frame = frame[(frame["timestamp"] > lo) & (frame["timestamp"] <= as_of)]
        frame = frame.groupby(["equipment_id", "sensor_id"], sort=False).tail(config.baseline.max_training_readings)
        frame = frame.reset_index(drop=True)
        if len(frame) == 0:
            continue
        cut, waiting, since = training_cut(frame, resets, lo, as_of, config)
        pending.append(waiting)
        if config.multivariate.enabled:
            for equipment_id, part in frame.groupby("equipment_id", sort=True):
                if equipment_id in since:  # the equipment's joint normal after its latest repair
                    part = part[part["timestamp"] >= since[equipment_id]]
                model = fit_equipment_model(part, config)
                if model is not None:
                    equipment[str(equipment_id)] = model
        frame = cut
        if len(frame) == 0:
            continue
        learned.append(sensor_baselines(frame, config))
        first, last = frame["timestamp"].min(), frame["timestamp"].max()
        train_start = first if train_start is None else min(train_start, first)
        train_end = last if train_end is None else max(train_end, last)
        n_readings += len(frame)
        del frame
    if learned:
        rows = pd.concat(learned, ignore_index=True) if len(learned) > 1 else learned[0]
        rows = rows.sort_values(KEY, kind="stable").reset_index(drop=True)
    else:
        rows = sensor_baselines(prepare_readings(pd.DataFrame(columns=READING_COLUMNS)), config)
    used = None
    if resets is not None and len(resets):
        used = resets[(resets["reset_at"] > lo) & (resets["reset_at"] <= as_of)]
    pending = [p for p in pending if len(p)]
    return Models(
        as_of=as_of,
        train_start=train_start,
        train_end=train_end,
        config_fingerprint=config.fingerprint(),
        baselines=with_reference(rows, sensors),
        equipment=dict(sorted(equipment.items())),
        n_readings=n_readings,
        train_resets=resets_fingerprint(used),
        pending_resets=pd.concat(pending, ignore_index=True) if pending else None,
    )


def _utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
