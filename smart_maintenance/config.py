"""Where things live: the data root and its folders (DESIGN.md, "Contract: folders").

`SMART_MAINTENANCE_HOME` points at the data root; the default is `data/` in the repository, so a
test or a benchmark can point the whole pipeline at a temp folder with one variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOME_ENV = "SMART_MAINTENANCE_HOME"


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or REPO_ROOT / "data").resolve()


@dataclass(frozen=True)
class DataRoot:
    """The folders under one data root. Every path the pipeline reads or writes comes from here."""

    root: Path

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
    def dagster_home(self) -> Path:
        """The embedded Dagster instance (SQLite) used when DAGSTER_HOME is not set."""
        return self.root / ".dagster"

    @property
    def locks(self) -> Path:
        return self.lake / ".locks"

    def ensure(self) -> DataRoot:
        for folder in (self.landing, self.archive, self.rejected, self.reference, self.lake, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
