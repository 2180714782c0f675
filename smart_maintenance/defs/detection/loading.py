"""What the detection assets read from the lake, in pieces that keep memory bounded.

Fitting and validating work per equipment (a sensor's baseline, an equipment's multivariate model, an
alert's corroboration and operating state never look at another equipment), so the lake is read in
one DuckDB query ordered by equipment and handed over one equipment at a time: at 5M readings the
process holds one equipment's rows in pandas, not the whole training window (issue 8). Alerts read
less: the anomalies, then only the score rows validation looks at, for a group of equipment at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.detection.config import DetectionConfig
from smart_maintenance.detection.resets import baseline_resets, empty_resets, fit_rebaselines, warmups
from smart_maintenance.reference import read_reference

READING_COLUMNS = ["timestamp", "equipment_id", "sensor_id", "value", "sensor_type"]
SENSOR_KEY = ["equipment_id", "sensor_id"]
BATCH_ROWS = 100_000
HISTORY_DAYS = 14  # how far back scoring looks for each sensor's `lookback_readings` earlier readings
# DuckDB sorts the rows by equipment before streaming them: past this it spills to disk instead of
# growing the process.
SORT_MEMORY_LIMIT = "512MB"
# Alerts are validated for groups of equipment of at most this many scores (validation reads some of them):
# bounded memory, without pandas calls per equipment (20 small frames cost more than one of their size).
ALERT_BATCH_ROWS = 2_000_000


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


def read_readings(root: DataRoot, days: list[str], per_sensor_limit: int | None = None,
                  except_sensors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Readings of some days (optionally only the latest `per_sensor_limit` of each sensor, optionally
    not those of the (equipment_id, sensor_id) pairs of `except_sensors`)."""
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return empty_readings()
    con = lake.connect()
    source = lake.files_sql(files)
    if except_sensors is not None:
        con.register("except_sensors", except_sensors[["equipment_id", "sensor_id"]])
        source += " ANTI JOIN except_sensors USING (equipment_id, sensor_id)"
    # With a limit, in sensor and time order: callers keep each sensor's latest rows by position (tail).
    order = " ORDER BY equipment_id, sensor_id, timestamp" if per_sensor_limit else ""
    sql = f"SELECT {', '.join(READING_COLUMNS)} FROM {source}{_latest(per_sensor_limit)}{order}"
    # Through Arrow: the same frame as DuckDB's .df(), with text columns in a quarter of the time (issue 8).
    return con.sql(sql).to_arrow_table().to_pandas()


@dataclass
class History:
    """The latest `n` readings of each sensor before the day being scored, read only as far as needed:
    a micro-batch that extends a day whose sensors have `n` readings of their own already needs none of
    them (reading them was a window query over `HISTORY_DAYS` days, a third of the scoring's time)."""

    root: DataRoot
    days: list[str]
    n: int
    frame: pd.DataFrame | None = None

    @classmethod
    def before(cls, root: DataRoot, day: str, n: int) -> History:
        """The history of `day`: from the `HISTORY_DAYS` days before it."""
        first = date.fromisoformat(day)
        return cls(root, [(first - timedelta(days=i)).isoformat() for i in range(HISTORY_DAYS, 0, -1)], n)

    def all(self) -> pd.DataFrame:
        if self.frame is None:
            self.frame = self._latest()
        return self.frame

    def needed_before(self, later: pd.DataFrame) -> pd.DataFrame:
        """What of it survives `concat([history, later]).groupby(sensor).tail(n)` (both in sensor and time
        order, `later` after all of it): the sensors with `n` readings in `later` keep none of theirs."""
        if self.frame is not None:
            return self.frame
        return self._latest(_with_at_least(later, self.n))

    def _latest(self, except_sensors: pd.DataFrame | None = None) -> pd.DataFrame:
        """The latest `n` readings of each sensor (but those of `except_sensors`) in `days`, in sensor and
        time order. The nearest day first: a sensor with `n` readings on it needs none of the days before
        (one read every minute makes 1,440 a day), so the window query that keeps each sensor's latest
        rows runs over one day's readings; the days before are still scanned, for the other sensors."""
        recent = read_readings(self.root, self.days[-1:], self.n, except_sensors=except_sensors)
        if len(self.days) < 2:
            return recent
        complete = _with_at_least(recent, self.n)
        skip = complete if except_sensors is None else pd.concat([except_sensors[SENSOR_KEY], complete], ignore_index=True)
        older = read_readings(self.root, self.days[:-1], self.n, except_sensors=skip)
        if len(recent) == 0 or len(older) == 0:  # one of them: an empty frame in a concat turns its columns to object
            return older if len(recent) == 0 else recent
        both = pd.concat([older, recent], ignore_index=True).sort_values(SENSOR_KEY, kind="stable")  # older first
        return both.groupby(SENSOR_KEY, sort=False).tail(self.n).reset_index(drop=True)

    def then(self, readings: pd.DataFrame) -> History:
        """The history of the day after the one whose `readings` these are (later than all of it)."""
        later = readings.sort_values([*SENSOR_KEY, "timestamp"], kind="stable")
        frame = pd.concat([self.all(), later]).groupby(SENSOR_KEY).tail(self.n)
        return History(self.root, [], self.n, frame)


