"""The synthetic plant keeps its promises: reproducible bytes, contract-shaped files, an exact ground truth."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smart_maintenance import schemas
from smart_maintenance.simulation import PlantSpec, SimulationSummary, simulate_plant

END = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
# 8 equipment (40 sensors) x 1296 ten-minute slots: every layout, every fault kind, two wear-outs that
# fail within the data and one still wearing at its end.
SPEC = PlantSpec(end=END, days=9, n_equipment=8, interval_seconds=600, seed=11)


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    root = tmp_path_factory.mktemp("plant")
    return root, simulate_plant(root, SPEC)


@pytest.fixture(scope="module")
def readings(plant: tuple[Path, SimulationSummary]) -> pd.DataFrame:
    return _load_readings(plant[0])


def test_same_spec_gives_byte_identical_files(plant: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    root, summary = plant
    again = simulate_plant(tmp_path, SPEC)
    assert again == summary
    first, second = _all_files(root), _all_files(tmp_path)
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first), "same spec must give the same bytes"


def test_reference_files_have_the_schema_columns(plant: tuple[Path, SimulationSummary]) -> None:
    root, summary = plant
    equipment = pd.read_csv(root / "reference/equipment.csv", dtype=str)
    sensors = pd.read_csv(root / "reference/sensors.csv")
    technicians = pd.read_csv(root / "reference/technicians.csv", dtype=str)
    assert list(equipment.columns) == schemas.EQUIPMENT.names
    assert list(sensors.columns) == schemas.SENSORS.names
    assert list(technicians.columns) == schemas.TECHNICIANS.names
    assert len(equipment) == summary.equipment and len(sensors) == summary.sensors
    assert set(equipment.criticality) <= {"low", "medium", "high", "critical"}
    assert equipment.site.nunique() == 3
    assert ((sensors.valid_min < sensors.alarm_limit) & (sensors.alarm_limit < sensors.valid_max)).all()
    assert sensors.groupby("equipment_id").size().between(3, 8).all()
    skills = {skill for listed in technicians.skills for skill in listed.split(";")}
    assert set(equipment.type) <= skills, "every equipment type has someone to service it"
    assert technicians.shift_start.str.fullmatch(r"\d\d:\d\d").all()


def test_readings_count_matches_the_summary(
    plant: tuple[Path, SimulationSummary], readings: pd.DataFrame
) -> None:
    root, summary = plant
    on_disk = sorted(p.relative_to(root).as_posix() for p in (root / "landing").rglob("*") if p.is_file())
    assert on_disk == summary.files
    assert len(readings) == summary.readings
    assert {"parquet", "wide", "gz", "tsv", "epoch_ms", "offset", "naive", "utc"} <= set(readings.layout)


def test_every_reading_is_written_once_within_the_time_range(readings: pd.DataFrame) -> None:
    valid = readings.dropna(subset=["ts"])
    valid = valid[valid.sensor_id != ""]
    assert not valid.duplicated(["equipment_id", "sensor_id", "ts"]).any()
    assert valid.ts.min() > END - timedelta(days=SPEC.days) and valid.ts.max() == END


def test_every_bad_row_points_at_a_real_invalid_row(plant: tuple[Path, SimulationSummary]) -> None:
    root, summary = plant
    bad = pd.read_csv(root / "ground_truth/bad_rows.csv")
    assert len(bad) == summary.bad_rows >= 8
    kinds = {"value_na", "value_nan", "value_inf", "value_text", "out_of_range", "bad_timestamp", "empty_sensor_id"}
    assert set(bad.kind) == kinds
    limits = pd.read_csv(root / "reference/sensors.csv").set_index(["equipment_id", "sensor_id"])
    for source, listed in bad.groupby("source_file"):
        rows = pd.read_csv(root / "landing" / source, dtype=str, keep_default_na=False)
        kinds = _invalid_kinds(rows, limits).dropna()
        found = dict(zip(kinds.index + 1, kinds, strict=True))  # 1-based data rows
        assert found == dict(zip(listed.row_number, listed.kind, strict=True)), f"{source} disagrees"


def test_faults_lie_within_the_time_range(plant: tuple[Path, SimulationSummary]) -> None:
    root, summary = plant
    faults = pd.read_csv(root / "ground_truth/faults.csv", keep_default_na=False)
    assert len(faults) == summary.faults
    assert set(faults.fault_type) == {"spike", "level_shift", "stuck", "dropout", "degradation"}
    start, end = pd.to_datetime(faults.start, utc=True), pd.to_datetime(faults.end, utc=True)
    assert (start > END - timedelta(days=SPEC.days)).all() and (end <= END).all() and (start <= end).all()
    assert (faults.sensor_id == "").eq(faults.fault_type == "degradation").all()


def test_degradations_cross_the_alarm_and_end_in_a_failure_event(
    plant: tuple[Path, SimulationSummary], readings: pd.DataFrame
) -> None:
    root, summary = plant
    faults = pd.read_csv(root / "ground_truth/faults.csv", keep_default_na=False)
    events = pd.read_csv(root / "landing/maintenance/events.csv", keep_default_na=False)
    limits = pd.read_csv(root / "reference/sensors.csv")
    wear = faults[faults.fault_type == "degradation"]
    failed = wear[pd.to_datetime(wear.failure_at, utc=True) <= END]
    assert len(failed) == summary.failures == len(pd.read_csv(root / "ground_truth/failures.csv")) >= 1
    ongoing = wear.drop(failed.index)
    assert len(ongoing) == 1 and (pd.to_datetime(ongoing.failure_at, utc=True) > END).all()
    assert (ongoing.end == "2026-01-14T12:00:00Z").all(), "an ongoing wear-out lasts to the end of the data"
    for fault in failed.itertuples():
        log = events[events.equipment_id == fault.equipment_id]
        assert ((log.event_type == "failure") & (log.timestamp == fault.failure_at)).any()
        assert ((log.event_type == "corrective_repair") & (log.timestamp > fault.failure_at)).any()
        vibration = limits[(limits.equipment_id == fault.equipment_id) & (limits.sensor_type == "vibration_rms")]
        window = _during(readings, fault.equipment_id, fault.start, fault.failure_at)
        values = pd.to_numeric(window[window.sensor_id.isin(vibration.sensor_id)].value, errors="coerce")
        plausible = values[values < vibration.valid_max.max()]  # not a deliberately bad row
        assert (plausible > vibration.alarm_limit.min()).any(), "the wear-out crosses the alarm before failing"


def test_stuck_sensors_repeat_one_value_and_dropouts_go_silent(
    plant: tuple[Path, SimulationSummary], readings: pd.DataFrame
) -> None:
    faults = pd.read_csv(plant[0] / "ground_truth/faults.csv", keep_default_na=False)
    for fault in faults[faults.fault_type.isin(["stuck", "dropout"])].itertuples():
        during = _during(readings, fault.equipment_id, fault.start, fault.end)
        during = during[during.sensor_id == fault.sensor_id]
        if fault.fault_type == "dropout":
            assert during.empty
        else:
            values = pd.to_numeric(during.value, errors="coerce").dropna()
            assert np.isclose(values, float(fault.magnitude)).mean() > 0.9  # bad rows may spoil a few


def test_wide_files_name_their_equipment_by_folder(plant: tuple[Path, SimulationSummary]) -> None:
    root, _ = plant
    known = set(pd.read_csv(root / "reference/equipment.csv").equipment_id)
    wide = [p for p in (root / "landing").rglob("*.csv") if ";" in p.read_text().partition("\n")[0]]
    assert wide
    for path in wide:
        header = pd.read_csv(path, sep=";", nrows=0).columns
        assert "equipment_id" not in header and header[0] == "timestamp"
        assert path.parent.name in known and path.parent.parent == root / "landing"


def test_long_csv_layout_writes_one_file_of_the_same_plant(tmp_path: Path) -> None:
    spec = PlantSpec(end=END, days=2, n_equipment=4, interval_seconds=300, bad_row_fraction=0, layout="long_csv")
    summary = simulate_plant(tmp_path / "long", spec)
    assert summary.files == ["landing/maintenance/events.csv", "landing/readings.csv"]
    rows = pd.read_csv(tmp_path / "long/landing/readings.csv", dtype=str)
    assert list(rows.columns) == ["timestamp", "equipment_id", "sensor_id", "value"]
    slots = int(spec.days * 86_400 / spec.interval_seconds)
    assert len(rows) == summary.readings
    assert 0.95 * summary.sensors * slots < len(rows) <= summary.sensors * slots  # outages, dropouts: ~1 %
    assert summary.bad_rows == 0 and pd.to_numeric(rows.value).notna().all()
    mixed = simulate_plant(tmp_path / "mixed", replace(spec, layout="mixed"))
    assert mixed.readings == summary.readings


def test_spec_rejects_what_it_cannot_simulate() -> None:
    with pytest.raises(ValueError):
        PlantSpec(end=END, layout="xml")
    with pytest.raises(ValueError):
        PlantSpec(end=END, days=0.0001, interval_seconds=60)


def test_summary_json_records_summary_and_spec(plant: tuple[Path, SimulationSummary]) -> None:
    root, summary = plant
    document = json.loads((root / "ground_truth/summary.json").read_text())
    assert document["readings"] == summary.readings and document["files"] == summary.files
    assert document["spec"]["end"] == "2026-01-14T12:00:00Z" and document["spec"]["layout"] == "mixed"

# --- reading the landing folder back, the way an ingester would ---------------------------------


def _load_readings(root: Path) -> pd.DataFrame:
    """Every reading in landing/ as (equipment_id, sensor_id, value text, ts UTC, layout)."""
    frames = []
    paths = sorted(p for p in (root / "landing").rglob("*") if p.is_file() and p.parent.name != "maintenance")
    for path in paths:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path).astype({"value": str})
            frames.append(frame.assign(ts=frame.timestamp, layout="parquet"))
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=_separator(path))
        layout = _layout(path, frame)
        if layout == "wide":  # one column per sensor, the equipment from the folder, empty cell = no reading
            frame = frame.melt(id_vars="timestamp", var_name="sensor_id", value_name="value")
            frame = frame[frame.value != ""].assign(equipment_id=path.parent.name)
        if layout == "epoch_ms":
            ts = pd.to_datetime(frame.timestamp.astype("int64"), unit="ms", utc=True)
        else:
            ts = pd.to_datetime(frame.timestamp, utc=True, format="ISO8601", errors="coerce")
        frames.append(frame.assign(ts=ts, layout=layout))
    columns = ["equipment_id", "sensor_id", "value", "ts", "layout"]
    readings = pd.concat([f[columns] for f in frames], ignore_index=True)
    return readings.assign(ts=pd.to_datetime(readings.ts, utc=True))


def _separator(path: Path) -> str:
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as file:
        header = file.readline()
    return "\t" if "\t" in header else ";" if ";" in header else ","


def _layout(path: Path, frame: pd.DataFrame) -> str:
    if path.suffix in (".gz", ".tsv"):
        return path.suffix.lstrip(".")
    if "equipment_id" not in frame.columns:
        return "wide"
    stamps = frame.timestamp.head(50)  # most, not all: a bad row may hide among them
    styles = np.select(
        [stamps.str.isdigit(), stamps.str.endswith("Z"), stamps.str.match(r".{19}[+-]\d\d:\d\d$")],
        ["epoch_ms", "utc", "offset"],
        "naive",
    )
    return pd.Series(styles).mode().iloc[0]


def _invalid_kinds(rows: pd.DataFrame, limits: pd.DataFrame) -> pd.Series:
    """The bad-row kind each long-CSV row shows (None for a valid reading), judged as an ingester would."""
    value = pd.to_numeric(rows.value, errors="coerce")
    bounds = limits.reindex(pd.MultiIndex.from_arrays([rows.equipment_id, rows.sensor_id]))
    outside = (value.to_numpy() < bounds.valid_min.to_numpy()) | (value.to_numpy() > bounds.valid_max.to_numpy())
    # Later rules win: each bad row has exactly one thing wrong, so the order only names it.
    kinds = pd.Series(np.where(outside, "out_of_range", None), index=rows.index, dtype=object)
    kinds[value.isna() | np.isinf(value)] = "value_text"
    kinds[rows.value.isin(["inf", "-inf"])] = "value_inf"
    kinds[rows.value == "NaN"] = "value_nan"
    kinds[rows.value == "N/A"] = "value_na"
    kinds[pd.to_datetime(rows.timestamp, utc=True, format="ISO8601", errors="coerce").isna()] = "bad_timestamp"
    kinds[rows.sensor_id == ""] = "empty_sensor_id"
    return kinds


def _during(readings: pd.DataFrame, equipment_id: str, start: str, end: str) -> pd.DataFrame:
    chosen = readings[readings.equipment_id == equipment_id]
    return chosen[chosen.ts.between(pd.Timestamp(start), pd.Timestamp(end))]


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
