"""The report as files: `build_report` computes the summary and renders the HTML; `write_report` puts
both under `reports/` atomically (a reader never sees half a file)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from smart_maintenance import storage
from smart_maintenance.reporting.summary import compute_summary, default_window


@dataclass(frozen=True)
class Report:
    summary: dict[str, Any]
    html: str

    @property
    def json(self) -> str:
        return json.dumps(self.summary, indent=2, ensure_ascii=False, allow_nan=False)


def build_report(lake_dir: Path, start: date | None, end: date | None, now: datetime,
                 runs: pd.DataFrame | None = None, default_days: int = 1) -> Report:
    """The report of UTC days `start`..`end` (defaults: `end` the last day with readings, `start`
    `default_days` before it), judged as of `min(now, end of the window)`. `runs`: optional run records
    (columns `quality.RUN_COLUMNS`) for the performance section."""
    window = default_window(lake_dir, start, end, now, default_days)
    summary = compute_summary(lake_dir, window, runs)
    from smart_maintenance.reporting.html import render_html  # plotly: loaded only where a report is rendered

    return Report(summary, render_html(summary))


def write_report(report: Report, folder: Path, stem: str) -> tuple[Path, Path]:
    """`<folder>/<stem>.html` and `.json`, each replaced atomically (`storage.write_bytes_atomic`)."""
    paths = folder / f"{stem}.html", folder / f"{stem}.json"
    for path, text in zip(paths, (report.html, report.json)):
        storage.write_bytes_atomic(path, text.encode("utf-8"), fsync=False)
    return paths
