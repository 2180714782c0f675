"""Reports: the numbers a plant manager reads (fleet health, anomalies, maintenance, forecasts, data
quality, pipeline performance), computed from the lake with DuckDB, as a JSON summary and a
self-contained plotly HTML file. No Dagster import: the daily and on-demand report assets call this."""

from smart_maintenance.reporting.report import Report, build_report, write_report
from smart_maintenance.reporting.summary import compute_summary, key_numbers

__all__ = ["Report", "build_report", "compute_summary", "key_numbers", "write_report"]