def _with_at_least(readings: pd.DataFrame, n: int) -> pd.DataFrame:
    """The (equipment_id, sensor_id) pairs with at least `n` rows in `readings`."""
    counts = readings.groupby(SENSOR_KEY, as_index=False).size()
    return counts.loc[counts["size"] >= n, SENSOR_KEY].reset_index(drop=True)


def readings_by_equipment(root: DataRoot, days: list[str]) -> Iterator[pd.DataFrame]:
    """The readings of some days, one equipment per frame, in equipment order.

    No per-sensor limit here: DuckDB's window functions hold whole partitions in memory (a QUALIFY
    row_number() over 4M readings needs > 1 GB), the sort by equipment spills; the caller keeps the
    latest readings of each sensor of the chunk it holds (`fit_models_by_equipment` does)."""
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return
    yield from by_equipment(f"SELECT {', '.join(READING_COLUMNS)} FROM {lake.files_sql(files)} ORDER BY equipment_id")


def anomalies(root: DataRoot, equipment: list[str]) -> pd.DataFrame:
    """The anomalous score rows of the listed equipment, what episodes are made of (build_alerts)."""
    if not equipment:
        return pd.DataFrame(columns=["equipment_id", "sensor_id", "timestamp", "anomaly_score", "is_anomaly", "detectors_fired"])
    return lake.connect().sql(
        f"""SELECT equipment_id, sensor_id, timestamp, anomaly_score, is_anomaly, detectors_fired
            FROM {lake.scan_sql(root.lake, "anomaly_scores")} WHERE is_anomaly AND equipment_id IN ({_listed(equipment)})
            ORDER BY equipment_id, sensor_id, timestamp"""
    ).to_arrow_table().to_pandas()


def validation_scores(root: DataRoot, windows: pd.DataFrame, load_sensor_types: tuple[str, ...]) -> pd.DataFrame:
    """What validation reads of the scores (validation.rows_read) on the equipment-days holding an
    anomaly: every row of the load sensors of the windows' equipment, and the rows of each window's
    sensor in [start, end]. Not all of those days' rows (issue 8): on the benchmark plant 44% of them, the
    load sensors' nearly all."""
    columns = "timestamp, equipment_id, sensor_id, value, sensor_type, score_gap"
    scan = lake.scan_sql(root.lake, "anomaly_scores")
    listed = _listed(sorted(set(windows["equipment_id"])))
    is_load = f"coalesce(sensor_type IN ({_listed(load_sensor_types)}), false)" if load_sensor_types else "false"
    con = lake.connect()
    con.register("windows", pa.Table.from_pandas(windows, preserve_index=False))
    return con.sql(
        f"""WITH hot AS (SELECT DISTINCT equipment_id, date FROM {scan} WHERE is_anomaly AND equipment_id IN ({listed}))
            SELECT {columns} FROM {scan} SEMI JOIN hot USING (equipment_id, date) WHERE {is_load}
            UNION ALL
            SELECT {columns} FROM {scan} s SEMI JOIN hot USING (equipment_id, date)
                SEMI JOIN windows w ON w.equipment_id = s.equipment_id AND w.sensor_id = s.sensor_id
                                   AND s.timestamp BETWEEN w.start AND w."end"
            WHERE NOT {is_load}"""
    ).to_arrow_table().to_pandas()


def equipment_batches(rows: pd.Series, max_rows: int) -> list[list[str]]:
    """Equipment (the index of `rows`, its number of rows) in consecutive groups of at most `max_rows`
    rows (an equipment with more is a group of its own)."""
    batches: list[list[str]] = []
    held = 0
    for equipment_id, n in rows.sort_index().items():
        if not batches or held + n > max_rows:
            batches.append([])
            held = 0
        batches[-1].append(equipment_id)
        held += n
    return batches


