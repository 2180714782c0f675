"""Maintenance assets: requests with their audit log, the technician schedule, the notification outbox.

The rules live in `smart_maintenance.maintenance`; these assets load the lake, call the core, write the
lake and report what happened. Time is the data's now (the latest reading in the lake, or the
`MaintenanceResource.now` override), never the wall clock, so a replayed history plans as it happened.

State and who writes it (all under `lake/`, one Parquet file per dataset, atomic replace):
- `maintenance_requests` + `request_audit`: the requests and every status change (who, when, why);
- `request_inputs`: the decision-file and maintenance-event rows already handled (file_sha256,
  row_number), with the outcome: each row is applied once, a refused one is recorded with its error;
- `technician_schedule` + `unscheduled_requests`: the latest plan and what it could not place, with why;
- `notification_outbox` + `notification_deliveries`: messages and every delivery attempt.

Who sets `scheduled`: the `technician_schedule` asset itself. Deriving the status on the next run of
`maintenance_requests` would leave every planned request `approved` until new data arrives, and the
asset graph cannot have requests depend on the schedule (a cycle). So the schedule asset, once its plan
passed `plan_is_valid`, re-reads the requests under the requests lock and applies `mark_scheduled`
(approved -> scheduled, and back to approved for work a new plan dropped), audited as actor
'scheduler'. Every writer of the requests (this asset, the schedule, the `decide_request` job) holds
that lock around its read-modify-write, so none loses another's change. The schedule's status update is
deliberately *not* reported as a materialization of `maintenance_requests`: that would make the schedule
stale again and re-plan forever.
"""

import contextlib
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pyarrow as pa

from smart_maintenance import lake, schemas
from smart_maintenance.schemas import NOTIFICATION_DELIVERIES, NOTIFICATION_OUTBOX, REQUEST_INPUTS
from smart_maintenance.config import DataRoot
from smart_maintenance.defs.detection.assets import ON_ANY_UPDATE
from smart_maintenance.defs.maintenance.notifications import FileSink, SmtpSink, WebhookSink, active_sinks, deliver_all
from smart_maintenance.defs.maintenance.resources import MaintenanceResource, absences, holidays, technicians
from smart_maintenance.defs.metadata import OWNERS, column_schema, markdown_table
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance.maintenance import (
    DecisionError, apply_decisions, apply_events, check_plan, decisions_from_frame, mark_scheduled, plan_schedule,
    update_requests,
)  # fmt: skip
from smart_maintenance.maintenance.lifecycle import OPEN, empty_audit
from smart_maintenance.maintenance.notifications import (
    build_messages, plan_outbox, record_deliveries,
)  # fmt: skip
from smart_maintenance.maintenance.notifications import normalize as normalize_outbox
from smart_maintenance.maintenance.requests import empty_requests, normalize
from smart_maintenance.reference import read_reference

GROUP = "maintenance"
REQUEST_DEPS = ["alerts", "failure_forecasts", "maintenance_events", "decisions", "equipment"]
SCHEDULE_DEPS = ["maintenance_requests", "technicians"]
OUTBOX_DEPS = ["maintenance_requests", "technician_schedule", "alerts"]



# --- lake state ----------------------------------------------------------------------------------------

def _read(root: DataRoot, dataset: str) -> pd.DataFrame | None:
    path = root.lake / dataset / lake.DATA_FILE
    return lake.read_table(path).to_pandas() if path.exists() else None


def _write(root: DataRoot, dataset: str, frame: pd.DataFrame, schema: pa.Schema) -> None:
    # An empty frame's columns have no useful dtype (float64 under pandas 3): write the schema's empty table.
    table = schema.empty_table() if len(frame) == 0 else pa.Table.from_pandas(
        frame.reindex(columns=schema.names), schema=schema, preserve_index=False)
    lake.write_dataset(root.lake, dataset, table)


@contextlib.contextmanager
def requests_lock(root: DataRoot) -> Iterator[None]:
    """Serialises every read-modify-write of the requests and their audit (assets and the decide job)."""
    with lake.partition_locks(root.lake, "maintenance_requests", ["state"]):
        yield


def read_state(root: DataRoot) -> tuple[pd.DataFrame, pd.DataFrame]:
    requests, audit = _read(root, "maintenance_requests"), _read(root, "request_audit")
    return (normalize(requests) if requests is not None and len(requests) else empty_requests(),
            audit if audit is not None and len(audit) else empty_audit())


