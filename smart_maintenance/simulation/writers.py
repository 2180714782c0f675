"""How the simulated plant lands on disk: the readings layouts ingestion must cope with, deliberately
bad rows, maintenance events, reference data and the ground truth beside them.

Mixed layout: one file per equipment and calendar week (Monday 00:00 UTC), the equipment's format taken
in turn from `MIXED_ROTATION`; one file each is gzip-compressed, tab-delimited and in epoch milliseconds.
Every (equipment, sensor, slot) reading is in exactly one file. Bad rows go only into plain comma
long-CSV files (the other long CSVs only if a tiny plant has none), so the file still parses and each
bad row can be quarantined on its own.
CSV text is produced by Arrow (vectorised, > 1M rows/s); values are rounded to each sensor's decimals
before, so the same plant gives the same bytes.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from smart_maintenance import schemas
from smart_maintenance.simulation.faults import (
    EVENT_COLUMNS,
    FAILURE_COLUMNS,
    FAULT_COLUMNS,
    GAP_COLUMNS,
    EquipmentPlan,
    event_rows,
    failure_rows,
    fault_rows,
    gap_rows,
)

if TYPE_CHECKING:
    from smart_maintenance.simulation.plant import Equipment, TimeGrid

EVENTS_FILE = "maintenance/events.csv"
MIXED_ROTATION = ("long_utc", "wide", "parquet", "long_offset", "long_naive")
# (style of the equipment, style of the one file that deviates, which of its weekly files)
_SINGLE_FILES = (("long_utc", "gzip", 0), ("long_naive", "tsv", 0), ("long_offset", "epoch_ms", -1))
BAD_ROW_STYLES = ("long_utc", "long_offset", "long_naive")
_FALLBACK_BAD_ROW_STYLES = ("gzip", "tsv", "epoch_ms")  # still long CSV: for plants too small for the above
BAD_KINDS = (
    "value_na", "value_nan", "value_inf", "value_text", "out_of_range", "bad_timestamp", "empty_sensor_id",
)  # fmt: skip
MIN_BAD_ROWS = 8  # a handful even for tiny plants, so quarantine is always exercised
_BAD_TEXT = {"value_na": ["N/A"], "value_nan": ["NaN"], "value_inf": ["inf", "-inf"],
             "value_text": ["ERR", "#VALUE!", "sensor fault", "OVERRANGE"]}  # fmt: skip
_BAD_TIMESTAMPS = ["2026-02-30T10:00:00Z", "not a timestamp", "31/13/2026 25:61", "N/A"]
_DELIMITER = {"tsv": "\t", "wide": ";"}
_ISO = "%Y-%m-%dT%H:%M:%S"
WEEK, DAY = 7 * 86_400, 86_400


@dataclass(frozen=True)
class Piece:
    """Slots [start, stop) of one equipment, generated in one go (bounded size)."""

    equipment_id: str
    start: int
    stop: int


@dataclass(frozen=True)
class LandingFile:
    path: str  # relative to landing/, '/'-separated
    style: str  # one of MIXED_ROTATION or gzip, tsv, epoch_ms
    pieces: tuple[Piece, ...]
    bad_rows: tuple[int, ...]  # how many rows of each piece to spoil
    utc_offset_seconds: int = 0  # for long_offset: the site's offset at the file's first reading


@dataclass(frozen=True)
class ReadingBlock:
    """Readings of one piece: `values` and `present` are (slots x sensors), sensors as in `equipment`."""

    equipment: Equipment
    times: np.ndarray  # epoch seconds
    values: np.ndarray
    present: np.ndarray
    seed: tuple[int, ...]  # the writer's own random stream (quality, bad rows)


@dataclass(frozen=True)
class BadRow:
    source_file: str  # relative to landing/
    row_number: int  # 1-based data row, header excluded
    kind: str


class ReadingsWriter(Protocol):
    def append(self, block: ReadingBlock, n_bad: int) -> tuple[int, list[BadRow]]: ...
    def close(self) -> None: ...


def plan_landing_files(
    plant: tuple[Equipment, ...], grid: TimeGrid, layout: str, max_values: int
) -> list[LandingFile]:
    """Which readings go to which file, in which format.

    Both layouts cut the same pieces (week by week), so they carry the same values.
    """
    weeks = _weeks(grid)
    if layout == "long_csv":
        pieces = tuple(p for eq in plant for _, a, b in weeks for p in _pieces(eq, a, b, max_values))
        return [LandingFile("readings.csv", "long_utc", pieces, (0,) * len(pieces))]
    styles = {eq.equipment_id: MIXED_ROTATION[i % len(MIXED_ROTATION)] for i, eq in enumerate(plant)}
    single = {}
    for style, deviating, which in _SINGLE_FILES:
        first = next((eq_id for eq_id, s in styles.items() if s == style), None)
        if first is not None:
            single[(first, range(len(weeks))[which])] = deviating
    files = []
    for eq in plant:
        for w, (label, a, b) in enumerate(weeks):
            style = single.get((eq.equipment_id, w), styles[eq.equipment_id])
            pieces = _pieces(eq, a, b, max_values)
            first_time = datetime.fromtimestamp(int(grid.times(a, a + 1)[0]), UTC)
            offset = ZoneInfo(eq.timezone).utcoffset(first_time)
            path = _path(eq, style, label)
            files.append(LandingFile(path, style, pieces, (0,) * len(pieces), int(offset.total_seconds())))
    return files


def allocate_bad_rows(
    files: list[LandingFile], plant: tuple[Equipment, ...], fraction: float, seed: int
) -> list[LandingFile]:
    """Spread about `fraction` of all readings as bad rows over the pieces of plain long-CSV files.

    At least a handful (`MIN_BAD_ROWS`, at most a tenth of the readings) whenever `fraction` > 0.
    """
    sensors = {eq.equipment_id: len(eq.sensors) for eq in plant}
    size = {p: (p.stop - p.start) * sensors[p.equipment_id] for f in files for p in f.pieces}
    eligible = []
    for styles in (BAD_ROW_STYLES, _FALLBACK_BAD_ROW_STYLES):
        eligible = eligible or [(i, k) for i, f in enumerate(files) if f.style in styles for k in range(len(f.pieces))]
    if fraction <= 0 or not eligible:
        return files
    weights = np.array([size[files[i].pieces[k]] for i, k in eligible], dtype=float)
    total = sum(size.values())
    target = max(round(fraction * total), min(MIN_BAD_ROWS, total // 10))
    counts = np.random.default_rng([seed, 2]).multinomial(target, weights / weights.sum())
    per_file = {i: list(f.bad_rows) for i, f in enumerate(files)}
    for (i, k), count in zip(eligible, counts, strict=True):
        per_file[i][k] = int(count)
    return [replace(f, bad_rows=tuple(per_file[i])) for i, f in enumerate(files)]


@contextmanager
def open_readings_file(landing: Path, file: LandingFile) -> Iterator[ReadingsWriter]:
    path = landing / file.path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: ReadingsWriter
    if file.style == "parquet":
        writer = _ParquetWriter(path)
    elif file.style == "wide":
        writer = _WideCsvWriter(path)
    else:
        writer = _LongCsvWriter(path, file)
    try:
        yield writer
    finally:
        writer.close()


def write_record(
    root: Path, plant: tuple[Equipment, ...], plans: dict[str, EquipmentPlan], bad: list[BadRow], grid: TimeGrid
) -> int:
    """The maintenance log into landing/, the ground truth beside it; returns the number of failures."""
    events = [event for plan in plans.values() for event in plan.events]
    injected = [fault for plan in plans.values() for fault in plan.faults]
    write_csv(root / "landing" / EVENTS_FILE, EVENT_COLUMNS, event_rows(events, grid.iso))
    truth = root / "ground_truth"
    write_csv(truth / "faults.csv", FAULT_COLUMNS, fault_rows(injected, grid.iso))
    types = {eq.equipment_id: eq.equipment_type for eq in plant}
    failures = failure_rows(injected, events, types, grid.n, grid.iso)
    write_csv(truth / "failures.csv", FAILURE_COLUMNS, failures)
    bad = sorted(bad, key=lambda b: (b.source_file, b.row_number))
    rows = [[b.source_file, b.row_number, b.kind] for b in bad]
    write_csv(truth / "bad_rows.csv", ["source_file", "row_number", "kind"], rows)
    outages = {eq_id: plan.outages for eq_id, plan in plans.items()}
    write_csv(truth / "gaps.csv", GAP_COLUMNS, gap_rows(outages, grid.iso))
    return len(failures)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """Small CSV files (reference, events, ground truth): quoted only where needed, '\\n' line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def write_reference(folder: Path, plant: tuple[Equipment, ...], technicians: tuple) -> None:
    """equipment.csv, sensors.csv and technicians.csv with exactly the columns of the lake schemas."""
    write_csv(folder / "equipment.csv", schemas.EQUIPMENT.names,
              [[eq.equipment_id, eq.site, eq.equipment_type, eq.criticality] for eq in plant])  # fmt: skip
    write_csv(
        folder / "sensors.csv",
        schemas.SENSORS.names,
        [[eq.equipment_id, s.sensor_id, s.sensor_type, s.unit, _number(s.valid_min), _number(s.valid_max),
          _number(s.alarm_limit)] for eq in plant for s in eq.sensors],
    )  # fmt: skip
    write_csv(folder / "technicians.csv", schemas.TECHNICIANS.names,
              [[t.technician_id, t.name, ";".join(t.skills), t.shift_start, t.shift_end, t.timezone]
               for t in technicians])  # fmt: skip


