"""What alert validation needs of the scores and of the re-baselines after repairs, and no more (issue 8):
`warmups` gives fit_rebaselines' rows without the fitted baselines (and fit_rebaselines gives what it gave
before the split); validating with the warm-ups of every reset gives what validating with the re-baselines
of the resets near an alert gave; validate_alerts judges the same given only the rows `rows_read` names."""

import dataclasses
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import DetectionConfig, build_alerts, fit_models, score_readings, validate_alerts
from smart_maintenance.detection.readings import KEY
from smart_maintenance.detection.resets import (
    WARMUP_COLUMNS, applicable_resets, baseline_resets, first_readings, fit_rebaselines, warmups,
)  # fmt: skip
from smart_maintenance.detection.validation import rows_read
from smart_maintenance_tests.detection.frames import START, at, plant, split

CONFIG = DetectionConfig()
TYPES = {"vibration": "vibration_rms", "current": "current", "temperature": "temperature"}


def minutes(m: int) -> pd.Timestamp:
    return START + pd.Timedelta(minutes=m)


# pump-1: a repair of the whole equipment and a transmitter replacement at the same minute, then another
# sensor's replacement inside the repair's warm-up. pump-2: a replacement whose warm-up a repair of the
# whole equipment cuts short, and a replacement after the last reading. fan-1: no repair.
EVENTS = pd.DataFrame(
    {
        "equipment_id": ["pump-1", "pump-1", "pump-1", "pump-2", "pump-2", "pump-2"],
        "timestamp": [minutes(2500), minutes(2500), minutes(2550), minutes(2100), minutes(2150), minutes(9000)],
        "event_type": ["corrective_repair", "replacement", "replacement", "replacement", "corrective_repair", "replacement"],
        "sensor_id": [None, "vibration", "current", "temperature", None, "current"],
        "notes": [""] * 6,
    }
)


@pytest.fixture(scope="module")
def case():
    f = plant(n=4000, equipment=("pump-1", "pump-2", "fan-1"), sensors=tuple(TYPES), seed=5)
    f["sensor_type"] = f["sensor_id"].map(TYPES)
    f.loc[at(f, "vibration", 2500, 4000), "value"] += 6.0  # pump-1's new normal after its repair
    f.loc[at(f, "vibration", 2530, 2560), "value"] += 12.0  # bursts inside warm-ups: of a sensor's own reset, ...
    f.loc[at(f, "temperature", 2510, 2530), "value"] += 12.0  # ... of its equipment's ...
    f.loc[at(f, "temperature", 2110, 2130, "pump-2"), "value"] += 12.0  # ... and of one cut short by the next
    f.loc[at(f, "temperature", 3500, 3530, "pump-2"), "value"] += 12.0  # a fault long after pump-2's repairs
    for sensor in ("current", "vibration"):
        f.loc[at(f, sensor, 2900, 2960, "pump-2"), "value"] *= 0.02  # pump-2 stops
    f.loc[at(f, "temperature", 3000, 3030, "fan-1"), "value"] += 12.0
    f = f[~at(f, "temperature", 2600, 2700)].reset_index(drop=True)  # pump-1's temperature silent after the repair
    history, new = split(f, 2000)
    models = fit_models(history, as_of=history["timestamp"].max())
    resets = applicable_resets(baseline_resets(EVENTS, CONFIG), models)
    scores = score_readings(new, history, models, CONFIG, rebaselines=fit_rebaselines(resets, first_readings(f, resets, CONFIG), CONFIG))
    return f, resets, scores, build_alerts(scores, CONFIG)


def test_fit_rebaselines_is_unchanged(case):
    f, resets, _, _ = case
    for loaded in (resets, resets.iloc[[0, 2, 4]], resets.iloc[:0]):  # the assets may read the readings of some only
        found = first_readings(f, loaded, CONFIG)
        pd.testing.assert_frame_equal(fit_rebaselines(resets, found, CONFIG), reference_fit_rebaselines(resets, found, CONFIG))


def test_warmups_are_the_rebaselines_without_their_baselines(case):
    f, resets, _, _ = case
    for loaded in (resets, resets.iloc[[1, 3]]):
        found = first_readings(f, loaded, CONFIG)
        fitted = fit_rebaselines(resets, found, CONFIG)
        pd.testing.assert_frame_equal(warmups(resets, found, CONFIG), fitted[WARMUP_COLUMNS])
    assert len(warmups(resets.iloc[:0], f.iloc[:0], CONFIG)) == 0


def test_the_warmups_of_every_reset_validate_as_the_rebaselines_of_those_near_an_alert(case):
    f, resets, scores, alerts = case
    before = []  # the alerts asset before issue 8: one equipment at a time, re-baselines read for resets near an alert
    for equipment_id, mine in alerts.groupby("equipment_id", sort=True):
        own = resets[resets["equipment_id"] == equipment_id]
        near = [any(((mine["sensor_id"] == r.sensor_id) | (not isinstance(r.sensor_id, str))) & (mine["started_at"] >= r.reset_at)
                    & (mine["started_at"] <= r.reset_at + CONFIG.resets.max_duration))
                for r in own.itertuples(index=False)]
        rebaselines = fit_rebaselines(own, first_readings(f, own[near], CONFIG), CONFIG) if len(own) else None
        before.append(validate_alerts(mine, scores[scores["equipment_id"] == equipment_id], EVENTS, CONFIG, rebaselines))
    before = pd.concat(before, ignore_index=True)
    now = validate_alerts(alerts, scores, EVENTS, CONFIG, warmups(resets, first_readings(f, resets, CONFIG), CONFIG))
    pd.testing.assert_frame_equal(now, before)
    assert now["validation_reasons"].str.contains("baseline warm-up").sum() >= 3
    assert now["validation_reasons"].str.contains("equipment stopped").any()


