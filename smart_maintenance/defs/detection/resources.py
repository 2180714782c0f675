"""Detection settings as a resource: the thresholds users tune, on top of the core's defaults."""

import dataclasses

import dagster as dg
from pydantic import Field

from smart_maintenance.detection.config import DetectionConfig, ScoringConfig


class DetectionResource(dg.ConfigurableResource):
    """Anomaly thresholds (calibrated score in 0..1; 0.5 is every detector's decision boundary)."""

    threshold: float = Field(default=ScoringConfig.threshold, description="Default threshold of is_anomaly.")
    threshold_by_sensor_type: dict[str, float] = Field(
        default_factory=dict, description="Per sensor type, e.g. {'vibration_rms': 0.6}.")

    def config(self) -> DetectionConfig:
        base = DetectionConfig()
        scoring = ScoringConfig(threshold=self.threshold, threshold_by_sensor_type=dict(self.threshold_by_sensor_type))
        return dataclasses.replace(base, scoring=scoring)
