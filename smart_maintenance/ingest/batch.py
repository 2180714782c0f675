"""Ingesting a batch of landing files: read, validate, merge, quarantine, record, archive.

For every file: rows read = rows kept + rows quarantined + duplicates (see `merge.py` for the
duplicate rule), recorded in the `ingested_files` ledger. A file's content is ingested once: the
ledger marks each content hash, and a per-content lock serialises concurrent runs that were handed
the same file (sensor, schedule and one-shot command share this code). A file that cannot be read at
all goes to `rejected/` with its reason; the batch goes on with the next file.

On an object store (`storage.py`) each landing object is read once into a local temporary copy that
every step (hash, sniffing, parsing) then uses; the object itself is moved when the batch is recorded.

Confinement: a name handed in (by the sensor, a schedule or a run's config) that is absolute, holds a
`..` part or lies under a symbolically linked folder is `refused`: it is neither read nor moved, so
nothing outside `landing/` is ever read and nothing outside the data root is ever written.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

import duckdb
import pyarrow as pa

from smart_maintenance import lake, schemas, storage
from smart_maintenance.config import DataRoot
from smart_maintenance.ingest import events, landing, validate
from smart_maintenance.ingest.layout import detect_layout
from smart_maintenance.ingest.merge import merge_readings
from smart_maintenance.ingest.source import UnreadableFile, read_source
from smart_maintenance.reference import Reference

LEDGER = "ingested_files"


@dataclass(frozen=True)
class IngestSettings:
    future_tolerance_seconds: float = 3600.0
    max_file_bytes: int = 2 * 1024**3
    max_rows: int = 50_000_000


@dataclass
class FileOutcome:
    source_file: str
    status: str  # ingested, duplicate_file, rejected, gone (taken by another run), refused (outside landing/)
    kind: str | None = None
    sha256: str | None = None
    size_bytes: int = 0
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_replaced: int = 0
    partitions: list[str] = field(default_factory=list)
    min_timestamp: datetime | None = None
    max_timestamp: datetime | None = None
    reason: str | None = None
    moved_to: str | None = None

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.rows_kept + self.rows_quarantined + self.rows_duplicate


@dataclass
class BatchResult:
    batch_id: str
    files: list[FileOutcome]

    @property
    def partitions(self) -> list[str]:
        return sorted({p for f in self.files if f.kind and f.kind.startswith("readings") for p in f.partitions})

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.files if f.kind and f.status == "ingested"}


def default_equipment_id(relpath: str) -> str:
    """Equipment id for files that carry none: the landing sub-folder's name, else the file stem."""
    p = PurePosixPath(relpath)
    if len(p.parts) > 1:
        return p.parent.name
    name = p.name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def ingest_batch(root: DataRoot, relpaths: list[str], *, now: datetime, batch_id: str,
                 settings: IngestSettings = IngestSettings(), run_id: str | None = None) -> BatchResult:
    """Ingest the given landing files (paths relative to `landing/`) as one batch."""
    root.ensure()
    with contextlib.ExitStack() as staged:
        return _ingest_batch(root, relpaths, staged, now=now, batch_id=batch_id, settings=settings, run_id=run_id)