def write_state(root: DataRoot, requests: pd.DataFrame, audit: pd.DataFrame) -> None:
    # audit first: a crash in between leaves a logged change that the requests file does not show yet,
    # never a change without its audit record
    audit = audit.copy()
    audit["at"] = pd.to_datetime(audit["at"], utc=True)
    _write(root, "request_audit", audit, schemas.REQUEST_AUDIT)
    _write(root, "maintenance_requests", normalize(requests), schemas.MAINTENANCE_REQUESTS)


def read_schedule(root: DataRoot) -> pd.DataFrame | None:
    return _read(root, "technician_schedule")


def _alerts(root: DataRoot) -> pd.DataFrame | None:
    return _read(root, "alerts")


def _latest_forecasts(root: DataRoot) -> pd.DataFrame | None:
    if not lake.has_data(root.lake, "failure_forecasts"):
        return None
    return lake.frame(lake.connect().sql(
        f"SELECT * EXCLUDE (date) FROM {lake.scan_sql(root.lake, 'failure_forecasts')} "
        "QUALIFY row_number() OVER (PARTITION BY equipment_id ORDER BY as_of DESC) = 1"))


def _new_rows(root: DataRoot, dataset: str, processed: pd.DataFrame) -> pd.DataFrame:
    """Rows of decisions / maintenance_events not handled yet."""
    if not lake.has_data(root.lake, dataset):
        return pd.DataFrame(columns=schemas.DATASETS[dataset].names)
    rows = lake.read_dataset(root.lake, dataset).to_pandas()
    rows = rows.drop(columns=[c for c in rows.columns if c not in schemas.DATASETS[dataset].names])
    done = processed[processed["source"] == dataset]
    seen = set(zip(done["file_sha256"], done["row_number"].astype(int)))
    return rows[[(s, int(n)) not in seen for s, n in zip(rows["file_sha256"], rows["row_number"])]]


def _inputs(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=REQUEST_INPUTS.names)


