"""Where the data root lives: a local folder (the default) or S3-compatible object storage.

`SMART_MAINTENANCE_HOME` (or `--home`) is a folder or a URL such as `s3://bucket/prefix`. A local root is
a `pathlib.Path`; a remote one is a `upath.UPath` over fsspec (s3fs for S3), which offers the same
methods (`/`, `open`, `exists`, `glob`, `stat`, `unlink`, `rename`), so the pipeline has one code path
for both. The few things that differ are here:

- **Atomic replacement.** Locally a new file is written beside its target and renamed over it. An object
  store has no rename, but a PUT is atomic per object: readers see the old object or the new one, never
  a half-written one. `write_bytes_atomic` does the right thing for each.
- **DuckDB.** `register(con)` hands the remote file systems to DuckDB, so `read_parquet('s3://…')` goes
  through the same fsspec client and credentials (no DuckDB extension download needed).
- **Local scratch.** Ingestion reads each landing object once into a local temporary copy
  (`local_copy`): sniffing, hashing and parsing then need a single download.

S3 settings come from the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL` for an S3-compatible server such
as MinIO or moto); nothing secret is ever written into the data root or the logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

# Listings must be fresh: the landing sensor lists the same prefix every few seconds.
_STORAGE_OPTIONS: dict[str, dict[str, Any]] = {"s3": {"use_listings_cache": False}}
_registered: dict[str, Any] = {}  # protocol -> fsspec file system of the remote roots seen in this process


def is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def location(text: str | os.PathLike) -> Path:
    """A folder or URL as a path object: `Path` for a local folder, `UPath` for a URL."""
    text = os.fspath(text) if not isinstance(text, str) else text
    if not is_url(text):
        return Path(text.removeprefix("file://")).expanduser().resolve()
    from upath import UPath  # fsspec machinery only when a remote root is used

    protocol = text.split("://", 1)[0]
    options = dict(_STORAGE_OPTIONS.get(protocol, {}))
    if protocol == "s3" and os.environ.get("AWS_ENDPOINT_URL"):
        # Part of fsspec's instance-cache key: a changed endpoint gets its own client, not a cached one.
        options["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    path = UPath(text.rstrip("/"), **options)
    _registered[protocol] = path.fs
    return path


def as_path(value: str | os.PathLike | Path) -> Path:
    """A path object as is (local or remote); a string or other path-like through `location`."""
    return value if isinstance(value, Path) or hasattr(value, "fs") else location(value)


def is_remote(path: Path) -> bool:
    return not isinstance(path, Path) or getattr(path, "protocol", "") not in ("", "file", "local")


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, modification time in ns) of a local file, which every replacement or edit changes:
    what in-process caches of parsed files are keyed on. None for a missing or remote file (not cached)."""
    if is_remote(path):
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def uses_remote() -> bool:
    """Whether this process has seen a remote root (whose file system DuckDB connections register)."""
    return bool(_registered)


def register(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Let DuckDB read the remote roots used by this process (a no-op for local data)."""
    for fs in _registered.values():
        con.register_filesystem(fs)
    return con


def write_bytes_atomic(path: Path, data: bytes, *, fsync: bool = True) -> Path:
    """Replace `path` with `data`: readers see the old content or the new, never part of it."""
    if is_remote(path):
        path.write_bytes(data)  # a single PUT: atomic per object
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def move(source: Path, target: Path) -> Path:
    """Move a file within one root (rename locally; copy then delete on an object store)."""
    if is_remote(source):
        source.fs.mv(source.path, target.path)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), target)
    return target


@contextlib.contextmanager
def local_copy(path: Path) -> Iterator[Path]:
    """`path` itself when local; else a temporary local copy of the object, removed afterwards."""
    if not is_remote(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="smart-maintenance-stage-") as tmp:
        local = Path(tmp) / path.name
        path.fs.get_file(path.path, str(local))
        yield local


SCRATCH_ENV = "SMART_MAINTENANCE_SCRATCH"


def scratch_dir(root: Path, purpose: str) -> Path:
    """A local folder for state that cannot live in an object store (file locks, the embedded Dagster
    instance): inside the root when it is local; else one folder per root URL under
    `SMART_MAINTENANCE_SCRATCH` (default `~/.cache/smart-maintenance`). A deployment shared by several
    machines sets DAGSTER_HOME (PostgreSQL) and SMART_MAINTENANCE_LOCK_URL instead (README)."""
    if not is_remote(root):
        return root / purpose
    base = os.environ.get(SCRATCH_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smart-maintenance"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Path(base) / digest / purpose
