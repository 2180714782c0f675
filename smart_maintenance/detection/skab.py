"""SKAB (Skoltech Anomaly Benchmark) loader and evaluation driver.

Each experiment CSV is one equipment run (8 sensors at 1 Hz). The label columns `anomaly` and
`changepoint` are split off on load and never reach the detector. Protocol (as SKAB's published
methods): the first `warmup_rows` rows of each run are its normal history — models are fitted on them
(causal: they precede every scored reading) and they count as predicted normal; the rest is scored
causally with `score_readings`, in micro-batches of `batch_rows` if given. A time step is anomalous when
any of its readings is. One configuration for the whole dataset; metrics over all runs concatenated.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.metrics import event_detections, event_summary, point_metrics
from smart_maintenance.detection.models import fit_models
from smart_maintenance.detection.scoring import score_readings

LABEL_COLUMNS = ("anomaly", "changepoint")
SENSOR_TYPES = {
    "Accelerometer1RMS": "vibration",
    "Accelerometer2RMS": "vibration",
    "Current": "current",
    "Pressure": "pressure",
    "Temperature": "temperature",
    "Thermocouple": "temperature",
    "Voltage": "voltage",
    "Volume Flow RateRMS": "flow",
}


def experiment_files(skab_dir: Path) -> list[Path]:
    """The labelled experiments (anomaly-free/ excluded), in a fixed order."""
    skab_dir = Path(skab_dir)
    files = [p for p in sorted(skab_dir.glob("*/*.csv")) if p.parent.name != "anomaly-free"]
    if not files:
        raise FileNotFoundError(f"no SKAB experiment files under {skab_dir}")
    return files


def load_experiment(path: Path, equipment_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(readings in long form, labels per time step). Naive local times are read as UTC."""
    path = Path(path)
    raw = pd.read_csv(path, sep=";")
    ts = pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC").dt.as_unit("us")
    equipment_id = equipment_id or f"{path.parent.name}/{path.stem}"
    sensors = [c for c in raw.columns if c != "datetime" and c not in LABEL_COLUMNS]
    wide = raw[sensors].assign(timestamp=ts)
    long = wide.melt(id_vars="timestamp", var_name="sensor_id", value_name="value")
    long.insert(1, "equipment_id", equipment_id)
    long["sensor_type"] = long["sensor_id"].map(SENSOR_TYPES)
    labels = pd.DataFrame({"timestamp": ts})
    for col in LABEL_COLUMNS:
        if col in raw:
            labels[col] = raw[col].fillna(0).astype(int).to_numpy()
    return long, labels


def evaluate_experiment(path: Path, config: DetectionConfig, warmup_rows: int = 400, batch_rows: int | None = None) -> dict:
    readings, labels = load_experiment(path)
    cut = labels["timestamp"].iloc[min(warmup_rows, len(labels)) - 1]
    history = readings[readings["timestamp"] <= cut]
    rest = readings[readings["timestamp"] > cut]
    models = fit_models(history, config, as_of=cut)
    started = time.perf_counter()
    if batch_rows:
        steps = np.sort(rest["timestamp"].unique())
        parts = []
        for i in range(0, len(steps), batch_rows):
            lo, hi = steps[i], steps[min(i + batch_rows, len(steps)) - 1]
            batch = rest[(rest["timestamp"] >= lo) & (rest["timestamp"] <= hi)]
            parts.append(score_readings(batch, readings[readings["timestamp"] < lo], models, config))
        scores = pd.concat(parts, ignore_index=True)
    else:
        scores = score_readings(rest, history, models, config)
    elapsed = time.perf_counter() - started
    per_step = scores.groupby("timestamp")["is_anomaly"].any()
    predicted = labels["timestamp"].map(per_step).fillna(False).astype(bool).to_numpy()
    return {
        "file": f"{Path(path).parent.name}/{Path(path).name}",
        "labels": labels,
        "predicted": predicted,
        "scores": scores,
        "seconds": elapsed,
    }


def evaluate_skab(skab_dir: Path, config: DetectionConfig | None = None, warmup_rows: int = 400, batch_rows: int | None = None) -> dict:
    """Point and event metrics over all SKAB experiments concatenated (outlier task).

    Returns {"point": {precision, recall, f1, far, mar, tp, fp, fn, tn}, "event": {events,
    events_detected, event_recall, mean_delay_s, median_delay_s}, "per_experiment": [...],
    "readings_scored", "readings_per_second", "settings"}.
    """
    config = config or DetectionConfig()
    runs = [evaluate_experiment(p, config, warmup_rows, batch_rows) for p in experiment_files(skab_dir)]
    y = np.concatenate([r["labels"]["anomaly"].to_numpy() for r in runs])
    p = np.concatenate([r["predicted"] for r in runs])
    detections = pd.concat(
        [event_detections(r["labels"]["timestamp"], r["labels"]["anomaly"], r["predicted"]).assign(file=r["file"]) for r in runs],
        ignore_index=True,
    )
    per_experiment = []
    for r in runs:
        m = point_metrics(r["labels"]["anomaly"], r["predicted"])
        per_experiment.append({"file": r["file"], **{k: m[k] for k in ("f1", "far", "mar", "tp", "fp", "fn")}})
    scored = sum(len(r["scores"]) for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    return {
        "point": point_metrics(y, p),
        "event": event_summary(detections),
        "per_experiment": per_experiment,
        "readings_scored": scored,
        "readings_per_second": scored / seconds if seconds else float("nan"),
        "settings": {"warmup_rows": warmup_rows, "batch_rows": batch_rows, "config": config.fingerprint()},
    }
