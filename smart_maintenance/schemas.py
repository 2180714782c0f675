"""The lake's data contract: every dataset's columns and types, defined once.

Writers cast to these schemas, readers and checks compare against them, tests build frames from them.
Timestamps are UTC, microsecond precision. The partition column (e.g. `date`) lives in the folder name
(hive style), not inside the Parquet files.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

SENSOR_READINGS = pa.schema(
    [
        ("timestamp", TS),
        ("equipment_id", pa.string()),
        ("sensor_id", pa.string()),
        ("value", pa.float64()),
        ("sensor_type", pa.string()),
        ("unit", pa.string()),
        ("quality", pa.float64()),
        # 'known', 'unknown_sensor' or 'unknown_equipment': unknown ids are kept and flagged.
        ("reference_status", pa.string()),
        ("source_file", pa.string()),
        ("file_sha256", pa.string()),
        ("ingested_at", TS),
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("file_sha256", pa.string()),
        ("row_number", pa.int64()),  # 1-based data row in the source file (header excluded)
        ("reason", pa.string()),  # a stable phrase, e.g. 'non-numeric value'
        ("detail", pa.string()),  # the specifics, e.g. 'value 250.0 > valid_max 150.0'
        ("raw_timestamp", pa.string()),
        ("raw_equipment_id", pa.string()),
        ("raw_sensor_id", pa.string()),
        ("raw_value", pa.string()),
        ("ingested_at", TS),
    ]
)

# One row per landing file the pipeline has dealt with: the ledger that makes ingestion exactly-once
# and carries row conservation (rows_read = rows_kept + rows_quarantined + rows_duplicate).
INGESTED_FILES = pa.schema(
    [
        ("file_sha256", pa.string()),
        ("source_file", pa.string()),
        ("size_bytes", pa.int64()),
        ("kind", pa.string()),  # readings_long, readings_wide, maintenance_events, decisions
        ("status", pa.string()),  # ingested, duplicate_file, rejected
        ("rows_read", pa.int64()),
        ("rows_kept", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_duplicate", pa.int64()),
        ("rows_replaced", pa.int64()),  # kept rows that superseded an earlier value for the same key
        ("min_timestamp", TS),
        ("max_timestamp", TS),
        ("partitions", pa.list_(pa.string())),
        ("archived_to", pa.string()),  # where the source file went (archive/ or rejected/)
        ("reason", pa.string()),  # why a file was rejected or not ingested again
        ("run_id", pa.string()),
        ("ingested_at", TS),
    ]
)

MAINTENANCE_EVENTS = pa.schema(
    [
        ("timestamp", TS),
        ("equipment_id", pa.string()),
        ("event_type", pa.string()),
        ("request_id", pa.string()),
        ("technician_id", pa.string()),
        ("notes", pa.string()),
        ("source_file", pa.string()),
        ("file_sha256", pa.string()),
        ("row_number", pa.int64()),
        ("ingested_at", TS),
    ]
)

DECISIONS = pa.schema(
    [
        ("request_id", pa.string()),
        ("decision", pa.string()),
        ("operator", pa.string()),
        ("justification", pa.string()),
        ("decided_at", TS),
        ("source_file", pa.string()),
        ("file_sha256", pa.string()),
        ("row_number", pa.int64()),
    ]
)

EQUIPMENT = pa.schema(
    [
        ("equipment_id", pa.string()),
        ("site", pa.string()),
        ("type", pa.string()),
        ("criticality", pa.string()),  # low, medium, high, critical
    ]
)

SENSORS = pa.schema(
    [
        ("equipment_id", pa.string()),
        ("sensor_id", pa.string()),
        ("sensor_type", pa.string()),
        ("unit", pa.string()),
        ("valid_min", pa.float64()),
        ("valid_max", pa.float64()),
        ("alarm_limit", pa.float64()),
    ]
)

TECHNICIANS = pa.schema(
    [
        ("technician_id", pa.string()),
        ("name", pa.string()),
        ("skills", pa.string()),  # ';'-separated
        ("shift_start", pa.string()),  # HH:MM local time
        ("shift_end", pa.string()),
        ("timezone", pa.string()),  # IANA name, e.g. Europe/Berlin
    ]
)

# --- detection (issue 3); the detection modules own the extra columns ---
ANOMALY_SCORES = pa.schema(
    [
        ("timestamp", TS),
        ("equipment_id", pa.string()),
        ("sensor_id", pa.string()),
        ("value", pa.float64()),
        ("anomaly_score", pa.float64()),  # calibrated 0..1: 0.5 is every detector's decision boundary
        ("is_anomaly", pa.bool_()),  # anomaly_score >= the threshold of the sensor type
        ("sensor_type", pa.string()),
        # one calibrated 0..1 score per detector (smart_maintenance.detection.scoring.DETECTORS)
        ("score_deviation", pa.float64()),
        ("score_rate_of_change", pa.float64()),
        ("score_stuck", pa.float64()),
        ("score_gap", pa.float64()),
        ("score_out_of_range", pa.float64()),
        ("score_alarm_limit", pa.float64()),
        ("score_multivariate", pa.float64()),
        ("detectors_fired", pa.string()),  # ';'-joined detector names at or above the threshold
        ("model_version", pa.string()),  # Models.version used to score the reading
    ]
)

ALERTS = pa.schema(
    [
        ("alert_id", pa.string()),  # hash of equipment, sensor and episode start: stable across re-runs
        ("equipment_id", pa.string()),
        ("sensor_id", pa.string()),
        ("started_at", TS),
        ("ended_at", TS),
        ("severity", pa.string()),  # low, medium, high, critical
        ("validation_status", pa.string()),  # credible, needs_investigation, suspected_false_positive
        ("n_readings", pa.int64()),  # anomalous readings in the episode
        ("peak_score", pa.float64()),
        ("mean_score", pa.float64()),
        ("detectors_fired", pa.string()),  # ';'-joined, union over the episode
        ("is_open", pa.bool_()),  # still anomalous at the sensor's last scored reading
        ("validation_reasons", pa.string()),  # '; '-joined, human-readable
        ("sensor_fault", pa.bool_()),  # stuck / out of range / dropout: the sensor is suspect
        ("corroborating_sensors", pa.string()),  # ';'-joined other sensors of the equipment alerting
        ("data_quality", pa.float64()),  # share of the window's readings without gap or missing value
    ]
)

# --- forecasting (issue 4); smart_maintenance.forecasting owns these columns ---
EQUIPMENT_HEALTH = pa.schema(
    [
        ("equipment_id", pa.string()),
        ("date", TS),  # the day's start (UTC); the last day ends at as_of
        ("as_of", TS),
        ("health", pa.float64()),  # 1 = as new, towards 0 = far from the healthy baseline
        ("distance", pa.float64()),  # RMS over sensors of baseline scales moved towards the limit
        ("trend_per_day", pa.float64()),  # slope of distance per day over the last days
        ("contributing_sensors", pa.string()),  # '; '-joined 'sensor +z sd', strongest first
        ("n_sensors", pa.int64()),
    ]
)

FAILURE_FORECASTS = pa.schema(
    [
        ("equipment_id", pa.string()),
        ("as_of", TS),
        ("rul_hours", pa.float64()),  # median remaining life; null when beyond the horizon
        ("rul_lower_hours", pa.float64()),  # lower bound of the interval ("not before" when beyond horizon)
        ("rul_upper_hours", pa.float64()),  # null when unbounded within the horizon
        ("predicted_failure_at", TS),  # as_of + rul_hours; null when beyond the horizon (no made-up date)
        ("method", pa.string()),  # trend_prophet, learned_rul, none
        ("p_fail_7d", pa.float64()),
        ("p_fail_30d", pa.float64()),
        ("interval_level", pa.float64()),  # e.g. 0.8 for the 10 %..90 % interval
        ("beyond_horizon", pa.bool_()),
        ("drivers", pa.string()),  # '; '-joined: sensors and limits (trend) or model and deviations (learned)
        ("model_version", pa.string()),
    ]
)

# --- maintenance (issue 5): inputs handled, notifications ---
# Decision-file and maintenance-event rows already handled (lake dataset `request_inputs`).
REQUEST_INPUTS = pa.schema([
    ("source", pa.string()),  # decisions or maintenance_events
    ("file_sha256", pa.string()),
    ("row_number", pa.int64()),
    ("request_id", pa.string()),
    ("outcome", pa.string()),  # applied, refused (decisions: the whole file, nothing changed), ignored (events)
    ("detail", pa.string()),  # the error or why an event changed nothing
    ("processed_at", TS),
])  # fmt: skip

# Lake dataset `notification_outbox`: one row per message, its latest state.
NOTIFICATION_OUTBOX = pa.schema(
    [
        ("message_key", pa.string()),  # stable: the dedupe key
        ("kind", pa.string()),  # critical_alert, decision_needed, assignment
        ("recipient", pa.string()),  # 'operators' or a technician id
        ("address", pa.string()),  # e-mail address when known (technicians.csv `email`), else empty
        ("subject", pa.string()),
        ("body", pa.string()),
        ("ref_id", pa.string()),  # the alert or request the message is about
        ("created_at", TS),
        ("status", pa.string()),  # pending, rate_limited, sent, failed
        ("attempts", pa.int64()),
        ("last_attempt_at", TS),
        ("sent_at", TS),
        ("sinks", pa.string()),  # ';'-joined sinks that accepted it
        ("error", pa.string()),  # the last delivery error(s), per sink
    ]
)

# Lake dataset `notification_deliveries`: one row per (message, sink) delivery attempt.
NOTIFICATION_DELIVERIES = pa.schema(
    [
        ("message_key", pa.string()),
        ("recipient", pa.string()),
        ("sink", pa.string()),  # file, smtp, webhook
        ("status", pa.string()),  # sent, failed
        ("error", pa.string()),
        ("attempted_at", TS),
    ]
)

EVENT_TYPES = ("failure", "corrective_repair", "preventive_maintenance", "inspection", "replacement")
DECISION_VALUES = ("approve", "reject", "defer", "modify")

# Lake datasets written by the foundation, with the partition column their folders use (None: one
# folder per source file, keyed by its content hash).
DATASETS: dict[str, pa.Schema] = {
    "sensor_readings": SENSOR_READINGS,
    "quarantine": QUARANTINE,
    "ingested_files": INGESTED_FILES,
    "maintenance_events": MAINTENANCE_EVENTS,
    "decisions": DECISIONS,
    "equipment": EQUIPMENT,
    "sensors": SENSORS,
    "technicians": TECHNICIANS,
}


def empty_table(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()

# --- maintenance requests, audit and technician schedule (issue 5); smart_maintenance.maintenance owns them ---
MAINTENANCE_REQUESTS = pa.schema(
    [
        ("request_id", pa.string()),  # hash of equipment and the evidence that opened it: stable across re-runs
        ("equipment_id", pa.string()),
        ("status", pa.string()),  # pending_approval, approved, rejected, deferred, scheduled, in_progress, completed, cancelled
        ("priority", pa.int64()),  # 1 (most urgent) .. 4
        ("due_by", TS),
        ("request_type", pa.string()),  # urgent_corrective, preventive, inspection
        ("equipment_type", pa.string()),
        ("severity", pa.string()),  # highest severity of its alerts (None: forecast only)
        ("confidence", pa.float64()),  # 0..1: max of alert peak scores and forecast p_fail_7d
        ("hours_to_failure", pa.float64()),  # conservative (lower bound) at updated_at; None without forecast
        ("predicted_failure_at", TS),
        ("estimated_duration_hours", pa.float64()),
        ("required_skills", pa.string()),  # ';'-separated, all needed by the one technician doing it
        ("evidence_alert_ids", pa.string()),  # ';'-separated
        ("evidence_forecast_ids", pa.string()),  # ';'-separated
        ("reason", pa.string()),  # why the request exists / was last updated, human-readable
        ("approval_rule", pa.string()),  # the policy branch taken (policy.py)
        ("approval_reason", pa.string()),
        ("created_at", TS),
        ("updated_at", TS),
        ("status_changed_at", TS),
        ("actual_start", TS),
        ("actual_end", TS),
        ("actual_duration_hours", pa.float64()),
    ]
)

REQUEST_AUDIT = pa.schema(
    [
        ("request_id", pa.string()),
        ("from_status", pa.string()),  # None when the request is created
        ("to_status", pa.string()),
        ("actor", pa.string()),  # operator, 'policy', 'scheduler', 'requests', technician id
        ("at", TS),
        ("reason", pa.string()),
    ]
)

TECHNICIAN_SCHEDULE = pa.schema(
    [
        ("request_id", pa.string()),
        ("technician_id", pa.string()),
        ("start", TS),
        ("end", TS),
        ("equipment_id", pa.string()),
        ("request_type", pa.string()),
        ("priority", pa.int64()),
        ("due_by", TS),
        ("tardiness_hours", pa.float64()),  # max(0, end - due_by)
        ("late", pa.bool_()),  # ends after due_by
        ("overdue", pa.bool_()),  # due_by was already past when planned: placed as early as possible
        ("frozen", pa.bool_()),  # kept from the previous plan (started or inside the freeze window)
        ("method", pa.string()),  # cp_sat or greedy
        ("planned_at", TS),
    ]
)

UNSCHEDULED_REQUESTS = pa.schema(
    [
        ("request_id", pa.string()),
        ("equipment_id", pa.string()),
        ("priority", pa.int64()),
        ("due_by", TS),
        ("reason", pa.string()),  # e.g. 'no technician has the skills: ...', 'no capacity before the horizon end'
        ("planned_at", TS),
    ]
)
