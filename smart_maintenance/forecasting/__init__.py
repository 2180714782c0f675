"""Failure forecasting: equipment health, trend-to-limit and learned remaining useful life (no Dagster here).

Typical use::

    health = equipment_health(readings, sensors, as_of, config, events=events)      # daily rows
    models = fit_rul_models(readings, events, equipment, config, as_of, seed, sensors=sensors)  # when failures arrive
    rows = forecast_failures(readings, sensors, equipment, models, as_of, config, events=events)

Inputs follow the lake contract: readings (timestamp UTC, equipment_id, sensor_id, value, sensor_type;
raw or already hourly), sensors reference (alarm_limit may be missing), equipment reference (type),
maintenance events (equipment_id, timestamp, event_type). Output columns: `schemas.EQUIPMENT_HEALTH`
and `schemas.FAILURE_FORECASTS` (`forecast.FORECAST_COLUMNS`).

Trend forecasts are calibrated on backtests of past failures (calibration.py) where the models hold
failures to learn from: `models.trend_calibration(equipment_type)`; `models.metadata()` reports it.

Evaluation: `evaluate_cmapss(path, folds, seed)` (python -m smart_maintenance.forecasting.cmapss PATH)
and `evaluate_synthetic_forecasts(readings, events, faults, sensors, equipment)`.
"""

from smart_maintenance.forecasting.calibration import TrendCalibration
from smart_maintenance.forecasting.cmapss import evaluate_cmapss, load_cmapss, to_frames
from smart_maintenance.forecasting.config import (
    BaselineConfig,
    CalibrationConfig,
    ForecastConfig,
    HealthConfig,
    RulConfig,
    SelectionConfig,
    TrendConfig,
)
from smart_maintenance.forecasting.forecast import FORECAST_COLUMNS, forecast_failures
from smart_maintenance.forecasting.health import HEALTH_COLUMNS, equipment_health
from smart_maintenance.forecasting.metrics import coverage, nasa_score, rmse
from smart_maintenance.forecasting.models import RulModels, fit_rul_models
from smart_maintenance.forecasting.selection import METHODS
from smart_maintenance.forecasting.synthetic import evaluate_synthetic_forecasts

__all__ = [
    "FORECAST_COLUMNS", "HEALTH_COLUMNS", "METHODS", "BaselineConfig", "CalibrationConfig", "ForecastConfig", "HealthConfig",
    "RulConfig", "RulModels", "SelectionConfig", "TrendCalibration", "TrendConfig", "coverage", "equipment_health", "evaluate_cmapss",
    "evaluate_synthetic_forecasts", "fit_rul_models", "forecast_failures", "load_cmapss", "nasa_score", "rmse",
    "to_frames",
]  # fmt: skip
