"""What the detection assets read from the lake, in pieces that keep memory bounded.

Fitting and validating work per equipment (a sensor's baseline, an equipment's multivariate model, an
alert's corroboration and operating state never look at another equipment), so the lake is read in
one DuckDB query ordered by equipment and handed over one equipment at a time: at 5M readings the
process holds one equipment's rows in pandas, not the whole training window (issue 8).
"""

from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.resets import baseline_resets, empty_resets, fit_rebaselines
from smart_maintenance.reference import read_reference

READING_COLUMNS = ["timestamp", "equipment_id", "sensor_id", "value", "sensor_type"]
BATCH_ROWS = 100_000
# DuckDB sorts the rows by equipment before streaming them: past this it spills to disk instead of
# growing the process.
SORT_MEMORY_LIMIT = "512MB"


def empty_readings() -> pd.DataFrame:
    return pd.DataFrame(
        {c: pd.Series(dtype="datetime64[us, UTC]" if c == "timestamp" else object) for c in READING_COLUMNS}
    )


def _latest(per_sensor_limit: int | None) -> str:
    if not per_sensor_limit:
        return ""
    return (
        " QUALIFY row_number() OVER (PARTITION BY equipment_id, sensor_id ORDER BY timestamp DESC)"
        f" <= {per_sensor_limit}"
    )


def read_readings(root: DataRoot, days: list[str], per_sensor_limit: int | None = None) -> pd.DataFrame:
    """Readings of some days (optionally only the latest `per_sensor_limit` of each sensor)."""
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return empty_readings()
    sql = f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)}{_latest(per_sensor_limit)}"
    # Through Arrow: the same frame as DuckDB's .df(), with text columns in a quarter of the time (issue 8).
    return lake.connect().sql(sql).to_arrow_table().to_pandas()


def readings_by_equipment(root: DataRoot, days: list[str]) -> Iterator[pd.DataFrame]:
    """The readings of some days, one equipment per frame, in equipment order.

    No per-sensor limit here: DuckDB's window functions hold whole partitions in memory (a QUALIFY
    row_number() over 4M readings needs > 1 GB), the sort by equipment spills; the caller keeps the
    latest readings of each sensor of the chunk it holds (`fit_models_by_equipment` does)."""
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return
    yield from by_equipment(f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)} ORDER BY equipment_id")


# What alerts and their validation read from the scores (the other detector scores are not needed).
ALERT_INPUT_COLUMNS = [
    "timestamp",
    "equipment_id",
    "sensor_id",
    "value",
    "sensor_type",
    "anomaly_score",
    "is_anomaly",
    "detectors_fired",
    "score_gap",
]


def hot_scores_by_equipment(root: DataRoot, equipment: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Score rows of every equipment-day holding at least one anomaly, one equipment per frame (of the
    listed equipment only, if given)."""
    scan = lake.scan_sql(root.lake, "anomaly_scores")
    if equipment is not None:
        if not equipment:
            return
        listed = ", ".join("'" + e.replace("'", "''") + "'" for e in equipment)
        scan = f"(SELECT * FROM {scan} WHERE equipment_id IN ({listed}))"
    yield from by_equipment(
        f"""WITH s AS (SELECT {", ".join(ALERT_INPUT_COLUMNS)}, date FROM {scan}),
                 hot AS (SELECT DISTINCT equipment_id, date FROM s WHERE is_anomaly)
            SELECT s.* EXCLUDE (date) FROM s JOIN hot USING (equipment_id, date) ORDER BY equipment_id"""
    )


def by_equipment(sql: str) -> Iterator[pd.DataFrame]:
    """Rows of a query ordered by equipment_id, as one pandas frame per equipment."""
    con = lake.connect(memory_limit=SORT_MEMORY_LIMIT)
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    parts: list[pa.RecordBatch] = []
    current = None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        ids = batch.column(batch.schema.get_field_index("equipment_id")).to_numpy(zero_copy_only=False)
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ids)]):
            if current is not None and ids[a] != current:
                yield pa.Table.from_batches(parts).to_pandas()
                parts = []
            current = ids[a]
            parts.append(batch.slice(a, b - a))
    if parts:
        yield pa.Table.from_batches(parts).to_pandas()
    con.close()


def load_resets(root: DataRoot, config: DetectionConfig) -> pd.DataFrame:
    """The baseline resets of every maintenance event in the lake (resets.baseline_resets)."""
    if not lake.has_data(root.lake, "maintenance_events"):
        return empty_resets()
    events = lake.read_dataset(root.lake, "maintenance_events").to_pandas()
    return baseline_resets(events, config, read_reference(root.reference, "sensors").to_pandas())


def first_readings_after(root: DataRoot, resets: pd.DataFrame, last_day: str, config: DetectionConfig) -> pd.DataFrame:
    """The first `resets.readings` readings of each reset sensor in [reset_at, reset_at + max_duration),
    from the lake up to `last_day`, with the reset they follow (`reset_at`). One small query per reset:
    resets are rare, and each reads one equipment over a few days."""
    cfg, parts = config.resets, []
    con = lake.connect()
    for reset in resets.itertuples(index=False):
        end = reset.reset_at + cfg.max_duration
        first, last = reset.reset_at.date(), min(end.date(), date.fromisoformat(last_day))
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        files = lake.partition_files(root.lake, "sensor_readings", "date", days)
        if not files:
            continue
        own = isinstance(reset.sensor_id, str)
        sql = (
            f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)} "
            f"WHERE equipment_id = ? AND timestamp >= ? AND timestamp < ?{' AND sensor_id = ?' if own else ''} "
            f"QUALIFY row_number() OVER (PARTITION BY sensor_id ORDER BY timestamp) <= {cfg.readings}"
        )
        params = [reset.equipment_id, reset.reset_at.to_pydatetime(), end.to_pydatetime()] + (
            [reset.sensor_id] if own else []
        )
        found = con.sql(sql, params=params).df()
        if len(found):
            parts.append(found.assign(reset_at=reset.reset_at))
    con.close()
    if not parts:
        return empty_readings().assign(reset_at=pd.Series(dtype="datetime64[us, UTC]"))
    out = pd.concat(parts, ignore_index=True)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("us")
    for col in ("equipment_id", "sensor_id"):
        out[col] = out[col].astype(object)
    return out


def rebaselines_for(
    root: DataRoot, resets: pd.DataFrame, loaded: pd.DataFrame, last_day: str, config: DetectionConfig
) -> pd.DataFrame | None:
    """Re-baselines of `resets` (fit_rebaselines), reading the first readings after those in `loaded`
    (the others keep only their segment bounds); None when there are no resets."""
    if resets is None or len(resets) == 0:
        return None
    return fit_rebaselines(resets, first_readings_after(root, loaded, last_day, config), config)
