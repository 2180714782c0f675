"""A short, stable hash of a settings object: stored with fitted models so a mismatch can be seen."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any


def fingerprint(settings: Any) -> str:
    """12 hex digits of the SHA-256 of the dataclass's fields (sorted JSON; non-JSON values as text)."""
    text = json.dumps(asdict(settings), default=str, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