def _ingest_batch(root: DataRoot, relpaths: list[str], staged: contextlib.ExitStack, *, now: datetime, batch_id: str,
                  settings: IngestSettings, run_id: str | None) -> BatchResult:
    outcomes: list[FileOutcome] = []
    candidates: list[tuple[FileOutcome, Path]] = []
    for rel in relpaths:
        out = FileOutcome(source_file=rel, status="pending")
        outcomes.append(out)
        if not _inside(root.landing, rel):
            out.status, out.reason = "refused", "not a path inside landing/ (absolute, '..' or a linked folder): not touched"
            continue
        path = root.landing / rel
        if not path.exists() and not path.is_symlink():
            out.status, out.reason = "gone", "no longer in landing/ (handled by another run)"
        elif path.is_symlink():
            _reject(root, out, "symbolic links are not followed; copy the file itself into landing/", now, run_id)
        elif not path.is_file():
            _reject(root, out, "not a regular file (a pipe, socket or device); only files are read", now, run_id)
        elif (size := path.stat().st_size) > settings.max_file_bytes:
            out.size_bytes = size
            _reject(root, out, f"file is {size} bytes, above the limit of {settings.max_file_bytes} (max_file_bytes)", now, run_id)
        else:
            out.size_bytes = size
            try:
                local = staged.enter_context(storage.local_copy(path))
                out.sha256 = landing.file_sha256(local)
            except FileNotFoundError:
                out.status, out.reason = "gone", "no longer in landing/ (handled by another run)"
                continue
            except OSError as exc:  # e.g. permission denied: say so and move on
                _reject(root, out, f"the file cannot be opened: {exc.strerror or exc}", now, run_id)
                continue
            candidates.append((out, local))

    shas = [out.sha256 for out, _ in candidates]
    with lake.partition_locks(root.lake, ".files", shas):
        fresh = []
        for out, path in candidates:
            if not (root.landing / out.source_file).exists():
                out.status, out.reason = "gone", "no longer in landing/ (handled by another run)"
            elif _marker(root, out.sha256).exists() or out.sha256 in {o.sha256 for o, _ in fresh}:
                out.status, out.reason = "duplicate_file", "the same content was ingested before"
            else:
                fresh.append((out, path))
        _ingest_contents(root, fresh, now=now, settings=settings, run_id=run_id)
        # Ledger and markers first, then the move: a crash in between leaves a file in landing/ that the
        # next run recognises as a duplicate, never one ingested twice.
        targets = {}
        for out, _ in candidates:
            if out.status in ("ingested", "duplicate_file"):
                targets[out.source_file] = landing.archive_target(root.archive, out.source_file, out.sha256)
                out.moved_to = targets[out.source_file].relative_to(root.root).as_posix()
        done = [o for o in outcomes if o.status in ("ingested", "duplicate_file", "rejected")]
        _write_ledger(root, batch_id, done, now, run_id)
        for out, _ in candidates:
            if out.status == "ingested":
                storage.write_bytes_atomic(_marker(root, out.sha256), b"", fsync=False)
            if out.source_file in targets:
                landing.move_file(root.landing, out.source_file, targets[out.source_file])
    return BatchResult(batch_id=batch_id, files=outcomes)


def _inside(landing: Path, rel: str) -> bool:
    """Whether `rel` names an entry of landing/ itself (its folders real folders inside landing/)."""
    parts = PurePosixPath(rel).parts
    if not rel or PurePosixPath(rel).is_absolute() or ".." in parts or "\0" in rel:
        return False
    if storage.is_remote(landing):
        return True  # object keys: no links, and '..' was refused above
    base = landing.resolve()
    parent = (landing / rel).parent.resolve()
    return parent == base or base in parent.parents


def _marker(root: DataRoot, sha256: str) -> Path:
    return root.lake / ".index" / "ingested" / sha256


def _reject(root: DataRoot, out: FileOutcome, reason: str, now: datetime, run_id: str | None) -> None:
    target = landing.reject_file(root.landing, root.rejected, out.source_file, reason, sha256=out.sha256, now=now, run_id=run_id)
    out.status, out.reason, out.moved_to = "rejected", reason, target.relative_to(root.root).as_posix()


