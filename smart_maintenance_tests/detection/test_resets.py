"""Baselines restart after a repair (issue 5): the new normal stops alerting after the warm-up, a real
fault after the repair is still found, later models learn only from after the repair, and scores stay
causal (one call = micro-batches)."""

import dataclasses
import itertools
import pickle
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from smart_maintenance.detection import DetectionConfig, build_alerts, fit_models, score_readings, validate_alerts
from smart_maintenance.detection.resets import applicable_resets, baseline_resets, first_readings, fit_rebaselines
from smart_maintenance_tests.detection.frames import START, at, plant, split

CONFIG = DetectionConfig()
REPAIR = 3000  # minute of the repair: vibration and current settle at a new normal
FAULT = 5000  # minute of a real fault after the repair: vibration jumps for 30 minutes
REPAIRED_AT = START + pd.Timedelta(minutes=REPAIR)


def minute(frame: pd.DataFrame) -> pd.Series:
    return ((frame["timestamp"] - START) / pd.Timedelta("1min")).astype(int)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    f = plant(n=6000, seed=1)
    f.loc[at(f, "vibration", REPAIR, 6000), "value"] += 6.0  # a new bearing: another level
    f.loc[at(f, "current", REPAIR, 6000), "value"] -= 5.0
    f.loc[at(f, "vibration", FAULT, FAULT + 30), "value"] += 12.0
    return f


def events(kind: str = "corrective_repair", notes: str = "repaired bearing wear; back in service") -> pd.DataFrame:
    return pd.DataFrame(
        {"equipment_id": ["pump-1"], "timestamp": [REPAIRED_AT], "event_type": [kind], "notes": [notes]}
    )


def rebaselines(frame, resets, models, config=CONFIG):
    """What the anomaly_scores asset reads from the lake: the first readings after each applicable reset."""
    applicable = applicable_resets(resets, models)
    return fit_rebaselines(applicable, first_readings(frame, applicable, config), config)


@pytest.fixture(scope="module")
def models(frame):
    history, _ = split(frame, 2000)
    return fit_models(history, as_of=history["timestamp"].max())


def test_repair_events_reset_the_sensors_they_name_else_the_whole_equipment():
    sensors = pd.DataFrame({"equipment_id": ["pump-1"] * 3, "sensor_id": ["vib", "temp", "flow"]})
    log = pd.DataFrame(
        {
            "equipment_id": ["pump-1"] * 5,
            "timestamp": pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC"),
            "event_type": ["corrective_repair", "replacement", "inspection", "failure", "Replacement"],
            "notes": [
                "repaired bearing wear",
                "replaced vib transmitter: reading was frozen",
                "vib noisy",
                None,
                "new temp and flow probes (vibration unchanged)",
            ],
        }
    )
    resets = baseline_resets(log, CONFIG, sensors)
    named = lambda r: r.sensor_id if isinstance(r.sensor_id, str) else None  # None: the whole equipment
    assert [(named(r), r.event_type) for r in resets.itertuples()] == [
        (None, "corrective_repair"),
        ("vib", "replacement"),
        ("flow", "replacement"),
        ("temp", "replacement"),
    ]
    explicit = log.assign(sensor_id=[None, "temp; flow", None, None, None])  # a sensor_id column names them too
    assert list(baseline_resets(explicit, CONFIG, sensors)["sensor_id"].iloc[1:3]) == ["flow", "temp"]
    assert (
        len(
            baseline_resets(log, dataclasses.replace(CONFIG, resets=dataclasses.replace(CONFIG.resets, event_types=())))
        )
        == 0
    )