class _CsvSink:
    """A (possibly gzip) CSV file: our own unquoted header, then Arrow-written rows."""

    def __init__(self, path: Path, columns: list[str], delimiter: str, compress: bool = False) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        # mtime=0 and no file name in the gzip header: the same plant gives the same bytes.
        gzipped = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0) if compress else None
        self._sink = gzipped or self._raw
        # Our own header: Arrow would quote the column names.
        self._sink.write((delimiter.join(columns) + "\n").encode())
        self._options = pcsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="none")
        self._writer: pcsv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pcsv.CSVWriter(self._sink, table.schema, write_options=self._options)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._sink.close()
        self._raw.close()


class _LongCsvWriter:
    def __init__(self, path: Path, file: LandingFile) -> None:
        self.file, self.rows = file, 0
        extra = ["sensor_type", "unit", "quality"] if file.style == "long_offset" else []
        columns = ["timestamp", "equipment_id", "sensor_id", "value", *extra]
        self._sink = _CsvSink(path, columns, _DELIMITER.get(file.style, ","), file.style == "gzip")

    def append(self, block: ReadingBlock, n_bad: int) -> tuple[int, list[BadRow]]:
        slot, sensor = np.nonzero(block.present)  # slot-major: a logger's export order
        sensors = block.equipment.sensors
        columns = {
            "timestamp": _timestamps(block.times, self.file.style, self.file.utc_offset_seconds).take(slot),
            "equipment_id": pa.array([block.equipment.equipment_id]).take(np.zeros(len(slot), dtype=np.int32)),
            "sensor_id": pa.array([s.sensor_id for s in sensors]).take(sensor),
            "value": pc.cast(pa.array(block.values[slot, sensor]), pa.string()),
        }
        rng = np.random.default_rng(block.seed)
        if self.file.style == "long_offset":
            columns["sensor_type"] = pa.array([s.sensor_type for s in sensors]).take(sensor)
            columns["unit"] = pa.array([s.unit for s in sensors]).take(sensor)
            doubtful = rng.random(len(slot)) < 0.02  # the logger's own doubt: a few readings below 1
            doubt = np.round(rng.uniform(0.5, 0.9, len(slot)), 2)
            columns["quality"] = pa.array(np.where(doubtful, doubt, 1.0))
        bad = _spoil(columns, sensor, sensors, rng, min(n_bad, len(slot)), self.rows, self.file.path)
        self._sink.write(pa.table(columns))
        self.rows += len(slot)
        return len(slot), bad

    def close(self) -> None:
        self._sink.close()


