"""Data quality (files and rows the pipeline took in, why rows were quarantined, how fresh the data is)
and pipeline performance (ingest throughput per batch, run durations when the caller passes them)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from smart_maintenance.reporting.frames import LakeView, Window, plain, records, share, utc_column

FILE_STATUSES = ("ingested", "duplicate_file", "rejected")
ROW_COUNTS = ("rows_read", "rows_kept", "rows_quarantined", "rows_duplicate", "rows_replaced")
STALE_HOURS = 24.0  # an equipment whose newest reading is older than this at the as-of time is stale
RUN_COLUMNS = ["run_id", "job", "status", "started_at", "ended_at"]  # + optional ingest_seconds


def ledger(view: LakeView, window: Window) -> pd.DataFrame:
    """Ledger rows (one per landing file handled) written before the as-of time."""
    files = view.table("ingested_files")
    if files.empty:
        return files
    files = files.assign(ingested_at=utc_column(files, "ingested_at"))
    return files[files["ingested_at"] < window.as_of]


def data_quality(view: LakeView, window: Window, files: pd.DataFrame) -> dict[str, Any]:
    in_window = files[files["ingested_at"] >= window.begin] if len(files) else files
    return {
        "window": _file_counts(in_window) | {"quarantine_by_reason": _quarantine(view, window.begin, window.as_of)},
        "all_time": _file_counts(files) | {"quarantine_by_reason": _quarantine(view, None, window.as_of)},
        "rejected_files": records(in_window[in_window["status"] == "rejected"], ["source_file", "reason", "ingested_at"], 50)
        if len(in_window) else [],
        "readings_in_window": _readings_in_window(view, window),
        **_freshness(view, window),
    }


def _file_counts(files: pd.DataFrame) -> dict[str, Any]:
    counts = {"files": len(files)} | {f"files_{s}": int((files["status"] == s).sum()) if len(files) else 0
                                      for s in FILE_STATUSES}
    rows = {c: int(files[c].fillna(0).sum()) if c in files else 0 for c in ROW_COUNTS}
    return counts | rows | {"quarantined_share": share(rows["rows_quarantined"], rows["rows_read"])}


def _quarantine(view: LakeView, begin: pd.Timestamp | None, end: pd.Timestamp) -> list[dict[str, Any]]:
    """Quarantined rows by reason, of files ingested in [begin, end) (begin None: since the start)."""
    if not view.has("quarantine"):
        return []
    return records(view.sql(
        f"SELECT reason, count(*) AS rows, count(DISTINCT source_file) AS files FROM {view.scan('quarantine')} "
        "WHERE ingested_at >= ? AND ingested_at < ? GROUP BY ALL ORDER BY rows DESC, reason",
        [(begin if begin is not None else pd.Timestamp("1970-01-01", tz="UTC")).to_pydatetime(), end.to_pydatetime()]))


def _readings_in_window(view: LakeView, window: Window) -> int:
    if not view.has("sensor_readings"):
        return 0
    return int(view.sql(
        f"SELECT count(*) AS n FROM {view.scan('sensor_readings')} WHERE date BETWEEN ? AND ? AND timestamp >= ? AND timestamp < ?",
        [window.start, window.end, window.begin.to_pydatetime(), window.as_of.to_pydatetime()]).iloc[0]["n"])


def _freshness(view: LakeView, window: Window) -> dict[str, Any]:
    """Age of the newest reading at the as-of time, overall and per equipment (stale ones listed)."""
    if not view.has("sensor_readings"):
        return {"newest_reading_at": None, "freshness_hours": None, "stale_equipment": []}
    newest = view.sql(
        f"SELECT equipment_id, max(timestamp) AS newest FROM {view.scan('sensor_readings')} "
        "WHERE date <= ? AND timestamp <= ? GROUP BY ALL", [window.end, window.as_of.to_pydatetime()])
    if newest.empty:
        return {"newest_reading_at": None, "freshness_hours": None, "stale_equipment": []}
    newest["newest"] = utc_column(newest, "newest")
    newest["age_hours"] = (window.as_of - newest["newest"]).dt.total_seconds() / 3600
    stale = newest[newest["age_hours"] > STALE_HOURS].sort_values("age_hours", ascending=False)
    top = newest["newest"].max()
    return {"newest_reading_at": plain(top), "freshness_hours": plain((window.as_of - top).total_seconds() / 3600, 2),
            "stale_after_hours": STALE_HOURS, "stale_equipment": records(stale, ["equipment_id", "newest", "age_hours"], 50)}


def performance(files: pd.DataFrame, window: Window, runs: pd.DataFrame | None) -> dict[str, Any]:
    """Ingest batches of the window (files, readings) with their throughput when run times are known,
    and run durations per job. `runs`: run_id, job, status, started_at, ended_at [, ingest_seconds]."""
    batches = _batches(files, window)
    runs = _runs(runs, window)
    if len(batches) and runs is not None:
        timing = runs.set_index("run_id")
        seconds = timing["ingest_seconds"] if "ingest_seconds" in timing else pd.Series(dtype=float)
        seconds = batches["run_id"].map(seconds).fillna(batches["run_id"].map(timing["seconds"]))
        batches = batches.assign(seconds=seconds, readings_per_second=batches["readings_read"] / seconds.where(seconds > 0))
    rates = batches["readings_per_second"].dropna() if "readings_per_second" in batches else pd.Series(dtype=float)
    out: dict[str, Any] = {
        "batches": len(batches),
        "readings_per_second_median": plain(rates.median()) if len(rates) else None,
        "readings_per_second_max": plain(rates.max()) if len(rates) else None,
        "batch_list": records(batches, ["run_id", "ingested_at", "files", "readings_read", "rows_kept", "seconds",
                                        "readings_per_second"], 100),
    }
    if runs is None:
        return out | {"runs_available": False, "runs_note": "run durations not available (not passed by the caller)",
                      "runs_by_job": []}
    by_job = (runs.groupby("job").agg(runs=("run_id", "size"), failed=("failed", "sum"),
                                      median_seconds=("seconds", "median"), max_seconds=("seconds", "max"),
                                      total_seconds=("seconds", "sum")).reset_index().sort_values("total_seconds", ascending=False))
    return out | {"runs_available": True, "runs_note": "", "runs": len(runs), "runs_failed": int(runs["failed"].sum()),
                  "runs_by_job": records(by_job)}


def _batches(files: pd.DataFrame, window: Window) -> pd.DataFrame:
    if files.empty:
        return pd.DataFrame(columns=["run_id", "ingested_at", "files", "readings_read", "rows_kept"])
    files = files[files["ingested_at"] >= window.begin]
    readings = files["kind"].fillna("").str.startswith("readings") & (files["status"] == "ingested")
    files = files.assign(readings_read=files["rows_read"].where(readings, 0).fillna(0),
                         run_id=files["run_id"].fillna(files.get("batch", "")))
    return (files.groupby("run_id").agg(ingested_at=("ingested_at", "max"), files=("source_file", "size"),
                                        readings_read=("readings_read", "sum"), rows_kept=("rows_kept", "sum"))
            .reset_index().sort_values("ingested_at"))


def _runs(runs: pd.DataFrame | None, window: Window) -> pd.DataFrame | None:
    if runs is None:
        return None
    runs = runs.assign(started_at=utc_column(runs, "started_at"), ended_at=utc_column(runs, "ended_at"))
    runs = runs[(runs["started_at"] >= window.begin) & (runs["started_at"] < window.as_of)]
    return runs.assign(seconds=(runs["ended_at"] - runs["started_at"]).dt.total_seconds(),
                       failed=runs["status"].astype(str).str.upper().isin({"FAILURE", "FAILED", "CANCELED"}))
