"""The report's charts and PNG. Charts are built as plain plotly.js figure dicts (graph objects cost more
than the rest of the report), so each must be exactly what `plotly.graph_objects` makes of it: a
misspelt property fails here, not as a blank chart in a plant manager's browser."""

from __future__ import annotations

import copy
from datetime import timedelta

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from smart_maintenance.reporting import compute_summary
from smart_maintenance.reporting.charts import figures
from smart_maintenance.reporting.frames import Window
from smart_maintenance.reporting.png import alerts_png
from smart_maintenance_tests.reporting.lakes import DAY, NOW, RUNS

D = DAY.date()


@pytest.mark.parametrize("days", [1, 7])  # hourly and daily buckets
def test_every_chart_is_the_figure_plotly_would_build(hand_lake, days):
    charts = figures(compute_summary(hand_lake, Window(D - timedelta(days=days - 1), D, NOW), RUNS))
    assert all(fig is not None for fig in charts.values())
    for name, fig in charts.items():
        assert go.Figure(fig).to_dict() == fig, name  # go.Figure validates: an unknown property raises
        assert fig["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()


@pytest.mark.parametrize("days", [1, 2, 7])  # hours of a day, hours of two days, days
def test_alerts_png_redraws_only_a_changed_timeline(hand_lake, days):
    summary = compute_summary(hand_lake, Window(D - timedelta(days=days - 1), D, NOW), RUNS)
    png = alerts_png(summary)
    assert png.startswith(b"\x89PNG") and alerts_png(copy.deepcopy(summary)) == png
    changed = copy.deepcopy(summary)
    changed["anomalies"]["over_time"][5]["status_credible"] += 1
    assert alerts_png(changed) != png


def test_stacked_bars_png_of_alerts_per_day_redraws_only_changed_counts():
    import pandas as pd

    from smart_maintenance.reporting.png import stacked_bars_png

    days = [D - timedelta(days=i) for i in range(13, -1, -1)]
    counts = pd.DataFrame([{"day": d, "validation_status": s, "n": i % 4 + k} for i, d in enumerate(days)
                           for k, s in enumerate(("credible", "needs_investigation", "another_status"))])
    png = stacked_bars_png(counts, "day", "validation_status", "n", "alerts started per day (last 14 days)")
    assert png.startswith(b"\x89PNG") and stacked_bars_png(counts.copy(), "day", "validation_status", "n",
                                                           "alerts started per day (last 14 days)") is png  # kept
    counts.loc[3, "n"] += 1
    assert stacked_bars_png(counts, "day", "validation_status", "n", "alerts started per day (last 14 days)") != png