class _WideCsvWriter:
    """`;`-separated, a column per sensor and no equipment column: the folder names the equipment."""

    def __init__(self, path: Path) -> None:
        self._path, self._sink = path, None

    def append(self, block: ReadingBlock, n_bad: int) -> tuple[int, list[BadRow]]:
        if self._sink is None:  # the header needs the equipment's sensors, known with the first block
            header = ["timestamp", *(s.sensor_id for s in block.equipment.sensors)]
            self._sink = _CsvSink(self._path, header, ";")
        rows = np.nonzero(block.present.any(axis=1))[0]  # a dropout leaves an empty cell, an outage no row
        columns = {"timestamp": _timestamps(block.times, "wide", 0).take(rows)}
        for j, sensor in enumerate(block.equipment.sensors):
            columns[sensor.sensor_id] = pa.array(block.values[rows, j], mask=~block.present[rows, j])
        self._sink.write(pa.table(columns))
        return int(block.present.sum()), []

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


class _ParquetWriter:
    _SCHEMA = pa.schema([("timestamp", pa.timestamp("ms", tz="UTC")), ("equipment_id", pa.string()),
                         ("sensor_id", pa.string()), ("value", pa.float64())])  # fmt: skip

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, self._SCHEMA)

    def append(self, block: ReadingBlock, n_bad: int) -> tuple[int, list[BadRow]]:
        slot, sensor = np.nonzero(block.present)
        table = pa.table(
            [pa.array(block.times[slot] * 1000, pa.timestamp("ms", tz="UTC")),
             pa.array([block.equipment.equipment_id]).take(np.zeros(len(slot), dtype=np.int32)),
             pa.array([s.sensor_id for s in block.equipment.sensors]).take(sensor),
             pa.array(block.values[slot, sensor])],
            schema=self._SCHEMA,
        )  # fmt: skip
        self._writer.write_table(table)
        return len(slot), []

    def close(self) -> None:
        self._writer.close()


