"""Technician schedules: shifts and weekends, skills, no double booking, stable re-planning, plan checks."""

from dataclasses import replace

import pandas as pd

from smart_maintenance.maintenance import check_plan, expand_shifts, plan_schedule
from smart_maintenance_tests.maintenance.frames import CONFIG, FRIDAY_EVENING, MONDAY, requests, technicians

UTC_DAY = ("t1", "mechanical", "08:00", "16:00", "UTC")


def test_friday_evening_request_with_two_day_deadline_is_scheduled():
    reqs = requests({"request_id": "r1", "due_by": FRIDAY_EVENING + pd.Timedelta(days=2),
                     "estimated_duration_hours": 3.0}, now=FRIDAY_EVENING)  # fmt: skip
    # with a Saturday on-call shift: done on Saturday morning, inside the deadline
    crew = technicians(UTC_DAY, ("t2", "mechanical", "08:00", "12:00", "UTC", "mon;tue;wed;thu;fri;sat"))
    res = plan_schedule(reqs, crew, FRIDAY_EVENING, CONFIG)
    row = res.schedule.iloc[0]
    assert (row["technician_id"], row["start"]) == ("t2", pd.Timestamp("2026-03-07 08:00", tz="UTC"))
    assert not row["late"] and res.unscheduled.empty
    # Mon-Fri crew only: still scheduled (first thing on Monday), flagged late, never dropped
    res = plan_schedule(reqs, technicians(UTC_DAY), FRIDAY_EVENING, CONFIG)
    row = res.schedule.iloc[0]
    assert row["start"] == pd.Timestamp("2026-03-09 08:00", tz="UTC") and row["late"]
    assert check_plan(res.schedule, reqs, technicians(UTC_DAY), CONFIG, now=FRIDAY_EVENING)[0]


def test_urgent_jobs_never_overlap_on_one_technician_and_priority_goes_first():
    due = MONDAY + pd.Timedelta(hours=3)
    reqs = requests(*({"request_id": f"r{i}", "priority": p, "due_by": due, "estimated_duration_hours": 3.0}
                      for i, p in enumerate((1, 1, 2, 4))))  # fmt: skip
    crew = technicians(UTC_DAY)
    res = plan_schedule(reqs, crew, MONDAY, CONFIG)
    s = res.schedule.sort_values("start")
    assert len(s) == 4 and (s["start"].iloc[1:].to_numpy() >= s["end"].iloc[:-1].to_numpy()).all()
    assert set(s["priority"].iloc[:2]) == {1} and s["priority"].iloc[-1] == 4  # weights decide the order
    passed, meta = check_plan(res.schedule, reqs, crew, CONFIG, now=MONDAY)
    assert passed and meta["violations"] == 0
    assert res.status in ("OPTIMAL", "FEASIBLE") and res.gap is not None


def test_skill_mismatch_and_too_long_jobs_are_listed_with_a_reason():
    reqs = requests({"request_id": "r1", "required_skills": "electrical;motor"},
                    {"request_id": "r2", "estimated_duration_hours": 12.0},
                    {"request_id": "r3"})  # fmt: skip
    res = plan_schedule(reqs, technicians(UTC_DAY), MONDAY, CONFIG)
    reasons = dict(zip(res.unscheduled["request_id"], res.unscheduled["reason"]))
    assert reasons["r1"] == "no technician has the skills: electrical;motor"
    assert "longer than every free shift window" in reasons["r2"]
    assert res.schedule["request_id"].tolist() == ["r3"]


def test_only_approved_requests_are_scheduled():
    statuses = ["approved", "rejected", "pending_approval", "deferred", "cancelled", "completed", "scheduled"]
    reqs = requests(*({"request_id": s, "status": s} for s in statuses))
    res = plan_schedule(reqs, technicians(UTC_DAY), MONDAY, CONFIG)
    assert sorted(res.schedule["request_id"]) == ["approved", "scheduled"]
    assert "rejected" not in set(res.unscheduled["request_id"])


