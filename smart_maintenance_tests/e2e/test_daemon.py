"""The landing folder through the real daemon: a file dropped while `dagster dev` runs ends up in the lake.

Nothing is mocked: the landing sensor notices the file, the run queue launches `ingest_landing`, and
the test watches the outcome the way a user would (GraphQL, the Parquet lake, the folders).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from smart_maintenance_tests.e2e.servers import DagsterDev, dagster_dev, free_port

pytestmark = pytest.mark.e2e

TIMEOUT_S = 120.0
DAYS = ("2026-03-01", "2026-03-02")
EQUIPMENT = "PUMP-01"
SENSORS = {"TEMP-01": (60.0, 0.25), "VIB-01": (2.0, 0.01)}  # sensor -> (first value, step)
READINGS_PER_SENSOR = 100
STEP = timedelta(minutes=20)  # 100 readings from 08:00 on day one end at 17:00 on day two
START = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
BAD_AT = START + STEP * READINGS_PER_SENSOR  # a reading slot nobody else uses

REFERENCE = {
    "equipment.csv": "equipment_id,site,type,criticality\nPUMP-01,plant-a,pump,high\n",
    "sensors.csv": ("equipment_id,sensor_id,sensor_type,unit,valid_min,valid_max,alarm_limit\n"
                    "PUMP-01,TEMP-01,temperature,degC,-20,150,95\n"
                    "PUMP-01,VIB-01,vibration,mm/s,0,50,7.1\n"),
    "technicians.csv": "technician_id,name,skills,shift_start,shift_end,timezone\nT-1,Ada,pump,08:00,16:00,UTC\n",
}

MATERIALIZATIONS = """
query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) { __typename
    ... on Asset { assetMaterializations { partition runId timestamp } } } }
"""
RUNS = """
query ($job: String!) { runsOrError(filter: {pipelineName: $job}) { __typename
    ... on Runs { results { runId status startTime endTime tags { key value } } } } }
"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def valid_readings() -> list[tuple[datetime, str, str, float]]:
    """(timestamp, equipment_id, sensor_id, value) of every good row, in file order."""
    rows = []
    for i in range(READINGS_PER_SENSOR):
        for sensor, (first, step) in SENSORS.items():
            rows.append((START + STEP * i, EQUIPMENT, sensor, round(first + step * i, 4)))
    return rows


def readings_csv() -> tuple[str, int]:
    """The landing file (long format) and the 1-based data row number of its one bad row."""
    lines = ["timestamp,equipment_id,sensor_id,value"]
    lines += [f"{ts.isoformat()},{eq},{sensor},{value}" for ts, eq, sensor, value in valid_readings()]
    bad_row = len(lines)  # header excluded, so the next data row has this number
    lines.append(f"{BAD_AT.isoformat()},{EQUIPMENT},TEMP-01,N/A")
    return "\n".join(lines) + "\n", bad_row


def drop(landing: Path, name: str, text: str) -> float:
    """Put a file into landing/ the way a careful copier does (write aside, then rename); returns when."""
    temp = landing / f"{name}.part"  # in-progress names are ignored by the sensor
    temp.write_text(text)
    os.replace(temp, landing / name)
    return time.time()


def wait_for(what: str, probe, timeout: float = TIMEOUT_S, every: float = 1.0):
    """Call `probe` every second until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if result := probe():
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def materializations(dagster: DagsterDev, asset: str) -> list[dict]:
    answer = dagster.graphql(MATERIALIZATIONS, {"key": {"path": [asset]}})["assetOrError"]
    return answer.get("assetMaterializations", []) if answer["__typename"] == "Asset" else []


def materialized(dagster: DagsterDev, asset: str, partitions: tuple[str, ...]) -> list[dict] | None:
    """The asset's materialization events once every one of `partitions` has one, else None."""
    events = materializations(dagster, asset)
    return events if {e["partition"] for e in events} >= set(partitions) else None


def runs(dagster: DagsterDev, job: str) -> list[dict]:
    return dagster.graphql(RUNS, {"job": job})["runsOrError"]["results"]


def finished_runs(dagster: DagsterDev, job: str, count: int) -> list[dict] | None:
    done = [r for r in runs(dagster, job) if r["status"] in TERMINAL]
    return done if len(done) >= count else None