def _ingest_contents(root: DataRoot, files: list[tuple[FileOutcome, Path]], *, now: datetime,
                     settings: IngestSettings, run_id: str | None) -> None:
    con = lake.connect(memory_limit=lake.INGEST_MEMORY_LIMIT)
    ref = Reference.load(root.reference)
    con.register("ref_sensors", ref.sensors)
    con.register("ref_equipment", ref.equipment)
    con.register("valid_schema", schemas.SENSOR_READINGS.empty_table())
    con.execute("CREATE TEMP TABLE valid AS SELECT *, 0 AS file_idx, 0::BIGINT AS row_number FROM valid_schema")
    readings: dict[int, FileOutcome] = {}
    for idx, (out, path) in enumerate(files):
        try:
            raw = read_source(path, con, max_bytes=settings.max_file_bytes)
            if raw.table.num_rows + len(raw.malformed) > settings.max_rows:
                raise UnreadableFile(f"more than {settings.max_rows} rows (max_rows)")
            con.register("raw", raw.table)
            layout = detect_layout(raw.columns, validate.first_column_is_time(con, "raw") if raw.columns else False)
            out.kind = layout.kind
            if layout.kind.startswith("readings"):
                checked = validate.checked_readings_sql(
                    validate.normalized_readings_sql("raw", layout, default_equipment_id(out.source_file)),
                    now, settings.future_tolerance_seconds, raw.decimal_comma)
                con.execute(f"CREATE OR REPLACE TEMP TABLE checked AS {checked}")
                (n_read,) = con.execute("SELECT count(*) FROM checked").fetchall()[0]
                quarantine = con.sql(
                    "SELECT row_number, reason, detail, raw_ts, raw_eq, raw_sensor, raw_value FROM checked WHERE reason IS NOT NULL"
                ).to_arrow_table()
                con.execute(
                    f"INSERT INTO valid SELECT timestamp, equipment_id, sensor_id, value, sensor_type, unit, quality, "
                    f"reference_status, ?, ?, ?, {idx}, row_number FROM checked WHERE reason IS NULL",
                    [out.source_file, out.sha256, now],
                )
                out.min_timestamp, out.max_timestamp = con.sql(
                    "SELECT min(timestamp), max(timestamp) FROM checked WHERE reason IS NULL").fetchall()[0]
                con.execute("DROP TABLE checked")  # free it before the next file: memory stays per-file
                readings[idx] = out
            else:
                n_read, quarantine = events.ingest_event_file(con, root.lake, layout, out, now)
            out.rows_read = n_read + len(raw.malformed)
            _write_quarantine(root.lake, out, quarantine, raw.malformed, now)
            out.status = "ingested"
        except UnreadableFile as exc:
            _reject(root, out, str(exc), now, run_id)
        except duckdb.Error as exc:
            _reject(root, out, f"the file could not be processed: {str(exc).splitlines()[0]}", now, run_id)
        except OSError as exc:
            _reject(root, out, f"the file cannot be read: {exc.strerror or exc}", now, run_id)
        finally:
            with contextlib.suppress(Exception):
                con.unregister("raw")
            raw = None  # the file's text table: not kept alive through the next file and the merge
    tally = merge_readings(con, root.lake, "valid")
    for idx, out in readings.items():
        out.rows_kept = tally.kept.get(idx, 0)
        out.rows_duplicate = tally.duplicate.get(idx, 0)
        out.rows_replaced = tally.replaced.get(idx, 0)
        out.partitions = tally.partitions_by_file.get(idx, [])


def _write_quarantine(lake_dir: Path, out: FileOutcome, rows: pa.Table, malformed: list[tuple[int, str, str]], now: datetime) -> None:
    n = rows.num_rows + len(malformed)
    out.rows_quarantined = n
    if n == 0:
        return
    cols = rows.to_pydict()
    table = pa.table(
        {
            "source_file": [out.source_file] * n,
            "file_sha256": [out.sha256] * n,
            "row_number": cols["row_number"] + [r for r, _, _ in malformed],
            "reason": cols["reason"] + [why for _, why, _ in malformed],
            "detail": cols["detail"] + [None] * len(malformed),
            "raw_timestamp": cols["raw_ts"] + [None] * len(malformed),
            "raw_equipment_id": cols["raw_eq"] + [None] * len(malformed),
            "raw_sensor_id": cols["raw_sensor"] + [None] * len(malformed),
            "raw_value": cols["raw_value"] + [line for _, _, line in malformed],
            "ingested_at": [now] * n,
        },
        schema=schemas.QUARANTINE,
    )
    lake.write_partition(lake_dir, "quarantine", "file", out.sha256, table)


def _write_ledger(root: DataRoot, batch_id: str, outcomes: list[FileOutcome], now: datetime, run_id: str | None) -> None:
    if not outcomes:
        return
    rows = []
    for o in outcomes:
        row = {k: v for k, v in asdict(o).items() if k in schemas.INGESTED_FILES.names}
        row.update(file_sha256=o.sha256, archived_to=o.moved_to, run_id=run_id, ingested_at=now, reason=o.reason)
        rows.append(row)
    lake.write_partition(root.lake, LEDGER, "batch", batch_id, pa.Table.from_pylist(rows, schema=schemas.INGESTED_FILES))
