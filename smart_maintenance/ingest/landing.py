"""The landing folder: what is pending, what is stable, and where a file goes when it is done.

A file is pending while it sits in `landing/` (any depth). Hidden files and the temporary names
writers use while copying (`.part`, `.tmp`, `.crdownload`, `~`) are left alone until renamed.
Symbolic links are never followed (a link could point anywhere on the machine): they are moved to
`rejected/` with the reason. Moving into `archive/` or `rejected/` keeps the file's relative path, so
nothing is ever written outside the data root whatever the name says.

On an object store (`storage.py`) `landing/` is a prefix: its objects are listed with their size and
last-modified time (there are no links), and "moving" is copy-then-delete; a crash between the two
leaves the object in landing/, where its content hash marks it a duplicate on the next look.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from smart_maintenance import storage

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", "~")
SIDECAR_SUFFIX = ".error.json"


@dataclass(frozen=True)
class LandingFile:
    relpath: str  # relative to landing/, with '/' separators
    size: int
    mtime_ns: int
    is_symlink: bool = False

    @property
    def observation(self) -> list[int]:
        return [self.size, self.mtime_ns]


def list_landing(landing: Path) -> list[LandingFile]:
    """Every candidate file under `landing/`, sorted by modification time then path."""
    found: list[LandingFile] = []
    if storage.is_remote(landing):
        return _list_objects(landing)
    if not landing.exists():
        return found
    for dirpath, dirnames, filenames in os.walk(landing, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d)))
        found.extend(_symlinked_dirs(landing, dirpath))
        for name in filenames:
            if name.startswith(".") or name.endswith(IN_PROGRESS_SUFFIXES):
                continue
            path = Path(dirpath, name)
            rel = path.relative_to(landing).as_posix()
            st = path.lstat()
            found.append(LandingFile(rel, st.st_size, st.st_mtime_ns, path.is_symlink()))
    return sorted(found, key=lambda f: (f.mtime_ns, f.relpath))


def _list_objects(landing: Path) -> list[LandingFile]:
    prefix = landing.path.rstrip("/") + "/"
    found = []
    for key, info in landing.fs.find(landing.path, detail=True).items():
        rel = key.removeprefix(prefix)
        if info.get("type") != "file" or rel == key or any(p.startswith(".") for p in rel.split("/")):
            continue
        if rel.endswith(IN_PROGRESS_SUFFIXES):
            continue
        modified = info.get("LastModified") or info.get("mtime")
        mtime_ns = int(modified.timestamp() * 1e9) if hasattr(modified, "timestamp") else int(float(modified or 0) * 1e9)
        found.append(LandingFile(rel, int(info.get("size") or 0), mtime_ns))
    return sorted(found, key=lambda f: (f.mtime_ns, f.relpath))


def _symlinked_dirs(landing: Path, dirpath: str) -> list[LandingFile]:
    links = []
    for entry in os.scandir(dirpath):
        if entry.is_symlink() and entry.is_dir(follow_symlinks=True) and not entry.name.startswith("."):
            st = entry.stat(follow_symlinks=False)
            links.append(LandingFile(Path(entry.path).relative_to(landing).as_posix(), st.st_size, st.st_mtime_ns, True))
    return links


def is_stable(file: LandingFile, previous: list[int] | None, now_ns: int, settle_seconds: float, quiet_seconds: float) -> bool:
    """A file is ready when it has not changed since the previous look and is `settle_seconds` old,
    or when nobody has touched it for `quiet_seconds` (e.g. it was copied while the daemon was down)."""
    age = (now_ns - file.mtime_ns) / 1e9
    unchanged = previous is not None and list(previous) == file.observation
    return (unchanged and age >= settle_seconds) or age >= quiet_seconds


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _free_target(target: Path, sha256: str) -> Path:
    """`target`, or a sibling carrying the content hash when a different file already has that name."""
    if not target.exists() and not target.is_symlink():
        return target
    return target.with_name(f"{target.name}~{sha256[:12]}")


def archive_target(archive: Path, relpath: str, sha256: str) -> Path:
    """Where a processed file will go in archive/ (same relative path, or a sibling if taken)."""
    return _free_target(archive / relpath, sha256)


def move_file(landing: Path, relpath: str, target: Path) -> Path:
    return storage.move(landing / relpath, target)


@dataclass(frozen=True)
class Rejection:
    file: str
    reason: str
    sha256: str | None
    rejected_at: str
    run_id: str | None


def reject_file(landing: Path, rejected: Path, relpath: str, reason: str, *, sha256: str | None, now: datetime,
                run_id: str | None = None) -> Path:
    """Move an unusable file to rejected/ with `<name>.error.json` beside it saying why."""
    target = _free_target(rejected / relpath, sha256 or "nohash")
    source = landing / relpath
    if source.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)
    else:
        storage.move(source, target)
    sidecar = target.with_name(target.name + SIDECAR_SUFFIX)
    record = Rejection(file=relpath, reason=reason, sha256=sha256, rejected_at=now.isoformat(), run_id=run_id)
    sidecar.write_text(json.dumps(asdict(record), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def plan_batch(files: list[LandingFile], seen: dict[str, list[int]], launched: dict[str, list[int]], now_ns: int,
               settle_seconds: float, quiet_seconds: float) -> tuple[list[LandingFile], dict[str, list[int]]]:
    """Which files to hand to ingestion now, and what to remember for the next look.

    `seen` holds (size, mtime) of files observed but not yet ready; `launched` those already handed to
    a run that has not finished with them. Symbolic links are handed over at once (to be rejected).
    """
    ready, still_settling = [], {}
    for f in files:
        if launched.get(f.relpath) == f.observation:
            continue
        if f.is_symlink or is_stable(f, seen.get(f.relpath), now_ns, settle_seconds, quiet_seconds):
            ready.append(f)
        else:
            still_settling[f.relpath] = f.observation
    return ready, still_settling
