"""The fast build_alerts, validate_alerts and in_warmup (issue 8: sorted arrays cut with searchsorted instead
of one pandas filter per alert) give exactly what the straightforward per-alert versions gave, on a
small plant with every kind of evidence: maintenance events (two at the same minute), a repair with its
warm-up, load sensors at idle, corroborated and lone episodes, stuck values, dropouts and missing values."""

import dataclasses
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import DetectionConfig, build_alerts, fit_models, score_readings, validate_alerts
from smart_maintenance.detection.readings import KEY
from smart_maintenance.detection.resets import (
    applicable_resets, baseline_resets, first_readings, fit_rebaselines, in_warmup,
)  # fmt: skip
from smart_maintenance.detection.validation import SENSOR_FAULT_DETECTORS, _events
from smart_maintenance_tests.detection.frames import START, at, plant, split

CONFIG = DetectionConfig()
EQUIPMENT = ("pump-1", "pump-2", "fan-1")
SENSORS = ("vibration", "current", "temperature", "speed")
TYPES = {"vibration": "vibration_rms", "current": "current", "temperature": "temperature", "speed": "speed"}


def minutes(m: int) -> pd.Timestamp:
    return START + pd.Timedelta(minutes=m)


@pytest.fixture(scope="module")
def case():
    f = plant(n=5000, equipment=EQUIPMENT, sensors=SENSORS, seed=3)
    f["sensor_type"] = f["sensor_id"].map(TYPES)
    f.loc[at(f, "vibration", 3000, 5000), "value"] += 6.0  # pump-1 repaired at 3000: a new normal
    f.loc[at(f, "vibration", 3040, 3070), "value"] += 12.0  # a burst inside its warm-up
    f.loc[at(f, "vibration", 4200, 4260), "value"] += 12.0  # a real fault after it
    f.loc[at(f, "temperature", 2500, 2530), "value"] += 12.0  # a lone persistent episode
    for sensor in ("vibration", "current"):  # a corroborated episode, and a one-off blip on both
        f.loc[at(f, sensor, 2200, 2300, "pump-2"), "value"] += 6.0
        f.loc[at(f, sensor, 3333, equipment="pump-2"), "value"] += 15.0
    for sensor in ("current", "speed"):  # pump-2 stops: its load sensors at idle
        f.loc[at(f, sensor, 3800, 3900, "pump-2"), "value"] *= 0.02
    f.loc[at(f, "vibration", 3800, 3900, "pump-2"), "value"] *= 0.05
    f.loc[at(f, "current", 2600, 2640, "fan-1"), "value"] = 61.234  # stuck
    f.loc[at(f, "temperature", 4000, 4030, "fan-1"), "value"] = np.nan  # missing values ...
    f = f[~at(f, "speed", 4400, 4460, "fan-1")]  # ... and a dropout
    for m in (2700, 2702, 2707, 4700):  # lone blips
        f.loc[at(f, "temperature", m, equipment="fan-1"), "value"] += 15.0
    f = f.reset_index(drop=True)
    events = pd.DataFrame(
        {
            "equipment_id": ["pump-1", "pump-2", "pump-2", "fan-1", "fan-1", "pump-1"],
            "timestamp": [minutes(3000), minutes(2150), minutes(2150), minutes(2580), minutes(4350), minutes(1000)],
            "event_type": ["corrective_repair", "inspection", "lubrication", "inspection", "calibration", "inspection"],
            "notes": ["replaced bearing", "", "", "", "", ""],
        }
    )
    history, new = split(f, 2000)
    models = fit_models(history, as_of=history["timestamp"].max())
    resets = applicable_resets(baseline_resets(events[events["equipment_id"] == "pump-1"].iloc[:1], CONFIG), models)
    rebaselines = fit_rebaselines(resets, first_readings(f, resets, CONFIG), CONFIG)
    scores = score_readings(new, history, models, CONFIG, rebaselines=rebaselines)
    return scores, events, rebaselines


def test_build_alerts_is_unchanged(case):
    scores, _, _ = case
    equipment = pd.DataFrame({"equipment_id": ["pump-1", "fan-1"], "criticality": ["critical", "low"]})
    for s in (scores, scores.sample(frac=1.0, random_state=0)):
        pd.testing.assert_frame_equal(build_alerts(s, CONFIG, equipment), reference_build_alerts(s, CONFIG, equipment))


def exact_gap(alerts: pd.DataFrame) -> timedelta:
    """The gap between two alerts of different sensors of one equipment: a window ending right on one."""
    for _, mine in alerts.groupby("equipment_id"):
        for x in mine.itertuples():
            later = mine[(mine["sensor_id"] != x.sensor_id) & (mine["started_at"] > x.ended_at)]
            if len(later):
                return (later["started_at"].min() - x.ended_at).to_pytimedelta()
    raise AssertionError("no two sensors alerting apart")