def apply_decision_files(requests: pd.DataFrame, audit: pd.DataFrame, rows: pd.DataFrame, now: pd.Timestamp
                         ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each decision file is one all-or-nothing batch (the core's rule); a refused file changes nothing
    and every row of it is recorded with the error. Decisions take effect at the data's now; the file
    and row are appended to the justification so the audit says where a decision came from."""
    records = []
    if len(rows) == 0:
        return requests, audit, _inputs(records)
    rows = rows.assign(decided_at=pd.to_datetime(rows["decided_at"], utc=True)).sort_values(
        ["decided_at", "source_file", "file_sha256", "row_number"], kind="stable")
    for sha, batch in rows.groupby("file_sha256", sort=False):
        batch = batch.sort_values("row_number")
        frame = batch.assign(justification=[
            f"{(j or '').strip()} [decision file {f} row {n}]".strip()
            for j, f, n in zip(batch["justification"].fillna(""), batch["source_file"], batch["row_number"])]
        ).drop(columns=["decided_at"])
        try:
            requests, audit = apply_decisions(requests, audit, decisions_from_frame(frame), now)
            outcome, detail = "applied", ""
        except DecisionError as e:
            outcome, detail = "refused", f"file refused, nothing applied: {e}"
        records += [{"source": "decisions", "file_sha256": sha, "row_number": int(n), "request_id": r, "outcome": outcome,
                     "detail": detail, "processed_at": now} for n, r in zip(batch["row_number"], batch["request_id"])]
    return requests, audit, _inputs(records)


def apply_event_rows(requests: pd.DataFrame, audit: pd.DataFrame, rows: pd.DataFrame, schedule: pd.DataFrame | None,
                     now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Maintenance events close the loop (in progress, completed, actual durations); each row once."""
    if len(rows) == 0:
        return requests, audit, _inputs([])
    requests, audit, ignored = apply_events(requests, audit, rows, schedule)
    why = {} if len(ignored) == 0 else {(s, int(n)): r for s, n, r in
                                        zip(ignored["file_sha256"], ignored["row_number"], ignored["reason"])}
    records = [{"source": "maintenance_events", "file_sha256": s, "row_number": int(n), "request_id": r,
                "outcome": "ignored" if (s, int(n)) in why else "applied", "detail": why.get((s, int(n)), ""),
                "processed_at": now} for s, n, r in zip(rows["file_sha256"], rows["row_number"], rows["request_id"])]
    return requests, audit, _inputs(records)


def _rows(frame: pd.DataFrame, columns: list[str], limit: int = 30) -> list[dict]:
    return [{c: ("" if pd.isna(v) else (f"{v:%Y-%m-%d %H:%M}" if isinstance(v, pd.Timestamp) else v)) for c, v in r.items()}
            for r in frame[columns].head(limit).to_dict("records")]


def _fingerprints(requests: pd.DataFrame) -> dict[str, tuple]:
    """What a human would call a change of a request, per request id."""
    columns = ["status", "priority", "due_by", "request_type", "evidence_alert_ids", "evidence_forecast_ids", "actual_end"]
    return {r[0]: tuple(str(v) for v in r[1:]) for r in requests[["request_id", *columns]].itertuples(index=False)}


def _counts(series: pd.Series) -> str:
    return ", ".join(f"{k} {v}" for k, v in series.value_counts().sort_index().items()) or "none"


# --- maintenance_requests ------------------------------------------------------------------------------

@dg.asset(
    deps=REQUEST_DEPS,
    automation_condition=ON_ANY_UPDATE,
    group_name=GROUP, kinds={"pandas", "parquet"}, owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.MAINTENANCE_REQUESTS), "lake_path": "lake/maintenance_requests/",
              "audit_path": "lake/request_audit/"},
    check_specs=[
        dg.AssetCheckSpec("one_open_request_per_equipment", asset="maintenance_requests", blocking=True,
                          description="An equipment problem has at most one open request (new evidence updates it)."),
        dg.AssetCheckSpec("decision_files_applied", asset="maintenance_requests",
                          description="Every decision-file row of this run was applied (a refused file is listed with its error)."),
    ],
)
def maintenance_requests(context: dg.AssetExecutionContext, data_root: DataRootResource, maintenance: MaintenanceResource):
    """Maintenance requests from credible validated alerts and the latest failure forecasts: one open
    request per equipment problem (new evidence updates it), with type, priority, due_by, estimated
    duration, required skills and evidence; new requests go through the approval policy. Decision files
    not yet applied and maintenance events (work started / completed, actual durations) are applied
    here too. Every status change is appended to `request_audit` (who, when, why)."""
    root, config = data_root.get(), maintenance.config(data_root.get())
    now = maintenance.current_time(root)
    with requests_lock(root):
        requests, audit = read_state(root)
        if now is None:
            write_state(root, requests, audit)
            yield dg.MaterializeResult(metadata={"dagster/row_count": len(requests), "note": "no readings yet"})
            yield dg.AssetCheckResult(check_name="one_open_request_per_equipment", passed=True)
            yield dg.AssetCheckResult(check_name="decision_files_applied", passed=True)
            return
        before = _fingerprints(requests)
        n_audit = len(audit)
        equipment = read_reference(root.reference, "equipment").to_pandas()
        events = lake.read_dataset(root.lake, "maintenance_events").to_pandas() if lake.has_data(root.lake, "maintenance_events") else None
        requests, audit = update_requests(requests, _alerts(root), _latest_forecasts(root), now, equipment, config, audit,
                                          events[events["timestamp"] <= now] if events is not None else None)
        processed = _read(root, "request_inputs")
        processed = processed if processed is not None else _inputs([])
        requests, audit, decided = apply_decision_files(requests, audit, _new_rows(root, "decisions", processed), now)
        requests, audit, events = apply_event_rows(requests, audit, _new_rows(root, "maintenance_events", processed),
                                                   read_schedule(root), now)
        handled = pd.concat([f for f in (processed, decided, events) if len(f)], ignore_index=True) if (
            len(processed) or len(decided) or len(events)) else _inputs([])
        _write(root, "request_inputs", handled, REQUEST_INPUTS)
        write_state(root, requests, audit)

    new = requests[~requests["request_id"].isin(before.keys())]
    after = _fingerprints(requests)
    updated = [r for r in before if after.get(r) != before[r]]
    open_ = requests[requests["status"].isin(OPEN)].sort_values(["priority", "due_by", "request_id"])
    duplicates = open_.groupby("equipment_id").size()
    duplicates = duplicates[duplicates > 1]
    refused = decided[decided["outcome"] == "refused"]
    changes = audit.iloc[n_audit:]
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": len(requests),
        "now": str(now),
        "new_requests": len(new), "updated_requests": len(updated),
        "open_requests": len(open_), "pending_approval": int((requests["status"] == "pending_approval").sum()),
        "by_status": _counts(requests["status"]), "by_type": _counts(open_["request_type"]),
        "decisions_applied": int((decided["outcome"] == "applied").sum()), "decisions_refused": len(refused),
        "events_applied": int((events["outcome"] == "applied").sum()) if len(events) else 0,
        "status_changes": len(changes),
        "open": markdown_table(_rows(open_, ["request_id", "equipment_id", "status", "request_type", "priority", "due_by",
                                            "estimated_duration_hours", "required_skills", "approval_rule"])),
        "changes": markdown_table(_rows(changes, ["request_id", "from_status", "to_status", "actor", "at", "reason"])),
    })
    yield dg.AssetCheckResult(check_name="one_open_request_per_equipment", passed=len(duplicates) == 0,
                              metadata={"equipment_with_several_open": ", ".join(duplicates.index) or "none"})
    yield dg.AssetCheckResult(
        check_name="decision_files_applied", passed=len(refused) == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"refused_rows": len(refused),
                  "refused": markdown_table(_rows(refused, ["file_sha256", "row_number", "request_id", "detail"]))})