def test_without_a_reset_the_new_normal_keeps_alerting_with_it_only_the_real_fault_does(frame, models):
    history, new = split(frame, 2000)
    warm_end = REPAIR + CONFIG.resets.readings

    before = score_readings(new, history, models)
    normal = (minute(before) >= warm_end) & ~minute(before).between(
        FAULT, FAULT + 60
    )  # after the warm-up, not the fault
    assert before.loc[normal & (before["sensor_id"] == "vibration"), "is_anomaly"].mean() > 0.9
    stale = validate_alerts(build_alerts(before), before, events())
    assert (stale["ended_at"] - stale["started_at"]).max() > pd.Timedelta(days=1)  # it keeps alerting for days

    resets = baseline_resets(events(), CONFIG)
    rb = rebaselines(frame, resets, models)
    after = score_readings(new, history, models, rebaselines=rb)
    assert after.loc[normal, "is_anomaly"].sum() == 0  # the new normal is normal, for every detector
    fault = (after["sensor_id"] == "vibration") & minute(after).between(FAULT, FAULT + 29)
    assert after.loc[fault, "is_anomaly"].all()
    alerts = validate_alerts(build_alerts(after), after, events(), CONFIG, rb)
    assert len(alerts) == 1 and alerts["sensor_id"].item() == "vibration"
    assert alerts["started_at"].item() == START + pd.Timedelta(minutes=FAULT)
    assert alerts["validation_status"].item() == "credible"
    # Before the repair nothing changed, and the re-baselined rows say so in their model version.
    early = minute(after) < REPAIR
    pd.testing.assert_frame_equal(after[early].reset_index(drop=True), before[early].reset_index(drop=True))
    assert (after.loc[~early, "model_version"] != models.version).all()


def test_an_alert_in_the_warm_up_carries_the_after_maintenance_status(frame, models):
    burst = frame.copy()
    burst.loc[at(burst, "vibration", REPAIR + 40, REPAIR + 70), "value"] += 12.0  # inside the warm-up
    history, new = split(burst, 2000)
    # Only the warm-up rule: the generic "maintenance in the last 24 h" window is switched off.
    config = dataclasses.replace(
        CONFIG, validation=dataclasses.replace(CONFIG.validation, maintenance_window=timedelta(0))
    )
    rb = rebaselines(burst, baseline_resets(events(), config), models, config)
    scores = score_readings(new, history, models, config, rebaselines=rb)
    alerts = validate_alerts(build_alerts(scores, config), scores, events(), config, rb)
    warm = alerts[alerts["started_at"] < REPAIRED_AT + pd.Timedelta(minutes=100)]
    assert len(warm) >= 1
    assert (warm["validation_status"] == "needs_investigation").all()
    assert warm["validation_reasons"].str.contains("baseline warm-up after corrective_repair").all()
    later = alerts[alerts["started_at"] >= START + pd.Timedelta(minutes=FAULT)]
    assert later["validation_status"].tolist() == ["credible"]