def _spoil(
    columns: dict[str, pa.Array], sensor: np.ndarray, sensors: tuple, rng: np.random.Generator, n_bad: int,
    rows_before: int, source: str,
) -> list[BadRow]:  # fmt: skip
    """Make `n_bad` random rows invalid (replacing their cells in `columns`) and say which and how.

    `sensor` holds each row's index into `sensors`; row numbers continue after `rows_before`.
    """
    if n_bad <= 0:
        return []
    rows = np.sort(rng.choice(len(sensor), size=n_bad, replace=False))
    kinds = rng.choice(BAD_KINDS, size=n_bad)
    edits: dict[str, dict[int, str]] = {"value": {}, "timestamp": {}, "sensor_id": {}}
    for row, kind in zip(rows.tolist(), kinds.tolist(), strict=True):
        if kind in _BAD_TEXT:
            edits["value"][row] = str(rng.choice(_BAD_TEXT[kind]))
        elif kind == "out_of_range":
            s = sensors[sensor[row]]
            span = (s.valid_max - s.valid_min) * rng.uniform(0.2, 1.0)
            value = s.valid_max + span if rng.random() < 0.7 else s.valid_min - span
            edits["value"][row] = f"{value:.{s.decimals}f}"
        elif kind == "bad_timestamp":
            edits["timestamp"][row] = str(rng.choice(_BAD_TIMESTAMPS))
        else:
            edits["sensor_id"][row] = ""
    for name, replacements in edits.items():
        if replacements:
            mask = np.zeros(len(sensor), dtype=bool)
            mask[list(replacements)] = True
            texts = pa.array([replacements[row] for row in sorted(replacements)], pa.string())
            columns[name] = pc.replace_with_mask(columns[name], pa.array(mask), texts)
    return [BadRow(source, rows_before + row + 1, kind) for row, kind in zip(rows.tolist(), kinds.tolist())]


def _timestamps(times: np.ndarray, style: str, offset: int) -> pa.Array:
    """One timestamp text per slot, in the style of the file (text even for epoch ms: a bad row may
    replace one)."""
    if style == "epoch_ms":
        return pc.cast(pa.array(times * 1000), pa.string())
    if style == "long_offset":
        sign, minutes = ("+" if offset >= 0 else "-"), abs(offset) // 60
        fmt = f"{_ISO}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        return pc.strftime(pa.array(times + offset, pa.timestamp("s")), format=fmt)
    fmt = _ISO if style == "long_naive" else f"{_ISO}Z"
    return pc.strftime(pa.array(times, pa.timestamp("s")), format=fmt)


def _weeks(grid: TimeGrid) -> list[tuple[str, int, int]]:
    """Calendar weeks (Monday 00:00 UTC) as (label, first slot, stop slot), empty weeks left out."""
    monday = grid.start - grid.start % DAY - ((grid.start // DAY + 3) % 7) * DAY
    weeks, first = [], 0
    while first < grid.n:
        stop = min(grid.n, grid.slot_at_or_after(monday + WEEK))
        if stop > first:
            weeks.append((datetime.fromtimestamp(monday, UTC).strftime("%Y-%m-%d"), first, stop))
        first, monday = max(first, stop), monday + WEEK
    return weeks


def _pieces(eq: Equipment, start: int, stop: int, max_values: int) -> tuple[Piece, ...]:
    step = max(1, max_values // len(eq.sensors))
    return tuple(Piece(eq.equipment_id, a, min(a + step, stop)) for a in range(start, stop, step))


def _path(eq: Equipment, style: str, label: str) -> str:
    if style == "wide":
        return f"{eq.equipment_id}/{label}.csv"
    suffix = {"parquet": ".parquet", "gzip": ".csv.gz", "tsv": ".tsv"}.get(style, ".csv")
    return f"{eq.site}/{eq.equipment_id}_{label}{suffix}"


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")
