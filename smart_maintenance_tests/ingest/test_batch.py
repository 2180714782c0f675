"""Ingestion of hand-made landing files: formats, row-level validation, whole-file rejection,
deduplication, conservation and where each file ends up."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from smart_maintenance import lake
from smart_maintenance.ingest.batch import default_equipment_id, ingest_batch
from smart_maintenance.ingest.landing import list_landing
from smart_maintenance_tests.conftest import NOW, drop, quarantine_reasons, readings

LONG = """timestamp,equipment_id,sensor_id,value
2026-01-05T10:00:00Z,pump-1,temp,40.5
2026-01-05T10:01:00Z,pump-1,temp,41.0
2026-01-05T10:00:00Z,pump-1,vib,2.5
"""


def ingest(root, batch_id="b1", now=NOW):
    result = ingest_batch(root, [f.relpath for f in list_landing(root.landing)], now=now, batch_id=batch_id)
    for f in result.files:
        if f.status == "ingested":
            assert f.conserved, f
    return result


def only(result):
    (f,) = result.files
    return f


def test_long_csv_rows_land_in_daily_partitions_and_file_is_archived(root):
    drop(root, "plant/a.csv", LONG + "2026-01-06T00:00:00Z,pump-1,temp,39\n")
    f = only(ingest(root))
    assert (f.status, f.kind, f.rows_read, f.rows_kept, f.rows_quarantined) == ("ingested", "readings_long", 4, 4, 0)
    assert f.partitions == ["2026-01-05", "2026-01-06"]
    assert readings(root) == [
        ("pump-1", "temp", "2026-01-05T10:00:00+00:00", 40.5),
        ("pump-1", "temp", "2026-01-05T10:01:00+00:00", 41.0),
        ("pump-1", "temp", "2026-01-06T00:00:00+00:00", 39.0),
        ("pump-1", "vib", "2026-01-05T10:00:00+00:00", 2.5),
    ]
    assert (root.lake / "sensor_readings" / "date=2026-01-05" / "data.parquet").exists()
    assert (root.archive / "plant/a.csv").exists() and not (root.landing / "plant/a.csv").exists()
    (row,) = lake.read_dataset(root.lake, "ingested_files").to_pylist()
    assert (row["status"], row["archived_to"], row["rows_read"], row["rows_kept"]) == ("ingested", "archive/plant/a.csv", 4, 4)


def test_enrichment_from_reference_and_unknown_ids_are_kept_and_flagged(root):
    drop(root, "a.csv", LONG + "2026-01-05T10:00:00Z,pump-1,new-sensor,1\n2026-01-05T10:00:00Z,mystery,x,2\n")
    ingest(root)
    table = lake.read_dataset(root.lake, "sensor_readings").to_pylist()
    by_sensor = {(r["equipment_id"], r["sensor_id"]): r for r in table}
    assert by_sensor[("pump-1", "temp")]["sensor_type"] == "temperature"
    assert by_sensor[("pump-1", "temp")]["unit"] == "degC"
    assert by_sensor[("pump-1", "temp")]["reference_status"] == "known"
    assert by_sensor[("pump-1", "new-sensor")]["reference_status"] == "unknown_sensor"
    assert by_sensor[("mystery", "x")]["reference_status"] == "unknown_equipment"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",pump-1,temp,1", "missing timestamp"),
        ("yesterday,pump-1,temp,1", "unparseable timestamp"),
        ("1999-12-31T23:59:59Z,pump-1,temp,1", "timestamp before 2000-01-01"),
        ("2026-03-01T02:00:01Z,pump-1,temp,1", "timestamp in the future"),
        ("2026-01-05T10:00:00Z,,temp,1", "missing equipment_id"),
        ("2026-01-05T10:00:00Z,pump-1,,1", "missing sensor_id"),
        ("2026-01-05T10:00:00Z,pump-1,temp,", "missing value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,N/A", "non-numeric value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,abc", "non-numeric value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,NaN", "non-finite value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,inf", "non-finite value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,-inf", "non-finite value"),
        ("2026-01-05T10:00:00Z,pump-1,temp,151", "above valid range"),
        ("2026-01-05T10:00:00Z,pump-1,vib,-0.1", "below valid range"),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(root, row, reason):
    drop(root, "bad.csv", "timestamp,equipment_id,sensor_id,value\n2026-01-05T09:00:00Z,pump-1,temp,20\n" + row + "\n")
    f = only(ingest(root))
    assert (f.rows_read, f.rows_kept, f.rows_quarantined) == (2, 1, 1)
    assert quarantine_reasons(root) == [("bad.csv", 2, reason)]


def test_quarantine_keeps_raw_fields_and_detail(root):
    drop(root, "bad.csv", "timestamp,equipment_id,sensor_id,value\n2026-01-05T09:00:00Z,pump-1,temp,250\n")
    ingest(root)
    (row,) = lake.read_dataset(root.lake, "quarantine").to_pylist()
    assert row["raw_value"] == "250" and row["raw_sensor_id"] == "temp" and row["raw_equipment_id"] == "pump-1"
    assert row["detail"] == "value 250.0 > valid_max 150.0"


def test_invalid_quality_is_quarantined_and_valid_quality_kept(root):
    drop(root, "q.csv", "timestamp,sensor_id,value,quality,equipment_id\n2026-01-05T09:00:00Z,temp,20,0.9,pump-1\n"
                        "2026-01-05T09:01:00Z,temp,20,1.5,pump-1\n")
    ingest(root)
    assert quarantine_reasons(root) == [("q.csv", 2, "invalid quality")]
    assert lake.read_dataset(root.lake, "sensor_readings").column("quality").to_pylist() == [0.9]


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-05T12:00:00+02:00", "2026-01-05T10:00:00+00:00"),
        ("2026-01-05 10:00:00", "2026-01-05T10:00:00+00:00"),  # naive means UTC
        ("2026-01-05T10:00:00.250Z", "2026-01-05T10:00:00.250000+00:00"),
        ("1767607200", "2026-01-05T10:00:00+00:00"),  # epoch seconds
        ("1767607200000", "2026-01-05T10:00:00+00:00"),  # epoch milliseconds
        ("2000-01-01T00:00:00Z", "2000-01-01T00:00:00+00:00"),  # history back to 2000 is fine
    ],
)
def test_timestamp_formats(root, stamp, expected):
    drop(root, "t.csv", f"timestamp,equipment_id,sensor_id,value\n{stamp},pump-1,temp,1\n")
    ingest(root)
    assert [r[2] for r in readings(root)] == [expected]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_any_common_delimiter(root, delimiter):
    drop(root, "d.csv", LONG.replace(",", delimiter))
    assert only(ingest(root)).rows_kept == 3


def test_a_quoted_field_far_down_the_file_is_one_field(root):
    """The dialect is sniffed from a sample; a first quoted field after it is still read as one field,
    and a quote inside an unquoted field stays a character."""
    plain = "".join(f"2026-01-05T{m // 60:02d}:{m % 60:02d}:{s:02d}Z,pump-1,temp,1\n" for m in range(600) for s in range(0, 60, 1))
    drop(root, "late.csv", "timestamp,equipment_id,sensor_id,value\n" + plain
         + '2026-01-06T00:00:00Z,"pump,2",temp,2.5\n2026-01-06T00:00:01Z,pump 5" inch,temp,3.5\n')
    f = only(ingest(root))
    assert (f.rows_read, f.rows_kept, f.rows_quarantined) == (36_002, 36_002, 0)
    late = [r for r in readings(root) if r[2] > "2026-01-06"]
    assert {(eq, value) for eq, _, _, value in late} == {("pump,2", 2.5), ('pump 5" inch', 3.5)}


def test_utf8_bom_and_header_case_and_spaces(root):
    drop(root, "bom.csv", "\ufeff Timestamp , Equipment_ID ,Sensor_Id, Value\n2026-01-05T10:00:00Z,pump-1,temp,1\n")
    f = only(ingest(root))
    assert (f.kind, f.rows_kept) == ("readings_long", 1)


def test_gzip_csv(root):
    drop(root, "g.csv.gz", gzip.compress(LONG.encode()))
    assert only(ingest(root)).rows_kept == 3


def test_gzip_content_without_gz_suffix(root):
    drop(root, "g.csv", gzip.compress(LONG.encode()))
    assert only(ingest(root)).rows_kept == 3


def test_latin1_text(root):
    drop(root, "l.csv", "timestamp,equipment_id,sensor_id,value,unit\n2026-01-05T10:00:00Z,pump-1,temp,1,°C\n".encode("latin-1"))
    ingest(root)
    assert lake.read_dataset(root.lake, "sensor_readings").column("unit").to_pylist() == ["°C"]


def test_parquet_long_with_typed_columns(root):
    table = pa.table({
        "timestamp": pa.array([NOW.replace(day=1, hour=1)] * 2, pa.timestamp("ms", tz="UTC")),
        "equipment_id": ["pump-1", "pump-1"],
        "sensor_id": ["temp", "vib"],
        "value": [20.25, 3.5],
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    drop(root, "p.parquet", buf.getvalue())
    assert only(ingest(root)).rows_kept == 2
    assert readings(root) == [("pump-1", "temp", "2026-03-01T01:00:00+00:00", 20.25),
                              ("pump-1", "vib", "2026-03-01T01:00:00+00:00", 3.5)]


def test_wide_file_takes_equipment_from_subfolder_and_skips_empty_cells(root):
    drop(root, "pump-1/export.csv", "datetime;temp;vib\n2026-01-05 10:00:00;40;2.5\n2026-01-05 10:01:00;;2.6\n")
    f = only(ingest(root))
    assert (f.kind, f.rows_read, f.rows_kept) == ("readings_wide", 3, 3)
    assert readings(root) == [
        ("pump-1", "temp", "2026-01-05T10:00:00+00:00", 40.0),
        ("pump-1", "vib", "2026-01-05T10:00:00+00:00", 2.5),
        ("pump-1", "vib", "2026-01-05T10:01:00+00:00", 2.6),
    ]


def test_wide_file_with_equipment_column_and_unnamed_time_column(root):
    drop(root, "w.csv", "when,equipment_id,temp\n2026-01-05T10:00:00Z,fan-2,30\n2026-01-05T10:01:00Z,fan-2,bad\n")
    f = only(ingest(root))
    assert (f.kind, f.rows_kept, f.rows_quarantined) == ("readings_wide", 1, 1)
    assert readings(root) == [("fan-2", "temp", "2026-01-05T10:00:00+00:00", 30.0)]


def test_wide_file_at_landing_root_uses_file_stem():
    assert default_equipment_id("compressor-9.csv.gz") == "compressor-9"
    assert default_equipment_id("site/compressor-9/2026.csv") == "compressor-9"


def test_malformed_line_is_quarantined_not_lost(root):
    drop(root, "m.csv", LONG + "2026-01-05T10:02:00Z,pump-1,temp,1,extra\n2026-01-05T10:03:00Z,pump-1,temp,2\n")
    f = only(ingest(root))
    assert (f.rows_read, f.rows_kept, f.rows_quarantined) == (5, 4, 1)
    ((source, row, reason),) = quarantine_reasons(root)
    assert (source, row) == ("m.csv", 4) and reason.startswith("malformed CSV line")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"timestamp,equipment_id,sensor_id,value\n", "the file has a header but no data rows"),
        (b"\x00\x01\x02garbage\xff\x00" * 50, "binary file"),
        (b"PAR1 this is not really parquet", "Parquet file cannot be read"),
        (b"a,b,c\n1,2,3\n4,5,6\n", "no timestamp column"),
    ],
)
def test_unusable_file_is_rejected_with_error_json(root, content, reason):
    drop(root, "sub/x.csv", content)
    f = only(ingest(root))
    assert f.status == "rejected" and reason in f.reason
    sidecar = json.loads((root.rejected / "sub/x.csv.error.json").read_text())
    assert reason in sidecar["reason"] and sidecar["file"] == "sub/x.csv"
    assert (root.rejected / "sub/x.csv").exists() and not (root.landing / "sub/x.csv").exists()
    ledger = lake.read_dataset(root.lake, "ingested_files").to_pylist()
    assert [(r["source_file"], r["status"]) for r in ledger] == [("sub/x.csv", "rejected")]


def test_a_rejected_file_does_not_stop_the_batch(root):
    drop(root, "a-bad.csv", b"")
    drop(root, "b-good.csv", LONG)
    result = ingest(root)
    assert sorted((f.source_file, f.status) for f in result.files) == [("a-bad.csv", "rejected"), ("b-good.csv", "ingested")]
    assert len(readings(root)) == 3


def test_symlink_is_never_followed(root, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_text(LONG)
    (root.landing / "link.csv").symlink_to(secret)
    f = only(ingest(root))
    assert f.status == "rejected" and "symbolic links" in f.reason
    assert readings(root) == [] and secret.exists()


def test_special_file_is_rejected_without_being_opened(root):
    import os

    os.mkfifo(root.landing / "pipe.csv")  # opening a FIFO would block the run forever
    drop(root, "ok.csv", LONG)
    result = ingest(root)
    assert {f.source_file: f.status for f in result.files} == {"pipe.csv": "rejected", "ok.csv": "ingested"}
    assert "not a regular file" in result.files[[f.source_file for f in result.files].index("pipe.csv")].reason


def test_file_vanishing_mid_batch_is_reported_not_fatal(root):
    drop(root, "a.csv", LONG)
    result = ingest_batch(root, ["a.csv", "gone.csv"], now=NOW, batch_id="b1")
    assert {f.source_file: f.status for f in result.files} == {"a.csv": "ingested", "gone.csv": "gone"}


def test_duplicate_rows_inside_a_file_count_once(root):
    drop(root, "d.csv", LONG + "2026-01-05T10:00:00Z,pump-1,temp,40.5\n")
    f = only(ingest(root))
    assert (f.rows_read, f.rows_kept, f.rows_duplicate) == (4, 3, 1)


def test_same_key_twice_in_a_file_keeps_the_last_row(root):
    drop(root, "d.csv", LONG + "2026-01-05T10:00:00Z,pump-1,temp,99\n")
    only(ingest(root))
    assert ("pump-1", "temp", "2026-01-05T10:00:00+00:00", 99.0) in readings(root)


def test_same_content_under_another_name_is_a_duplicate_file(root):
    drop(root, "a.csv", LONG)
    ingest(root, "b1")
    drop(root, "again/b.csv", LONG)
    f = only(ingest(root, "b2"))
    assert (f.status, f.rows_kept, f.moved_to) == ("duplicate_file", 0, "archive/again/b.csv")
    assert (root.archive / "again/b.csv").exists()
    assert len(readings(root)) == 3


def test_same_content_twice_in_one_batch(root):
    drop(root, "a.csv", LONG)
    drop(root, "b.csv", LONG)
    statuses = sorted(f.status for f in ingest(root).files)
    assert statuses == ["duplicate_file", "ingested"]
    assert len(readings(root)) == 3


def test_overlap_with_changed_values_replaces_and_identical_values_are_duplicates(root):
    drop(root, "a.csv", LONG)
    ingest(root, "b1")
    drop(root, "a.csv", LONG.replace("41.0", "45.0") + "2026-01-05T10:05:00Z,pump-1,temp,42\n")  # same name, new content
    f = only(ingest(root, "b2"))
    assert (f.rows_read, f.rows_kept, f.rows_duplicate, f.rows_replaced) == (4, 2, 2, 1)
    assert ("pump-1", "temp", "2026-01-05T10:01:00+00:00", 45.0) in readings(root)
    assert len(readings(root)) == 4
    archived = sorted(p.name for p in root.archive.iterdir())
    assert archived[0] == "a.csv" and archived[1].startswith("a.csv~")  # both versions kept


def test_rerun_after_interrupted_attempt_reports_like_a_clean_run(root):
    """Rows already in the lake from the same content (a crash before the ledger was written) are kept,
    not counted as duplicates."""
    drop(root, "a.csv", LONG)
    ingest(root, "b1")
    # Simulate the crash: the ledger marker and archive move never happened.
    for marker in (root.lake / ".index" / "ingested").iterdir():
        marker.unlink()
    (root.archive / "a.csv").rename(root.landing / "a.csv")
    f = only(ingest(root, "b1"))
    assert (f.status, f.rows_kept, f.rows_duplicate) == ("ingested", 3, 0)
    assert len(readings(root)) == 3


def test_maintenance_events_file(root):
    drop(root, "maintenance/events.csv",
         "equipment_id,timestamp,event_type,technician_id,notes\n"
         "pump-1,2026-01-05T10:00:00Z,failure,t1,bearing seized\n"
         "pump-1,2026-01-05T14:00:00Z,Corrective_Repair,t1,replaced bearing\n"
         "pump-1,2026-01-05T14:00:00Z,corrective_repair,t1,replaced bearing\n"
         "pump-1,2026-01-06T10:00:00Z,explosion,,\n")
    f = only(ingest(root))
    assert (f.kind, f.rows_read, f.rows_kept, f.rows_duplicate, f.rows_quarantined) == ("maintenance_events", 4, 2, 1, 1)
    events = lake.read_dataset(root.lake, "maintenance_events").to_pylist()
    assert sorted(e["event_type"] for e in events) == ["corrective_repair", "failure"]
    assert quarantine_reasons(root) == [("maintenance/events.csv", 4, "unknown event_type")]
    drop(root, "maintenance/events-again.csv", "equipment_id,event_time,event_type\npump-1,2026-01-05T10:00:00Z,failure\n")
    f = only(ingest(root, "b2"))
    assert (f.rows_kept, f.rows_duplicate) == (0, 1)


def test_decisions_file(root):
    drop(root, "decisions.csv", "request_id,decision,operator,justification\nR1,APPROVE,ana,ok\nR2,maybe,ana,\n,reject,bob,\n")
    f = only(ingest(root))
    assert (f.kind, f.rows_kept, f.rows_quarantined) == ("decisions", 1, 2)
    (d,) = lake.read_dataset(root.lake, "decisions").to_pylist()
    assert (d["request_id"], d["decision"], d["operator"]) == ("R1", "approve", "ana")
    assert sorted(r for _, _, r in quarantine_reasons(root)) == ["missing request_id", "unknown decision"]


def test_history_across_many_partitions_is_accepted(root):
    rows = "".join(f"{2000 + y}-06-01T00:00:00Z,pump-1,temp,{y}\n" for y in range(26))
    drop(root, "history.csv", "timestamp,equipment_id,sensor_id,value\n" + rows)
    f = only(ingest(root))
    assert f.rows_kept == 26 and len(f.partitions) == 26
