"""Resources shared by every asset, sensor and schedule."""



import dagster as dg
from pydantic import Field

from smart_maintenance import storage
from smart_maintenance.config import DataRoot, default_home
from smart_maintenance.ingest.batch import IngestSettings


class DataRootResource(dg.ConfigurableResource):
    """The data root (landing, archive, rejected, reference, lake, reports). Defaults to
    `SMART_MAINTENANCE_HOME`, else `data/` in the repository."""

    home: str = Field(default_factory=lambda: str(default_home()), description="Path or URL (s3://bucket/prefix) of the data root.")

    def get(self) -> DataRoot:
        return DataRoot(storage.location(self.home)).ensure()


class IngestSettingsResource(dg.ConfigurableResource):
    """Limits and tolerances of ingestion (defaults are `IngestSettings`'s)."""

    future_tolerance_seconds: float = Field(default=IngestSettings.future_tolerance_seconds,
                                            description="Readings later than now + this are quarantined.")
    max_file_bytes: int = Field(default=IngestSettings.max_file_bytes, description="Larger files are rejected.")
    max_rows: int = Field(default=IngestSettings.max_rows, description="Files with more rows are rejected.")
    settle_seconds: float = Field(default=2.0, description="A file must be unchanged this long before it is read.")
    quiet_seconds: float = Field(default=30.0,
                                 description="A file untouched this long is ready on first sight (schedule, one-shot run).")

    def settings(self) -> IngestSettings:
        return IngestSettings(self.future_tolerance_seconds, self.max_file_bytes, self.max_rows)
