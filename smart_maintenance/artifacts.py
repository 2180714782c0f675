"""Model artifacts on disk: pickles written atomically (temp file + rename), like lake partitions."""

from __future__ import annotations

import os
import pickle
import uuid
from pathlib import Path
from typing import Any


def save(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: Path) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)
