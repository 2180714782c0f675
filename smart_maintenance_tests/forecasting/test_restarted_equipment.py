"""An equipment repaired minutes before the forecast time still gets a forecast row (found by the
`forecast_for_every_recent_equipment` check on a 1% micro-batch)."""

import numpy as np
import pandas as pd

from smart_maintenance.forecasting.forecast import forecast_failures


def test_equipment_repaired_inside_the_last_bin_gets_a_row_saying_why():
    times = pd.date_range("2026-01-30", "2026-01-31 23:55", freq="5min", tz="UTC")
    readings = pd.concat([
        pd.DataFrame({"timestamp": times, "equipment_id": eq, "sensor_id": "vibration",
                      "value": 3.0 + np.random.default_rng(1).normal(0, 0.1, len(times)), "sensor_type": "vibration_rms"})
        for eq in ("motor-1", "motor-2")])
    events = pd.DataFrame({"equipment_id": ["motor-1", "motor-1"], "event_type": ["failure", "corrective_repair"],
                           "timestamp": pd.to_datetime(["2026-01-31T17:10:00Z", "2026-01-31T23:15:00Z"])})
    sensors = pd.DataFrame({"equipment_id": ["motor-1", "motor-2"], "sensor_id": ["vibration"] * 2, "alarm_limit": [7.1] * 2})
    as_of = times[-1]
    out = forecast_failures(readings, sensors, None, None, as_of, events=events)
    assert sorted(out["equipment_id"]) == ["motor-1", "motor-2"]
    row = out.set_index("equipment_id").loc["motor-1"]
    assert row["method"] == "none" and "restarted after a repair" in row["drivers"]
    assert pd.isna(row["predicted_failure_at"])
