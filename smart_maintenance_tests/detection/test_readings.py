"""The readings contract: text columns read from the lake (pandas' Arrow-backed strings) are kept as they
are, and give the same prepared frame, sensor groups, scores and checks as plain Python strings."""

import numpy as np
import pandas as pd

from smart_maintenance.detection import check_scored_once, fit_models, score_readings
from smart_maintenance.detection.readings import TEXT, group_starts, prepare_readings
from smart_maintenance_tests.detection.frames import plant, split

TEXT_COLUMNS = ["equipment_id", "sensor_id", "sensor_type"]


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """The same readings with text as Python objects (None for missing), as a hand-made frame has them."""
    out = frame.copy()
    for c in TEXT_COLUMNS:
        out[c] = pd.Series(out[c].to_numpy(dtype=object), index=out.index, dtype=object).where(out[c].notna(), None)
    return out


def lake_frame() -> pd.DataFrame:
    frame = plant(n=300, equipment=("pump-2", "pump-1"))
    frame.loc[frame.index[::7], "sensor_type"] = None
    frame = frame.astype({c: TEXT for c in TEXT_COLUMNS})
    return frame.sample(frac=1.0, random_state=0)  # unsorted, with a shuffled index


def test_text_columns_are_kept_and_prepare_the_same_frame():
    frame = lake_frame()
    prepared = prepare_readings(frame)
    assert all(prepared[c].dtype == TEXT for c in TEXT_COLUMNS)
    assert prepared["sensor_type"].isna().sum() == frame["sensor_type"].isna().sum() > 0
    pd.testing.assert_frame_equal(prepared, prepare_readings(as_objects(frame)))
    assert prepared["equipment_id"].iat[0] == "pump-1"  # sorted by sensor then time


def test_sensor_groups_are_the_same_for_text_and_objects():
    keys = pd.DataFrame({"equipment_id": ["a", "a", "a", "b", "b", None, None],
                         "sensor_id": ["x", "x", "y", "y", "y", "z", "z"]})
    expected = np.array([0, 0, 2, 3, 3, 5, 6])  # a missing id never matches the row before (NaN != NaN)
    assert (group_starts(keys.astype(object)) == expected).all()
    assert (group_starts(keys.astype(TEXT)) == expected).all()


def test_scores_and_checks_are_the_same_for_text_and_objects():
    frame = lake_frame().sort_index()
    history, new = split(frame, 200)
    models = fit_models(history, as_of=history["timestamp"].max())
    scores = score_readings(new, history, models)
    pd.testing.assert_frame_equal(scores, score_readings(as_objects(new), as_objects(history), models))
    assert check_scored_once(new, scores)[0]
    passed, meta = check_scored_once(as_objects(new), scores.iloc[4:])
    assert not passed and meta["missing"] == 4