# --- technician_schedule -------------------------------------------------------------------------------

@dg.asset(
    deps=SCHEDULE_DEPS,
    automation_condition=ON_ANY_UPDATE,
    group_name=GROUP, kinds={"ortools", "parquet"}, owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(schemas.TECHNICIAN_SCHEDULE), "lake_path": "lake/technician_schedule/",
              "unscheduled_path": "lake/unscheduled_requests/"},
    check_specs=[dg.AssetCheckSpec(
        "plan_is_valid", asset="technician_schedule", blocking=True,
        description="Every assignment: an approved request, a technician with all its skills, inside one of the "
                    "technician's shifts (time zone, holidays, absences), no overlaps, long enough.")],
)
def technician_schedule(context: dg.AssetExecutionContext, data_root: DataRootResource, maintenance: MaintenanceResource):
    """The technicians' plan for the approved requests, from OR-Tools CP-SAT over a rolling horizon on a
    15-minute grid: skills, shifts in each technician's time zone, holidays and absences, no double
    booking; minimises priority-weighted tardiness, then unscheduled work, then changes to the previous
    plan (work started or starting within the freeze window is kept). Requests it cannot place are in
    `unscheduled_requests` with the reason. Planned requests become `scheduled` (audited, actor 'scheduler')."""
    root, config = data_root.get(), maintenance.config(data_root.get())
    now = maintenance.current_time(root)
    requests, _ = read_state(root)
    crew = technicians(root)
    if now is None:
        _write(root, "technician_schedule", pd.DataFrame(), schemas.TECHNICIAN_SCHEDULE)
        _write(root, "unscheduled_requests", pd.DataFrame(), schemas.UNSCHEDULED_REQUESTS)
        yield dg.MaterializeResult(metadata={"dagster/row_count": 0, "note": "no readings yet"})
        yield dg.AssetCheckResult(check_name="plan_is_valid", passed=True)
        return
    days_off, away = holidays(root), absences(root)
    result = plan_schedule(requests, crew, now, config, previous_plan=read_schedule(root), holidays=days_off, absences=away)
    passed, check = check_plan(result.schedule, requests, crew, config, now=now, holidays=days_off, absences=away)
    _write(root, "technician_schedule", result.schedule, schemas.TECHNICIAN_SCHEDULE)
    _write(root, "unscheduled_requests", result.unscheduled, schemas.UNSCHEDULED_REQUESTS)
    marked = 0
    if passed:  # an invalid plan is written for inspection but never turns requests into 'scheduled'
        with requests_lock(root):
            current, audit = read_state(root)
            n = len(audit)
            current, audit = mark_scheduled(current, audit, result.schedule, now)
            if len(audit) > n:
                write_state(root, current, audit)
            marked = len(audit) - n

    meta = result.metadata()
    number = lambda v: dg.MetadataValue.null() if v is None else float(v)  # noqa: E731
    s, u = result.schedule, result.unscheduled
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": len(s),
        "now": str(now),
        "method": result.method, "solver_status": result.status,
        "objective": number(result.objective), "best_bound": number(result.best_bound), "gap": number(result.gap),
        "solve_seconds": round(result.solve_seconds, 3),
        "scheduled": len(s), "unscheduled": len(u), "late": int(s["late"].sum()) if len(s) else 0,
        "overdue": int(s["overdue"].sum()) if len(s) else 0, "frozen": int(s["frozen"].sum()) if len(s) else 0,
        "weighted_tardiness_hours": float(meta.get("weighted_tardiness_hours", 0.0)),
        "status_changes": marked,
        "unscheduled_reasons": markdown_table(_rows(u, ["request_id", "equipment_id", "priority", "due_by", "reason"])),
        "assignments": markdown_table(_rows(s, ["technician_id", "request_id", "equipment_id", "priority", "start", "end",
                                               "due_by", "late", "overdue", "frozen"])),
    })
    yield dg.AssetCheckResult(
        check_name="plan_is_valid", passed=passed,
        description="plan valid" if passed else f"{check['violations']} hard-constraint violation(s)",
        metadata={"violations": check["violations"], "assignments": check["assignments"],
                  **{f"violations_{k}": v for k, v in check["by_check"].items()},
                  "examples": "; ".join(check["examples"]) or "none"})


