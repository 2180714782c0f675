"""maintenance_requests and technician_schedule on the simulated plant after the real pipeline ran."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from smart_maintenance import lake, schemas
from smart_maintenance.defs.maintenance import MaintenanceResource
from smart_maintenance.maintenance import RequestConfig
from smart_maintenance_tests.maintenance_assets.pipeline import (
    FAST, check_passed, materialization_metadata, materialize, refresh_all, table,
)  # fmt: skip

HUMAN = {"maintenance": MaintenanceResource(auto_approve=False, **FAST)}  # every request waits for a person


def test_requests_come_from_credible_evidence_with_priority_due_by_and_the_policy(root):
    runs = refresh_all(root, **HUMAN)
    assert [k for k, _ in runs] == ["maintenance_requests", "technician_schedule", "notification_outbox"]
    assert all(r.success for _, r in runs)

    requests, alerts = table(root, "maintenance_requests"), table(root, "alerts")
    from smart_maintenance import lake
    from smart_maintenance.maintenance.requests import unresolved_alerts

    events = lake.read_dataset(root.lake, "maintenance_events").to_pandas()
    # Evidence: credible alerts not already dealt with by a later repair, replacement or preventive maintenance.
    credible = unresolved_alerts(alerts[alerts["validation_status"] == "credible"], events)
    assert len(requests) >= 3 and requests["equipment_id"].is_unique  # one request per equipment problem
    assert set(credible["equipment_id"]) <= set(requests["equipment_id"])
    cfg = RequestConfig()
    for r in requests.to_dict("records"):
        evidence = [e for e in r["evidence_alert_ids"].split(";") if e]
        mine = credible[credible["alert_id"].isin(evidence)]
        assert len(mine) == len(evidence) > 0 or r["evidence_forecast_ids"].startswith("FC-")
        assert set(mine["alert_id"]) == set(credible.loc[credible["equipment_id"] == r["equipment_id"], "alert_id"])
        # priority and due_by: the most urgent of its evidence
        due = min(mine["started_at"] + mine["severity"].map(cfg.due_after_alert))
        assert r["due_by"] <= due and r["priority"] <= min(mine["severity"].map(cfg.priority_by_severity))
        assert r["estimated_duration_hours"] > 0 and r["required_skills"]
        assert r["status"] == "pending_approval" and r["approval_rule"] == "disabled"
    audit = table(root, "request_audit")
    created = audit[audit["from_status"].isna()]
    assert sorted(created["request_id"]) == sorted(requests["request_id"])
    assert set(created["actor"]) == {"requests"} and set(created["to_status"]) == {"pending_approval"}
    assert (audit["at"] == pd.Timestamp("2026-03-02", tz="UTC")).all()  # the data's now, not the wall clock

    # nothing approved, nothing planned; every pending request asks the operators for a decision
    assert len(table(root, "technician_schedule")) == 0 and check_passed(root, "technician_schedule", "plan_is_valid")
    outbox = table(root, "notification_outbox")
    asks = outbox[outbox["kind"] == "decision_needed"]
    assert sorted(asks["ref_id"]) == sorted(requests["request_id"]) and set(asks["recipient"]) == {"operators"}
    meta = materialization_metadata(dict(runs)["maintenance_requests"], "maintenance_requests")
    assert meta["new_requests"] == len(requests) and meta["pending_approval"] == len(requests)


def test_new_evidence_updates_the_open_request_and_a_forecast_opens_one(root):
    refresh_all(root, **HUMAN)
    before = table(root, "maintenance_requests").set_index("equipment_id")
    target = before.index[0]
    alerts = table(root, "alerts")
    # detection finds one more credible episode on an equipment that already has an open request ...
    new_alert = alerts[alerts["equipment_id"] == target].iloc[[0]].assign(
        alert_id="newepisode0001", severity="high", started_at=pd.Timestamp("2026-03-01 22:00", tz="UTC"),
        ended_at=pd.Timestamp("2026-03-01 23:00", tz="UTC"), validation_status="credible")
    lake.write_dataset(root.lake, "alerts", pa.Table.from_pandas(pd.concat([alerts, new_alert], ignore_index=True),
                                                                 schema=schemas.ALERTS, preserve_index=False))
    # ... and the forecast of an equipment without a request now predicts a failure within 30 h
    quiet = sorted((set(alerts["equipment_id"]) | {"CNV-005"}) - set(before.index))[0]
    path = lake.partition_file(root.lake, "failure_forecasts", "date", "2026-03-02")
    forecasts = pd.read_parquet(path)
    forecasts.loc[forecasts["equipment_id"] == quiet, ["rul_hours", "rul_lower_hours", "rul_upper_hours", "p_fail_7d",
                                                        "beyond_horizon"]] = [50.0, 30.0, 80.0, 0.9, False]
    forecasts["predicted_failure_at"] = forecasts["as_of"] + pd.to_timedelta(forecasts["rul_hours"], unit="h")
    lake.write_partition(root.lake, "failure_forecasts", "date", "2026-03-02",
                         pa.Table.from_pandas(forecasts, schema=schemas.FAILURE_FORECASTS, preserve_index=False))

    result = materialize(root, "maintenance_requests", **HUMAN)
    assert result.success
    after = table(root, "maintenance_requests").set_index("equipment_id")
    assert after.index.is_unique and set(after.index) == set(before.index) | {quiet}
    updated = after.loc[target]
    assert updated["request_id"] == before.loc[target, "request_id"]  # updated, not duplicated
    assert updated["evidence_alert_ids"].endswith(";newepisode0001") and updated["priority"] <= 2
    opened = after.loc[quiet]
    assert opened["request_type"] == "urgent_corrective" and opened["evidence_forecast_ids"].startswith("FC-")
    # due 24 h (safety margin) before the conservative failure time: as_of + 30 h
    assert opened["due_by"] == pd.Timestamp("2026-03-02 06:00", tz="UTC") and opened["hours_to_failure"] == 30.0
    assert check_passed(root, "maintenance_requests", "one_open_request_per_equipment")
    meta = materialization_metadata(result, "maintenance_requests")
    assert (meta["new_requests"], meta["updated_requests"]) == (1, 1)

    # the same evidence again changes nothing (idempotent)
    audit = table(root, "request_audit")
    assert materialize(root, "maintenance_requests", **HUMAN).success
    pd.testing.assert_frame_equal(table(root, "maintenance_requests").set_index("equipment_id"), after)
    assert len(table(root, "request_audit")) == len(audit)


def test_nothing_to_schedule_writes_empty_plans(tmp_path):
    """A plant with no request yet (e.g. the first micro-batch): the schedule and its unscheduled list are
    empty tables with the contract's columns, not a failed step."""
    import shutil

    from smart_maintenance import schemas
    from smart_maintenance.config import REPO_ROOT, DataRoot
    from smart_maintenance_tests.maintenance_assets.pipeline import materialize, table

    fresh = DataRoot(tmp_path / "data").ensure()
    shutil.copytree(REPO_ROOT / "data" / "reference", fresh.reference, dirs_exist_ok=True)
    result = materialize(fresh, "technician_schedule")
    assert result.success
    plan = table(fresh, "technician_schedule")
    assert len(plan) == 0 and list(plan.columns) == schemas.TECHNICIAN_SCHEDULE.names