def test_replanning_keeps_started_and_imminent_work():
    crew = technicians(UTC_DAY, ("t2", "mechanical", "08:00", "16:00", "UTC"))
    reqs = requests({"request_id": "started", "status": "in_progress", "due_by": MONDAY + pd.Timedelta(days=3)},
                    {"request_id": "soon", "status": "scheduled", "priority": 4, "due_by": MONDAY + pd.Timedelta(days=3)},
                    {"request_id": "urgent", "priority": 1, "due_by": MONDAY + pd.Timedelta(hours=3)})  # fmt: skip
    now = pd.Timestamp("2026-03-02 09:00", tz="UTC")
    previous = pd.DataFrame([
        {"request_id": "started", "technician_id": "t1", "start": now - pd.Timedelta(hours=1), "end": now + pd.Timedelta(hours=1)},
        {"request_id": "soon", "technician_id": "t2", "start": now + pd.Timedelta(hours=1), "end": now + pd.Timedelta(hours=3)},
    ])  # fmt: skip
    res = plan_schedule(reqs, crew, now, CONFIG, previous_plan=previous)
    s = res.schedule.set_index("request_id")
    for rid in ("started", "soon"):  # kept exactly, although 'urgent' would like t2's 10:00 slot
        assert s.at[rid, "frozen"] and s.at[rid, "technician_id"] == previous.set_index("request_id").at[rid, "technician_id"]
        assert s.at[rid, "start"] == previous.set_index("request_id").at[rid, "start"]
    assert s.at["urgent", "start"] < now + pd.Timedelta(hours=2)  # the earliest free slot: t2 at 09:00
    assert check_plan(res.schedule, reqs, crew, CONFIG, now=now)[0]


def test_overdue_request_goes_first_and_is_flagged():
    reqs = requests({"request_id": "old", "priority": 3, "due_by": MONDAY - pd.Timedelta(days=1)},
                    {"request_id": "new", "priority": 3, "due_by": MONDAY + pd.Timedelta(days=2)})
    res = plan_schedule(reqs, technicians(UTC_DAY), MONDAY, CONFIG)
    s = res.schedule.set_index("request_id")
    assert s.at["old", "overdue"] and not s.at["new", "overdue"]
    assert s.at["old", "start"] == pd.Timestamp("2026-03-02 08:00", tz="UTC")


def test_shifts_follow_time_zone_night_shifts_and_absences():
    crew = technicians(("b", "x", "22:00", "06:00", "Europe/Berlin"), ("c", "x", "07:00", "15:00", "America/Chicago"))
    absences = pd.DataFrame([{"technician_id": "c", "start": "2026-03-03 00:00", "end": "2026-03-04 00:00"}])
    w = expand_shifts(crew, MONDAY, MONDAY + pd.Timedelta(days=2), absences=absences)
    b = w[w["technician_id"] == "b"]
    assert b["start"].iloc[0] == pd.Timestamp("2026-03-02 21:00", tz="UTC")  # CET = UTC+1, ends next morning
    assert b["end"].iloc[0] == pd.Timestamp("2026-03-03 05:00", tz="UTC")
    assert w[w["technician_id"] == "c"]["start"].tolist() == [pd.Timestamp("2026-03-02 13:00", tz="UTC")]


def test_plan_checks_fail_on_a_broken_plan():
    crew = technicians(UTC_DAY)
    reqs = requests({"request_id": "r1"}, {"request_id": "r2", "required_skills": "electrical"},
                    {"request_id": "r3", "status": "rejected"})
    at = lambda h: pd.Timestamp("2026-03-02", tz="UTC") + pd.Timedelta(hours=h)  # noqa: E731
    broken = pd.DataFrame([
        {"request_id": "r1", "technician_id": "t1", "start": at(9), "end": at(11)},
        {"request_id": "r2", "technician_id": "t1", "start": at(10), "end": at(12)},  # overlap + skill
        {"request_id": "r3", "technician_id": "t1", "start": at(15), "end": at(17)},  # rejected + after shift
    ])  # fmt: skip
    passed, meta = check_plan(broken, reqs, crew, CONFIG)
    assert not passed
    assert {k: v for k, v in meta["by_check"].items() if v} == {"no_overlap": 1, "skills": 1, "approved_only": 1,
                                                                "in_shift": 1}
    good = broken.iloc[:1]
    assert check_plan(good, reqs, crew, replace(CONFIG))[0]