@pytest.mark.parametrize("variant", ["default", "wide", "exact_gap", "all_idle", "long_margin"])
def test_validate_alerts_is_unchanged(case, variant):
    scores, events, rebaselines = case
    alerts = build_alerts(scores)
    v = CONFIG.validation
    v = {
        "default": v,
        "wide": dataclasses.replace(v, corroboration_window=timedelta(hours=2)),
        "exact_gap": dataclasses.replace(v, corroboration_window=exact_gap(alerts)),
        "all_idle": dataclasses.replace(v, stopped_share=1.0),
        "long_margin": dataclasses.replace(v, state_margin=timedelta(hours=3)),
    }[variant]
    config = dataclasses.replace(CONFIG, validation=v)
    # Events right on the bounds of the maintenance window: a window before pump-2's last temperature alert,
    # at the start of fan-1's (the last alerts of the equipment: the others keep their latest event).
    last = alerts[alerts["sensor_id"] == "temperature"].groupby("equipment_id").tail(1).set_index("equipment_id")["started_at"]
    events = pd.concat(
        [events, pd.DataFrame({"equipment_id": ["pump-2", "fan-1"], "timestamp": [last["pump-2"] - v.maintenance_window, last["fan-1"]],
                               "event_type": ["window_start", "at_start"]})],
        ignore_index=True,
    )
    expected = reference_validate_alerts(alerts, scores, events, config, rebaselines)
    pd.testing.assert_frame_equal(validate_alerts(alerts, scores, events, config, rebaselines), expected)
    if variant == "default":  # the plant gives every kind of evidence, and every status
        for kind in ("baseline warm-up", "h after inspection", "h after lubrication", "24.0 h after window_start", "0.0 h after at_start",
                     "poor data", "equipment stopped", "corroborated by", "not corroborated", "sensor suspect", "transient", "persistent"):
            assert expected["validation_reasons"].str.contains(kind).any(), kind
        assert set(expected["validation_status"]) == {"credible", "needs_investigation", "suspected_false_positive"}
    # Without events, re-baselines or scores: the same too.
    pd.testing.assert_frame_equal(validate_alerts(alerts, scores, None, config), reference_validate_alerts(alerts, scores, None, config))
    no_scores = scores.iloc[:0]
    pd.testing.assert_frame_equal(validate_alerts(alerts, no_scores, events, config), reference_validate_alerts(alerts, no_scores, events, config))
    no_time = scores.assign(timestamp=scores["timestamp"].where(np.arange(len(scores)) % 7 > 0))  # some NaT
    pd.testing.assert_frame_equal(validate_alerts(alerts, no_time, events, config), reference_validate_alerts(alerts, no_time, events, config))
    empty = alerts.iloc[:0]
    pd.testing.assert_frame_equal(validate_alerts(empty, scores, events, config), reference_validate_alerts(empty, scores, events, config))


def test_in_warmup_is_unchanged(case):
    scores, _, rebaselines = case
    alerts = build_alerts(scores)
    row = rebaselines.iloc[0]
    more = pd.DataFrame(  # whole-equipment rows, one at the time of a sensor's own; two at the same time
        [
            row.to_dict() | {"sensor_id": None, "reset_at": minutes(3000), "complete_at": minutes(3300)},
            row.to_dict() | {"sensor_id": None, "reset_at": minutes(4100), "event_type": "replacement", "complete_at": minutes(4300)},
            row.to_dict() | {"sensor_id": None, "reset_at": minutes(4100), "event_type": "overhaul", "complete_at": minutes(4300)},
            row.to_dict() | {"sensor_id": "temperature", "reset_at": minutes(2400), "complete_at": pd.NaT},
            row.to_dict() | {"equipment_id": "pump-2", "sensor_id": "current", "reset_at": minutes(2100), "complete_at": minutes(2250)},
        ]
    )
    table = pd.concat([rebaselines, more], ignore_index=True)
    table.index = table.index * 10 + 7  # rows keep their labels
    for rb in (rebaselines, table, table.iloc[::-1]):
        got, expected = in_warmup(alerts, rb), reference_in_warmup(alerts, rb)
        assert [w is None for w in got] == [w is None for w in expected]
        assert any(w is not None for w in expected)
        for g, e in zip(got, expected):
            if e is not None:
                pd.testing.assert_series_equal(g, e)


# --- reference: the per-alert implementations before issue 8, copied as they were -------------------------