@pytest.mark.parametrize("cuts", [[2999, 3000, 3001, 3050, 3099, 3100, 3101, 3400, 5010], list(range(2100, 6000, 173))])
def test_scores_with_a_reset_are_the_same_in_one_call_or_in_micro_batches(frame, models, cuts):
    resets = baseline_resets(events(), CONFIG)
    history, new = split(frame, 2000)
    whole = score_readings(new, history, models, rebaselines=rebaselines(frame, resets, models))
    parts = []
    bounds = [2000] + cuts + [10_000]
    for lo, hi in itertools.pairwise(bounds):
        earlier, rest = split(frame, lo)
        batch, _ = split(rest, hi)
        known, _ = split(frame, hi)  # the lake holds what arrived so far: re-baselines from that only
        if len(batch):
            parts.append(score_readings(batch, earlier, models, rebaselines=rebaselines(known, resets, models)))
    chunked = (
        pd.concat(parts, ignore_index=True)
        .sort_values(["equipment_id", "sensor_id", "timestamp"])
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(whole, chunked, check_exact=True)


def test_history_beyond_the_look_back_changes_nothing_with_a_reset(frame, models):
    rb = rebaselines(frame, baseline_resets(events(), CONFIG), models)
    history, new = split(frame, 3500)  # scoring starts after the warm-up: the frozen re-baseline holds
    short = history.sort_values("timestamp").groupby(["equipment_id", "sensor_id"]).tail(CONFIG.lookback_readings)
    pd.testing.assert_frame_equal(
        score_readings(new, history, models, rebaselines=rb),
        score_readings(new, short, models, rebaselines=rb),
        check_exact=True,
    )


def test_later_models_learn_only_from_readings_after_the_repair(frame):
    resets = baseline_resets(events(), CONFIG)
    history, _ = split(frame, 4500)
    as_of = history["timestamp"].max()
    mixed = fit_models(history, as_of=as_of)
    clean = fit_models(history, as_of=as_of, resets=resets)
    center = lambda m: m.baselines.set_index("sensor_id").loc["vibration", "center"]
    assert center(mixed) < 52  # mostly the old level: it would alert on the new one
    assert center(clean) == pytest.approx(56, abs=0.5)
    assert clean.baselines.set_index("sensor_id").loc["vibration", "first_timestamp"] == REPAIRED_AT
    assert clean.equipment["pump-1"].train_start == REPAIRED_AT
    assert clean.version != mixed.version and clean.pending_resets is None
    copy = pickle.loads(pickle.dumps(clean))
    assert copy.version == clean.version


@pytest.mark.parametrize("after", [40, 400])  # readings after the repair: too few, or less than a day of them
def test_too_few_readings_after_the_repair_leave_it_pending_and_the_scoring_carries_it_on(frame, after):
    resets = baseline_resets(events(), CONFIG)
    history, new = split(frame, REPAIR + after)  # what the next model is fitted on
    models = fit_models(history, as_of=history["timestamp"].max(), resets=resets)
    pending = models.pending_resets
    assert sorted(pending["sensor_id"]) == ["current", "temperature", "vibration"]
    # The model keeps what it knew before the repair (level and spread), as in the week of the repair...
    assert models.baselines.set_index("sensor_id").loc["vibration", "center"] == pytest.approx(50, abs=0.5)
    assert len(applicable_resets(resets, models)) == 3  # ...and the scoring applies the pending resets...
    rb = rebaselines(frame, resets, models)
    scores = score_readings(new, history, models, rebaselines=rb)
    normal = ~minute(scores).between(FAULT, FAULT + 60)
    assert scores.loc[normal, "is_anomaly"].sum() == 0  # ...so the new normal does not alert
    assert scores.loc[
        (scores["sensor_id"] == "vibration") & minute(scores).between(FAULT, FAULT + 29), "is_anomaly"
    ].all()
    without = score_readings(new, history, models)  # without them, the old normal: alerts all along
    assert without.loc[normal & (without["sensor_id"] == "vibration"), "is_anomaly"].mean() > 0.9


def test_a_replacement_naming_one_sensor_resets_only_it(frame, models):
    replaced = frame.copy()
    replaced.loc[at(replaced, "current", REPAIR, 6000), "value"] += 5.0  # undo: only vibration moved
    sensors = pd.DataFrame({"equipment_id": ["pump-1"] * 3, "sensor_id": ["vibration", "current", "temperature"]})
    log = events("replacement", "replaced vibration transmitter: reading was frozen")
    resets = baseline_resets(log, CONFIG, sensors)
    assert resets["sensor_id"].tolist() == ["vibration"]
    history, new = split(replaced, 2000)
    scores = score_readings(new, history, models, rebaselines=rebaselines(replaced, resets, models))
    moved = scores["sensor_id"] == "vibration"
    assert (scores.loc[moved & (minute(scores) >= REPAIR), "model_version"] != models.version).all()
    assert (scores.loc[~moved, "model_version"] == models.version).all()
    normal = (minute(scores) >= REPAIR + 100) & ~minute(scores).between(FAULT, FAULT + 60)
    assert scores.loc[normal, "is_anomaly"].sum() == 0


def test_a_replaced_transmitter_that_reads_as_before_keeps_the_fitted_baseline(models):
    same = plant(n=6000, seed=1)  # no new normal: the replaced transmitter reads like the old one
    log = events("replacement", "replaced vibration transmitter")
    resets = baseline_resets(log, CONFIG, same[["equipment_id", "sensor_id"]].drop_duplicates())
    history, new = split(same, 2000)
    with_reset = score_readings(new, history, models, rebaselines=rebaselines(same, resets, models))
    without = score_readings(new, history, models)
    assert with_reset["is_anomaly"].sum() == 0
    # After the warm-up and the smoothing window, the univariate detectors judge as if nothing happened.
    settled = (with_reset["sensor_id"] == "vibration") & (minute(with_reset) >= REPAIR + 100 + 30)
    for column in ("score_deviation", "score_rate_of_change", "score_stuck", "score_gap"):
        pd.testing.assert_series_equal(with_reset.loc[settled, column], without.loc[settled, column])


def test_scoring_without_resets_is_unchanged_by_an_empty_table(frame, models):
    history, new = split(frame, 2000)
    empty = fit_rebaselines(applicable_resets(baseline_resets(None, CONFIG), models), frame.iloc[:0], CONFIG)
    pd.testing.assert_frame_equal(
        score_readings(new, history, models), score_readings(new, history, models, rebaselines=empty)
    )
    assert np.all(score_readings(new, history, models)["model_version"] == models.version)
