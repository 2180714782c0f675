"""Where things live: the data root and its folders (DESIGN.md, "Contract: folders").

`SMART_MAINTENANCE_HOME` points at the data root; the default is `data/` in the repository, so a
test or a benchmark can point the whole pipeline at a temp folder with one variable. It may also be an
object-store URL (`s3://bucket/prefix`, see `storage.py`): every folder below is then a prefix there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from smart_maintenance import storage

REPO_ROOT = Path(__file__).resolve().parent.parent
HOME_ENV = "SMART_MAINTENANCE_HOME"
# `run --watch`: the latest day's report is refreshed at most this often (runner.watch); here, not in the
# runner, so the command line can show it without importing Dagster.
REPORT_EVERY_SECONDS = 300.0


def default_home() -> Path:
    return storage.location(os.environ.get(HOME_ENV) or REPO_ROOT / "data")


@dataclass(frozen=True)
class DataRoot:
    """The folders under one data root. Every path the pipeline reads or writes comes from here."""

    root: Path  # a local Path, or a UPath for an object-store URL

    @classmethod
    def from_env(cls) -> DataRoot:
        return cls(default_home())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def models(self) -> Path:
        """Fitted model artifacts (pickles), one file per version."""
        return self.root / "models"

    @property
    def ground_truth(self) -> Path:
        return self.root / "ground_truth"

    @property
    def is_remote(self) -> bool:
        return storage.is_remote(self.root)

    @property
    def dagster_home(self) -> Path:
        """The embedded Dagster instance (SQLite) used when DAGSTER_HOME is not set: always a local
        folder (inside the root, or a scratch folder for an object-store root)."""
        return storage.scratch_dir(self.root, ".dagster")

    def ensure(self) -> DataRoot:
        if not self.is_remote:  # an object store has no folders to create
            for folder in (self.landing, self.archive, self.rejected, self.reference, self.lake, self.reports):
                folder.mkdir(parents=True, exist_ok=True)
        return self