def reference_build_alerts(scores, config, equipment=None):
    from smart_maintenance.detection.alerts import ALERT_COLUMNS, _union, alert_id, severity

    s = scores.sort_values(KEY + ["timestamp"], kind="stable").reset_index(drop=True)
    last_of_sensor = s.groupby(KEY, sort=False)["timestamp"].transform("max")
    a = s[s["is_anomaly"].to_numpy()].copy()
    if len(a) == 0:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    a["_last"] = last_of_sensor[a.index].to_numpy()
    same_sensor = (a["equipment_id"].eq(a["equipment_id"].shift()) & a["sensor_id"].eq(a["sensor_id"].shift())).to_numpy()
    close = (a["timestamp"] - a["timestamp"].shift()).to_numpy() <= np.timedelta64(config.alerts.max_gap)
    a["_episode"] = np.cumsum(~(same_sensor & close))
    grouped = a.groupby("_episode", sort=True)
    alerts = grouped.agg(
        equipment_id=("equipment_id", "first"),
        sensor_id=("sensor_id", "first"),
        started_at=("timestamp", "min"),
        ended_at=("timestamp", "max"),
        n_readings=("timestamp", "size"),
        peak_score=("anomaly_score", "max"),
        mean_score=("anomaly_score", "mean"),
        _last=("_last", "first"),
    ).reset_index(drop=True)
    alerts["detectors_fired"] = grouped["detectors_fired"].agg(_union).to_numpy()
    alerts["is_open"] = alerts["ended_at"] == alerts["_last"]
    alerts["alert_id"] = [alert_id(e, s_, t) for e, s_, t in zip(alerts["equipment_id"], alerts["sensor_id"], alerts["started_at"])]
    alerts["severity"] = severity(alerts, config, equipment)
    return alerts[ALERT_COLUMNS]


def reference_in_warmup(alerts, rebaselines):
    out = [None] * len(alerts)
    if rebaselines is None or len(rebaselines) == 0 or len(alerts) == 0:
        return out
    for i, a in enumerate(alerts[["equipment_id", "sensor_id", "started_at"]].itertuples(index=False)):
        own = rebaselines[(rebaselines["equipment_id"] == a.equipment_id) & (rebaselines["sensor_id"] == a.sensor_id)]
        whole = rebaselines[
            (rebaselines["equipment_id"] == a.equipment_id)
            & rebaselines["sensor_id"].isna()
            & ~rebaselines["reset_at"].isin(own["reset_at"])
        ]
        candidates = pd.concat([own, whole])
        candidates = candidates[candidates["reset_at"] <= a.started_at]
        if len(candidates):
            latest = candidates.sort_values("reset_at", kind="stable").iloc[-1]
            if a.started_at <= latest["complete_at"]:
                out[i] = latest
    return out


def reference_validate_alerts(alerts, scores, maintenance_events=None, config=None, rebaselines=None):
    config = config or DetectionConfig()
    cfg = config.validation
    out = alerts.copy().reset_index(drop=True)
    statuses, reasons_col, faults, corroborating, quality = [], [], [], [], []
    by_sensor = {k: g for k, g in scores.groupby(KEY, sort=False)} if len(scores) else {}
    load = _reference_load_readings(scores, cfg)
    events = _events(maintenance_events)
    warmups = reference_in_warmup(out, rebaselines)
    for row, warmup in zip(out.itertuples(index=False), warmups):
        reasons = []
        fired = set(filter(None, str(row.detectors_fired).split(";")))
        fault_kinds = [label for det, label in SENSOR_FAULT_DETECTORS.items() if det in fired]
        others = out[
            (out["equipment_id"] == row.equipment_id)
            & (out["sensor_id"] != row.sensor_id)
            & (out["started_at"] <= row.ended_at + cfg.corroboration_window)
            & (out["ended_at"] >= row.started_at - cfg.corroboration_window)
        ]["sensor_id"]
        others = sorted(set(others))
        q = _reference_quality(by_sensor.get((row.equipment_id, row.sensor_id)), row, cfg)
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
        stopped = _reference_stopped(load.get(row.equipment_id), row, cfg)
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
            status = "needs_investigation"
        elif fault_kinds:
            status = "suspected_false_positive"
        elif len(recent) or warmup is not None or q < cfg.min_data_quality:
            status = "needs_investigation"
        elif others and persistent:
            status = "credible"
        elif others:
            status = "needs_investigation"
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


def _reference_load_readings(scores, cfg):
    if len(scores) == 0 or "sensor_type" not in scores:
        return {}
    load = scores[scores["sensor_type"].isin(cfg.load_sensor_types)][["equipment_id", "sensor_id", "timestamp", "value"]]
    if len(load) == 0:
        return {}
    load = load.assign(typical=load.groupby(["equipment_id", "sensor_id"])["value"].transform("median"))
    return {k: g for k, g in load.groupby("equipment_id", sort=False)}


def _reference_stopped(load, row, cfg):
    if load is None:
        return ""
    window = load[(load["timestamp"] >= row.started_at - cfg.state_margin) & (load["timestamp"] <= row.ended_at)]
    window = window[window["typical"].abs() > 0]
    if len(window) == 0:
        return ""
    idle = window["value"].abs() <= cfg.idle_fraction * window["typical"].abs()
    share = idle.groupby(window["sensor_id"]).mean()
    return ", ".join(sorted(share[share >= cfg.stopped_share].index)) if (share >= cfg.stopped_share).any() else ""


def _reference_quality(sensor_scores, row, cfg):
    if sensor_scores is None:
        return 1.0
    ts = sensor_scores["timestamp"]
    window = sensor_scores[(ts >= row.started_at - cfg.corroboration_window) & (ts <= row.ended_at)]
    if len(window) == 0:
        return 1.0
    ok = window["value"].notna().to_numpy() & (window["score_gap"].to_numpy() < 0.5)
    return float(np.mean(ok))

