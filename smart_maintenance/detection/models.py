"""Fitted detection artifacts: per-sensor baselines and per-equipment models, with their training window.

`fit_models` is called when the caller decides (a schedule, a drift check), never by `score_readings`.
A `Models` object is plain data (pandas + numpy): pickle/joblib it as a versioned asset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from smart_maintenance.detection.baseline import fit_baselines
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.multivariate import EquipmentModel, fit_equipment_model
from smart_maintenance.detection.readings import prepare_readings


@dataclass
class Models:
    as_of: pd.Timestamp
    train_start: pd.Timestamp | None  # first reading used (None: no history)
    train_end: pd.Timestamp | None  # last reading used (<= as_of)
    config_fingerprint: str
    baselines: pd.DataFrame  # one row per sensor, see baseline.BASELINE_COLUMNS
    equipment: dict[str, EquipmentModel] = field(default_factory=dict)
    n_readings: int = 0

    @property
    def version(self) -> str:
        """Stable id of this fit: same config, window and data size give the same version."""
        text = f"{self.config_fingerprint}|{self.as_of}|{self.train_start}|{self.train_end}|{self.n_readings}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def metadata(self) -> dict:
        """What an asset materialisation should show about this artifact."""
        return {
            "version": self.version,
            "as_of": str(self.as_of),
            "train_start": str(self.train_start),
            "train_end": str(self.train_end),
            "n_readings": self.n_readings,
            "n_sensors": int(len(self.baselines)),
            "n_equipment_models": len(self.equipment),
            "config_fingerprint": self.config_fingerprint,
        }


def fit_models(
    history: pd.DataFrame,
    config: DetectionConfig | None = None,
    as_of: pd.Timestamp | None = None,
    sensors: pd.DataFrame | None = None,
) -> Models:
    """Learn baselines and equipment models from readings in (as_of - training_window, as_of].

    history: readings (contract columns). as_of: end of the training window (default: the latest
    reading). sensors: optional reference with equipment_id, sensor_id, valid_min, valid_max, sensor_type.
    Only the most recent `max_training_readings` of each sensor are used.
    """
    config = config or DetectionConfig()
    frame = prepare_readings(history)
    if as_of is None:
        as_of = frame["timestamp"].max() if len(frame) else pd.Timestamp.now(tz="UTC")
    as_of = _utc(as_of)
    lo = as_of - config.baseline.training_window
    frame = frame[(frame["timestamp"] > lo) & (frame["timestamp"] <= as_of)]
    frame = frame.groupby(["equipment_id", "sensor_id"], sort=False).tail(config.baseline.max_training_readings)
    frame = frame.reset_index(drop=True)
    equipment = {}
    if config.multivariate.enabled:
        for equipment_id, part in frame.groupby("equipment_id", sort=True):
            model = fit_equipment_model(part, config)
            if model is not None:
                equipment[str(equipment_id)] = model
    return Models(
        as_of=as_of,
        train_start=frame["timestamp"].min() if len(frame) else None,
        train_end=frame["timestamp"].max() if len(frame) else None,
        config_fingerprint=config.fingerprint(),
        baselines=fit_baselines(frame, config, sensors),
        equipment=equipment,
        n_readings=len(frame),
    )


def _utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