def _listed(values: list[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


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


def first_readings_after(root: DataRoot, resets: pd.DataFrame, last_day: str, config: DetectionConfig,
                         columns: list[str] = READING_COLUMNS) -> pd.DataFrame:
    """The first `resets.readings` readings (`columns` of them) of each reset sensor in [reset_at, reset_at +
    max_duration), from the lake's days from the reset's up to `last_day`, with the reset they follow
    (`reset_at`). One query for all resets (one per reset cost ~10 ms each, issue 8)."""
    cfg = config.resets
    windows = _reset_windows(resets, last_day, cfg.max_duration)
    days = sorted({(first + timedelta(days=i)).isoformat() for first, last in zip(windows["first_day"], windows["last_day"])
                   for i in range((last - first).days + 1)})
    files = lake.partition_files(root.lake, "sensor_readings", "date", days)
    if not files:
        return empty_readings()[columns].assign(reset_at=pd.Series(dtype="datetime64[us, UTC]"))
    con = lake.connect()
    con.register("reset_windows", pa.Table.from_pandas(windows, schema=RESET_WINDOWS, preserve_index=False))
    found = lake.frame(con.sql(
        f"""SELECT {", ".join("s." + c for c in columns)}, w.position
            FROM {lake.files_sql(files)} s JOIN reset_windows w
              ON s.equipment_id = w.equipment_id AND (w.sensor_id IS NULL OR s.sensor_id = w.sensor_id)
             AND s.timestamp >= w.reset_at AND s.timestamp < w.until AND s.date BETWEEN w.first_day AND w.last_day
            QUALIFY row_number() OVER (PARTITION BY w.position, s.sensor_id ORDER BY s.timestamp) <= {cfg.readings}
            ORDER BY w.position, s.sensor_id, s.timestamp"""))
    con.close()
    if len(found) == 0:
        return empty_readings()[columns].assign(reset_at=pd.Series(dtype="datetime64[us, UTC]"))
    out = found[columns].copy()
    out["reset_at"] = resets["reset_at"].iloc[found["position"].to_numpy()].reset_index(drop=True)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("us")
    for col in ("equipment_id", "sensor_id"):
        out[col] = out[col].astype(object)
    return out


RESET_WINDOWS = pa.schema([("position", pa.int64()), ("equipment_id", pa.string()), ("sensor_id", pa.string()),
                           ("reset_at", pa.timestamp("us", tz="UTC")), ("until", pa.timestamp("us", tz="UTC")),
                           ("first_day", pa.date32()), ("last_day", pa.date32())])  # fmt: skip


def _reset_windows(resets: pd.DataFrame, last_day: str, max_duration: timedelta) -> pd.DataFrame:
    """Per reset (`position` in `resets`): its equipment, its sensor (None: every sensor), the time window
    [reset_at, until) of its first readings and the lake days to read them from."""
    at = pd.to_datetime(resets["reset_at"], utc=True).reset_index(drop=True)
    until = at + max_duration
    return pd.DataFrame({
        "position": np.arange(len(resets)),
        "equipment_id": resets["equipment_id"].astype(str).to_numpy(),
        "sensor_id": [s if isinstance(s, str) else None for s in resets["sensor_id"]],
        "reset_at": at, "until": until,
        "first_day": at.dt.date,
        "last_day": [min(u.date(), date.fromisoformat(last_day)) for u in until],
    })


def rebaselines_for(
    root: DataRoot, resets: pd.DataFrame, loaded: pd.DataFrame, last_day: str, config: DetectionConfig
) -> pd.DataFrame | None:
    """Re-baselines of `resets` (fit_rebaselines), reading the first readings after those in `loaded`
    (the others keep only their segment bounds); None when there are no resets."""
    if resets is None or len(resets) == 0:
        return None
    return fit_rebaselines(resets, first_readings_after(root, loaded, last_day, config), config)


def warmups_for(root: DataRoot, resets: pd.DataFrame, last_day: str, config: DetectionConfig) -> pd.DataFrame | None:
    """When the warm-up after each of `resets` ends (resets.warmups), from the readings in the lake up to
    `last_day`; None when there are no resets."""
    if resets is None or len(resets) == 0:
        return None
    first = first_readings_after(root, resets, last_day, config, ["timestamp", "equipment_id", "sensor_id"])
    return warmups(resets, first, config)
