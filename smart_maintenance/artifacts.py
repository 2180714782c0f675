"""Model artifacts: pickles replaced atomically (temp file + rename locally, one PUT on an object store)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from smart_maintenance import storage


def save(path: Path, obj: Any) -> Path:
    return storage.write_bytes_atomic(path, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def load(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.loads(fh.read())
