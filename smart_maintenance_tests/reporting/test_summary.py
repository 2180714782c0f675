"""The report's numbers on a hand-made lake where each one is known, on an empty lake, and on the
synthetic plant against direct DuckDB counts."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from smart_maintenance import lake
from smart_maintenance.reporting import build_report, compute_summary, key_numbers
from smart_maintenance.reporting.frames import Window
from smart_maintenance.reporting.summary import default_window
from smart_maintenance_tests.reporting.lakes import DAY, EVIL, NOW, RUNS

D = DAY.date()


@pytest.fixture
def summary(hand_lake: Path) -> dict:
    return compute_summary(hand_lake, Window(D, D, NOW), RUNS)


def by_id(rows: list[dict], key: str) -> dict:
    return {r[key]: r for r in rows}


def test_window_is_judged_as_of_its_end_not_later(summary):
    assert summary["report"] | {"generated_at": None} == {
        "start": "2026-03-10", "end": "2026-03-10", "days": 1, "as_of": "2026-03-11T00:00:00+00:00",
        "generated_at": None, "bucket": "hour"}


def test_fleet_status_counts_and_risk(summary):
    fleet = by_id(summary["fleet"]["equipment"], "equipment_id")
    assert summary["fleet"]["by_status"] == {"at_risk": 1, "alerting": 1, "watch": 0, "ok": 0, "no_data": 1}
    assert fleet["fan-2"]["status"] == "at_risk" and fleet["fan-2"]["p_fail_7d"] == 0.8
    assert fleet["pump-1"]["status"] == "alerting"
    assert (fleet["pump-1"]["readings"], fleet["pump-1"]["anomaly_rate"]) == (14, round(3 / 14, 4))
    assert (fleet["pump-1"]["alerts"], fleet["pump-1"]["credible_alerts"]) == (2, 1)  # a0 (day before) and a4 (later) excluded
    assert fleet["pump-1"]["latest_day"] == "2026-03-10"
    assert fleet["mtr-3"]["status"] == "no_data" and fleet["mtr-3"]["readings"] == 0
    assert (fleet["mtr-3"]["latest_day"], fleet["mtr-3"]["latest_anomaly_rate"]) == ("2026-03-08", 0.0)  # silent since
    assert [e["equipment_id"] for e in summary["fleet"]["equipment"]] == ["fan-2", "pump-1", "mtr-3"]  # worst first


def test_anomaly_summary(summary):
    a = summary["anomalies"]
    assert a["alerts"] == 3 and a["open"] == 1
    assert a["by_severity"] == {"low": 1, "medium": 1, "high": 1, "critical": 0}
    assert a["by_validation_status"] == {"credible": 1, "needs_investigation": 1, "suspected_false_positive": 1}
    assert (a["readings_scored"], a["anomalous_readings"]) == (20, 3)
    assert len(a["over_time"]) == 24 and sum(b["alerts"] for b in a["over_time"]) == 3
    assert a["over_time"][2]["bucket"] == "2026-03-10T02:00:00+00:00"
    assert (a["over_time"][2]["severity_high"], a["over_time"][2]["status_credible"]) == (1, 1)
    top = [(t["equipment_id"], t["sensor_id"], t["alerts"], t["credible"]) for t in a["top_sensors"]]
    assert top[0] == ("pump-1", "temp", 1, 1)  # credible alerts first
    assert sorted(top[1:]) == [("fan-2", "temp", 1, 0), ("pump-1", EVIL, 1, 0)]


def test_alerts_over_a_week_are_counted_per_day(hand_lake):
    over_time = compute_summary(hand_lake, Window(D - timedelta(days=6), D, NOW), RUNS)["anomalies"]["over_time"]
    assert [b["bucket"] for b in over_time] == [f"{D - timedelta(days=6 - i)}T00:00:00+00:00" for i in range(7)]
    assert [b["alerts"] for b in over_time] == [0, 0, 0, 0, 0, 1, 3]  # a0 the day before DAY; a4 is after the as-of
    assert over_time[5]["severity_critical"] == over_time[5]["status_credible"] == 1
    statuses = ("credible", "needs_investigation", "suspected_false_positive")
    assert [over_time[6][f"status_{s}"] for s in statuses] == [1, 1, 1]


def test_false_positive_rate_from_decisions(summary):
    # a1's request approved; a2 and a3's request rejected: 2 of 3 judged alerts are false positives.
    assert summary["anomalies"]["false_positive_rate"] | {"note": None} == {
        "available": True, "value": 0.6667, "alerts_judged": 3, "rejected": 2, "note": None}


def test_maintenance_requests_repairs_and_schedule(summary):
    m = summary["maintenance"]
    assert m["requests"]["total"] == 4 and m["requests"]["open"] == 2
    assert m["requests"]["by_status"]["approved"] == 1 and m["requests"]["by_status"]["rejected"] == 1
    assert m["requests"]["overdue"] == 1
    (overdue,) = m["requests"]["overdue_requests"]
    assert overdue["request_id"] == "r1" and overdue["hours_overdue"] == 12.0
    repairs = m["repairs"]
    assert (repairs["failures"], repairs["repaired"], repairs["mttr_hours"]) == (3, 2, 2.75)  # 3.5 h and 2 h; mtr-3 open
    assert repairs["events_by_type"] == {"corrective_repair": 1, "failure": 3, "inspection": 1, "replacement": 1}
    schedule = m["schedule"]
    assert schedule["assignments"] == 2
    util = by_id(schedule["utilisation"], "technician_id")
    # 4 h assigned over a horizon of the day + 7 days, 8 h shifts (t2's night shift wraps midnight).
    assert util["t1"]["assigned_hours"] == 4.0 and util["t1"]["available_hours"] == 64.0
    assert util["t1"]["utilisation"] == 0.0625 and util["t2"]["available_hours"] == 64.0
    assert {g["request_id"] for g in schedule["gantt"]} == {"r1", "r3"}


def test_forecasts_take_the_latest_made_before_the_as_of_time(summary):
    f = summary["forecasts"]
    assert (f["available"], f["forecasted_equipment"], f["at_risk"]) == (True, 2, 1)
    rows = by_id(f["equipment"], "equipment_id")
    assert rows["fan-2"]["at_risk"] is True and rows["fan-2"]["rul_lower_hours"] == 50.0
    assert rows["pump-1"]["beyond_horizon"] is True and rows["pump-1"]["rul_hours"] is None  # not the 10 h or 5 h ones


def test_data_quality_and_freshness(summary):
    q = summary["data_quality"]
    assert q["window"] | {"quarantine_by_reason": None} == {
        "files": 2, "files_ingested": 1, "files_duplicate_file": 0, "files_rejected": 1, "rows_read": 20, "rows_kept": 17,
        "rows_quarantined": 2, "rows_duplicate": 1, "rows_replaced": 0, "quarantined_share": 0.1, "quarantine_by_reason": None}
    assert q["all_time"]["files"] == 3 and q["all_time"]["rows_read"] == 25
    assert sum(r["rows"] for r in q["all_time"]["quarantine_by_reason"]) == 2
    assert sorted((r["reason"], r["rows"]) for r in q["window"]["quarantine_by_reason"]) == [
        ("missing sensor_id", 1), ("non-numeric value", 1)]
    assert [r["source_file"] for r in q["rejected_files"]] == ["f2.csv"]
    assert q["readings_in_window"] == 20
    assert (q["newest_reading_at"], q["freshness_hours"]) == ("2026-03-10T09:00:00+00:00", 15.0)
    assert [(s["equipment_id"], s["age_hours"]) for s in q["stale_equipment"]] == [("mtr-3", 60.0)]


def test_pipeline_performance(summary):
    p = summary["performance"]
    assert p["batches"] == 1 and p["batch_list"][0]["readings_per_second"] == 5.0  # 20 readings in 4 s of ingest
    assert p["runs"] == 2 and p["runs_failed"] == 1  # the run of the day before is outside the window
    assert by_id(p["runs_by_job"], "job")["ingest_landing"]["median_seconds"] == 10.0


def test_without_run_history_performance_says_so(hand_lake):
    p = compute_summary(hand_lake, Window(D, D, NOW))["performance"]
    assert p["runs_available"] is False and "not available" in p["runs_note"]
    assert p["batch_list"][0]["readings_read"] == 20 and p["readings_per_second_median"] is None


def test_absent_datasets_are_no_data_yet(hand_lake):
    import shutil

    for dataset in ("failure_forecasts", "maintenance_requests", "technician_schedule", "decisions"):
        shutil.rmtree(hand_lake / dataset)
    s = compute_summary(hand_lake, Window(D, D, NOW))
    assert s["forecasts"]["available"] is False and "no data yet" in s["forecasts"]["note"]
    assert s["maintenance"]["requests"]["available"] is False and "no data yet" in s["maintenance"]["requests"]["note"]
    assert s["maintenance"]["schedule"]["available"] is False
    assert s["anomalies"]["false_positive_rate"]["available"] is False
    assert "not available" in s["anomalies"]["false_positive_rate"]["note"]
    assert s["fleet"]["by_status"]["at_risk"] == 0  # no forecasts: fan-2 is only "watch"
    assert by_id(s["fleet"]["equipment"], "equipment_id")["fan-2"]["status"] == "watch"


def test_empty_lake_gives_a_report_of_zeros(tmp_path):
    report = build_report(tmp_path / "lake", None, None, NOW)
    s = report.summary
    assert s["report"]["start"] == s["report"]["end"] == NOW.date().isoformat()
    assert key_numbers(s)["readings"] == 0 and s["anomalies"]["alerts"] == 0 and s["fleet"]["equipment_count"] == 0
    assert "no data yet" in report.html
    json.loads(report.json)


def test_default_window_ends_on_the_last_day_with_readings(hand_lake):
    window = default_window(hand_lake, None, None, NOW + timedelta(days=30), default_days=7)
    assert (window.start, window.end) == (D - timedelta(days=6), D)
    with pytest.raises(ValueError):
        default_window(hand_lake, date(2026, 3, 12), date(2026, 3, 11), NOW)


def test_the_plant_report_agrees_with_the_lake(plant_root):
    con = lake.connect()
    scan = lambda d: lake.scan_sql(plant_root.lake, d)  # noqa: E731
    first, last = con.execute(f"SELECT min(date), max(date) FROM {scan('sensor_readings')}").fetchone()
    now = datetime.now(timezone.utc)  # the plant's files were ingested just now: the window reaches today
    s = build_report(plant_root.lake, first, now.date(), now).summary
    past = build_report(plant_root.lake, first, last, now).summary  # judged as of its last day: before ingestion
    assert past["data_quality"]["window"]["files"] == 0 and past["data_quality"]["all_time"]["files"] == 0
    readings = con.execute(f"SELECT count(*) FROM {scan('sensor_readings')}").fetchone()[0]
    alerts, credible = con.execute(f"SELECT count(*), count(*) FILTER (validation_status = 'credible') FROM {scan('alerts')}").fetchone()
    anomalies = con.execute(f"SELECT count(*) FILTER (is_anomaly) FROM {scan('anomaly_scores')}").fetchone()[0]
    quarantined = con.execute(f"SELECT count(*) FROM {scan('quarantine')}").fetchone()[0]
    assert s["data_quality"]["readings_in_window"] == readings > 10_000
    assert s["anomalies"]["alerts"] == alerts > 0 and s["anomalies"]["by_validation_status"]["credible"] == credible
    assert s["anomalies"]["anomalous_readings"] == anomalies
    assert s["data_quality"]["window"]["rows_quarantined"] == quarantined > 0
    assert s["data_quality"]["window"]["files_ingested"] == 7
    assert sum(r["rows"] for r in s["data_quality"]["all_time"]["quarantine_by_reason"]) == quarantined
    assert sum(e["alerts"] for e in s["fleet"]["equipment"]) == alerts
    assert s["fleet"]["equipment_count"] == 3
    # The plant has one failure and its repair in the maintenance log (ground truth).
    truth = (plant_root.ground_truth / "failures.csv").read_text().strip().splitlines()[1:]
    assert s["maintenance"]["repairs"]["failures"] == len(truth) >= 1
    assert s["maintenance"]["repairs"]["mttr_hours"] > 0