# --- notification_outbox -------------------------------------------------------------------------------

@dg.asset(
    deps=OUTBOX_DEPS,
    automation_condition=ON_ANY_UPDATE,
    group_name=GROUP, kinds={"pandas", "parquet"}, owners=OWNERS,
    metadata={"dagster/column_schema": column_schema(NOTIFICATION_OUTBOX), "lake_path": "lake/notification_outbox/",
              "deliveries_path": "lake/notification_deliveries/"},
)
def notification_outbox(context: dg.AssetExecutionContext, data_root: DataRootResource, maintenance: MaintenanceResource,
                        notification_file: FileSink, notification_smtp: SmtpSink, notification_webhook: WebhookSink):
    """Messages for people: critical credible alerts and decisions needed (to operators), new or changed
    assignments (to each technician). A stable key per message deduplicates (re-running sends nothing
    new); a per-recipient rate limit holds the excess as `rate_limited` (released later, never dropped).
    Pending messages are delivered through the configured sinks (file by default, SMTP, webhook); each
    attempt is recorded as sent or failed with the error in `notification_deliveries`."""
    root = data_root.get()
    cfg = maintenance.outbox_config()
    now = maintenance.current_time(root)
    previous = _read(root, "notification_outbox")
    if now is None:
        _write(root, "notification_outbox", normalize_outbox(previous), NOTIFICATION_OUTBOX)
        return dg.MaterializeResult(metadata={"dagster/row_count": 0 if previous is None else len(previous),
                                              "note": "no readings yet"})
    requests, _ = read_state(root)
    crew = technicians(root)
    candidates = build_messages(now, _alerts(root), requests, read_schedule(root), crew, previous, cfg)
    addresses = {str(t): str(e) for t, e in zip(crew["technician_id"], crew["email"]) if isinstance(e, str) and e.strip()}
    known = set() if previous is None else set(previous["message_key"])
    outbox = plan_outbox(previous, candidates, now, cfg, addresses)
    sinks = active_sinks(notification_file, notification_smtp, notification_webhook)
    due = outbox[outbox["status"] == "pending"].to_dict("records")
    deliveries = deliver_all(due, sinks, root.root)
    outbox, attempts = record_deliveries(outbox, deliveries, now)
    _write(root, "notification_outbox", outbox, NOTIFICATION_OUTBOX)
    history = _read(root, "notification_deliveries")
    if len(attempts):
        history = attempts if history is None or len(history) == 0 else pd.concat([history, attempts], ignore_index=True)
        _write(root, "notification_deliveries", history, NOTIFICATION_DELIVERIES)

    failed = attempts[attempts["status"] == "failed"]
    for row in failed.itertuples():
        context.log.warning(f"Delivery of {row.message_key} via {row.sink} failed: {row.error}")
    new = outbox[~outbox["message_key"].isin(known)]
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(outbox),
        "now": str(now),
        "sinks": ", ".join(sinks) or "none",
        "new_messages": len(new), "new_by_kind": _counts(new["kind"]),
        "delivered": int((attempts["status"] == "sent").sum()), "delivery_failures": len(failed),
        "by_status": _counts(outbox["status"]),
        "rate_limited": int((outbox["status"] == "rate_limited").sum()),
        "failures": markdown_table(_rows(failed, ["message_key", "sink", "error"])),
        "new": markdown_table(_rows(new, ["kind", "recipient", "subject", "status"])),
    })


ASSETS = [maintenance_requests, technician_schedule, notification_outbox]
CHECKS: list = []  # the checks are declared on the assets (check_specs), so they run in the same step

# What the one-shot run plans after the forecasts (runner.downstream_plan), in order: (step, asset, inputs).
STEPS = (
    ("maintenance requests", "maintenance_requests", REQUEST_DEPS),
    ("technician schedule", "technician_schedule", SCHEDULE_DEPS),
    ("notifications", "notification_outbox", OUTBOX_DEPS),
)