@pytest.mark.parametrize("variant", ["default", "wide", "long_margin"])
def test_validation_reads_only_the_rows_it_names(case, variant):
    _, resets, scores, alerts = case
    v = CONFIG.validation
    v = {"default": v, "wide": dataclasses.replace(v, corroboration_window=timedelta(hours=2)),
         "long_margin": dataclasses.replace(v, state_margin=timedelta(hours=3))}[variant]
    config = dataclasses.replace(CONFIG, validation=v)
    windows, load_types = rows_read(alerts, config)
    assert len(windows) == len(alerts)
    read = scores["sensor_type"].isin(load_types).to_numpy().copy()
    for w in windows.itertuples(index=False):
        read |= ((scores["equipment_id"] == w.equipment_id) & (scores["sensor_id"] == w.sensor_id)
                 & scores["timestamp"].between(w.start, w.end)).to_numpy()
    assert read.mean() < 0.5
    rebaselines = fit_rebaselines(resets, first_readings(case[0], resets, CONFIG), CONFIG)
    pd.testing.assert_frame_equal(validate_alerts(alerts, scores[read], EVENTS, config, rebaselines),
                                  validate_alerts(alerts, scores, EVENTS, config, rebaselines))


# --- reference: fit_rebaselines before warmups was split out of it, copied as it was -------------------------


def reference_fit_rebaselines(resets, first_readings, config):
    from smart_maintenance.detection.resets import REBASELINE_COLUMNS, _matching, _stats

    cfg = config.resets
    if resets is None or len(resets) == 0:
        return pd.DataFrame(columns=REBASELINE_COLUMNS)
    rows = []
    found = first_readings.groupby(["equipment_id", "sensor_id", "reset_at"], sort=False) if len(first_readings) else None
    groups = found.indices if found is not None else {}
    by_reset: dict[tuple, list[str]] = {}
    for eq, sensor, at_ in groups:
        by_reset.setdefault((eq, at_), []).append(sensor)
    for reset in resets.itertuples(index=False):
        sensors = [reset.sensor_id] if isinstance(reset.sensor_id, str) else sorted(by_reset.get((reset.equipment_id, reset.reset_at), []))
        for sensor in sensors:
            later = _matching(resets, reset.equipment_id, sensor)["reset_at"]
            end = min([t for t in later if t > reset.reset_at] + [reset.reset_at + cfg.max_duration])
            idx = groups.get((reset.equipment_id, sensor, reset.reset_at))
            readings = first_readings.iloc[idx] if idx is not None else first_readings.iloc[:0]
            readings = readings[readings["timestamp"] < end].sort_values("timestamp").head(cfg.readings)
            complete_at = readings["timestamp"].iat[-1] if len(readings) == cfg.readings else end
            rows.append({"equipment_id": reset.equipment_id, "sensor_id": sensor, "reset_at": reset.reset_at,
                         "event_type": reset.event_type, "complete_at": complete_at, **_stats(readings, config)})
        if not isinstance(reset.sensor_id, str):
            rows.append({"equipment_id": reset.equipment_id, "sensor_id": None, "reset_at": reset.reset_at,
                         "event_type": reset.event_type, "complete_at": reset.reset_at + cfg.max_duration,
                         **_stats(first_readings.iloc[:0], config)})
    out = pd.DataFrame(rows, columns=REBASELINE_COLUMNS)
    out = out.astype({"equipment_id": object, "sensor_id": object, "event_type": object})
    for col in ("reset_at", "complete_at"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.as_unit("us")
    return out


def test_the_case_has_what_the_rules_look_at(case):
    """Every kind of reset row the rules distinguish: a sensor's own, a whole equipment's (with rows of its
    sensors and its sensor_id None row), a warm-up cut short by a later reset, one without readings."""
    f, resets, _, _ = case
    fitted = fit_rebaselines(resets, first_readings(f, resets, CONFIG), CONFIG)
    assert fitted["sensor_id"].isna().sum() == 2 and (fitted["n"] == CONFIG.resets.readings).sum() >= 4
    cut = fitted[(fitted["equipment_id"] == "pump-2") & (fitted["sensor_id"] == "temperature")].iloc[0]
    assert cut["complete_at"] == minutes(2150) and 0 < cut["n"] < CONFIG.resets.readings
    assert (fitted["reset_at"] == minutes(9000)).any() and np.isnan(fitted.loc[fitted["reset_at"] == minutes(9000), "center"]).all()
    assert set(fitted["equipment_id"]) == {"pump-1", "pump-2"} and KEY == ["equipment_id", "sensor_id"]