def lake_sql(data_root: Path, dataset: str, select: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    glob = str(data_root / "lake" / dataset / "**" / "*.parquet")
    return con.execute(select.replace("{lake}", f"read_parquet('{glob}', hive_partitioning=true)")).fetchall()


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "reference").mkdir(parents=True)
    (root / "landing").mkdir()
    for name, text in REFERENCE.items():
        (root / "reference" / name).write_text(text)
    return root


def test_a_file_dropped_in_landing_is_ingested_by_the_daemon(data_root: Path, tmp_path: Path, capsys, record_property) -> None:
    landing, (text, bad_row), expected = data_root / "landing", readings_csv(), valid_readings()

    with dagster_dev(data_root, tmp_path / "dagster_home", free_port()) as dagster:
        # The reference sensor's first tick launches a run: once it materialized, the daemon is ticking and
        # runs get launched, so the latency measured below is the pipeline's, not the daemon's start-up.
        wait_for("the reference data run", lambda: materializations(dagster, "equipment"))

        dropped_at = drop(landing, "pump_export.csv", text)
        events = wait_for("sensor_readings materialized for both days", lambda: materialized(dagster, "sensor_readings", DAYS))
        seen_at = time.time()
        (run,) = wait_for("the ingest_landing run to finish", lambda: finished_runs(dagster, "ingest_landing", 1))
        latency = max(int(e["timestamp"]) for e in events) / 1000 - dropped_at
        record_property("drop_to_materialization_seconds", round(latency, 1))
        with capsys.disabled():  # shown even when pytest captures output: the number is what this test measures
            print(f"\n[e2e] drop -> sensor_readings materialized: {latency:.1f} s (seen by polling after "
                  f"{seen_at - dropped_at:.1f} s; the ingest run itself took {run['endTime'] - run['startTime']:.1f} s)")

        assert run["status"] == "SUCCESS"
        assert {"key": "dagster/sensor_name", "value": "landing_sensor"} in run["tags"]
        assert sorted(e["partition"] for e in events) == list(DAYS)  # one materialization per touched day
        assert {e["runId"] for e in events} == {run["runId"]}

        # The lake holds exactly the valid rows, with their values, in the right daily partitions.
        lake_rows = lake_sql(data_root, "sensor_readings",
                             "SELECT timestamp, equipment_id, sensor_id, value FROM {lake} ORDER BY timestamp, sensor_id")
        assert len(lake_rows) == len(expected) == 200
        assert lake_rows == sorted(expected, key=lambda r: (r[0], r[2]))
        by_day = dict(lake_sql(data_root, "sensor_readings", "SELECT CAST(date AS VARCHAR), count(*) FROM {lake} GROUP BY ALL"))
        assert by_day == {d: sum(ts.date().isoformat() == d for ts, *_ in expected) for d in DAYS}

        # The bad row is quarantined with its reason, nothing is dropped silently.
        quarantined = lake_sql(data_root, "quarantine", "SELECT source_file, row_number, reason, raw_value FROM {lake}")
        assert quarantined == [("pump_export.csv", bad_row, "non-numeric value", "N/A")]

        # The source file moved to archive/ untouched.
        assert not (landing / "pump_export.csv").exists()
        assert (data_root / "archive" / "pump_export.csv").read_text() == text
        ledger = lake_sql(data_root, "ingested_files",
                          "SELECT source_file, status, rows_read, rows_kept, rows_quarantined, rows_duplicate, partitions FROM {lake}")
        assert ledger == [("pump_export.csv", "ingested", 201, 200, 1, 0, list(DAYS))]

        # The same content again, under another name: recognised, archived, and nothing added to the lake.
        drop(landing, "pump_export_copy.csv", text)
        wait_for("the second ingest_landing run to finish", lambda: finished_runs(dagster, "ingest_landing", 2))
        assert [r["status"] for r in runs(dagster, "ingest_landing")] == ["SUCCESS", "SUCCESS"]
        ledger = lake_sql(data_root, "ingested_files", "SELECT source_file, status, rows_kept FROM {lake} ORDER BY ingested_at")
        assert ledger == [("pump_export.csv", "ingested", 200), ("pump_export_copy.csv", "duplicate_file", 0)]
        assert lake_sql(data_root, "sensor_readings", "SELECT count(*) FROM {lake}") == [(200,)]
        assert len(materializations(dagster, "sensor_readings")) == 2  # a duplicate touches no partition
        assert not (landing / "pump_export_copy.csv").exists()
        assert (data_root / "archive" / "pump_export_copy.csv").read_text() == text
