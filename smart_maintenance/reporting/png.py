"""A small PNG of the report's alert timeline for places that cannot run JavaScript (the Dagster UI's
markdown metadata). matplotlib, headless: a `Figure` drawn by the Agg canvas, without pyplot (its
import and global figure manager cost a quarter of a second in every run that draws; matplotlib's own
advice for servers). kaleido is not a dependency."""

from __future__ import annotations

import base64
import functools
import io
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from smart_maintenance.reporting.palette import STATUS_COLORS

if TYPE_CHECKING:
    import pandas as pd


def alerts_png(summary: dict[str, Any], width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars: alerts started per bucket of the window, by validation status."""
    import pandas as pd

    series = summary["anomalies"]["over_time"]
    times = [pd.Timestamp(row["bucket"]) for row in series]
    days = sorted({t.date() for t in times})
    if summary["report"]["bucket"] == "hour" and len(days) == 1:  # the day in the title, the hours on the axis
        labels, title = [f"{t:%H:%M}" for t in times], f"Alerts per hour, {days[0]}"
    elif summary["report"]["bucket"] == "hour":
        labels, title = [f"{t:%m-%d %Hh}" for t in times], "Alerts per hour"
    else:
        labels, title = [f"{t:%m-%d}" for t in times], "Alerts per day"
    by_status = tuple(tuple(row[f"status_{status}"] for row in series) for status in STATUS_COLORS)
    return _stacked_png(tuple(labels), tuple(STATUS_COLORS), by_status, title, width_in, height_in, dpi)


def stacked_bars_png(counts: pd.DataFrame, index: str, stack: str, value: str, title: str,
                     width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars of `value` per `index`, one colour per `stack` (e.g. alerts per day by validation status);
    an index of dates is labelled month-day."""
    table = counts.pivot_table(index=index, columns=stack, values=value, aggfunc="sum", fill_value=0).sort_index()
    labels = [f"{i:%m-%d}" if isinstance(i, (date, datetime)) else str(i) for i in table.index]
    return _stacked_png(tuple(labels), tuple(str(c) for c in table.columns),
                        tuple(tuple(int(v) for v in table[c]) for c in table.columns), title, width_in, height_in, dpi)


# A chart costs its artists: a Rectangle per bar and a Tick (with its own texts and lines) per tick are what
# matplotlib spends its time on. So: one polygon collection per stack, at most MAX_LABELS labelled ticks on x
# (half as many long labels) and 4 or so on y, short unrotated labels, a fixed legend place and title position
# (no overlap search), and fixed margins (no `tight_layout`, which measures every label): ~33 ms a chart here,
# 55 ms before.
MAX_LABELS = 8
MARGINS = {"left": 0.09, "right": 0.98, "top": 0.89, "bottom": 0.14}


# Remembered per process: each micro-batch redraws the alerts' and the report's charts, which change only
# when an alert starts. The picture depends on these arguments only.
@functools.lru_cache(maxsize=32)
def _stacked_png(labels: tuple[str, ...], stacks: tuple[str, ...], values: tuple[tuple[int, ...], ...],
                 title: str, width_in: float, height_in: float, dpi: int) -> bytes:
    """`values`: one tuple per stack, in the order of `stacks`, holding a value per label."""
    import matplotlib
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(width_in, height_in, dpi)
    x = np.arange(len(labels), dtype=float)
    left, right = x - 0.42, x + 0.42
    bottom = np.zeros(len(labels))
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]  # for stacks other than validation statuses
    for k, (stack, column) in enumerate(zip(stacks, values)):
        top = bottom + np.asarray(column, dtype=float)
        bars = np.stack([np.c_[left, bottom], np.c_[left, top], np.c_[right, top], np.c_[right, bottom]], axis=1)
        ax.add_collection(PolyCollection(bars, facecolors=STATUS_COLORS.get(stack, cycle[k % len(cycle)]), edgecolors="none",
                                         label=stack.replace("_", " ")))
        bottom = top
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylim(0, max(float(bottom.max(initial=0.0)), 1.0) * 1.08)
    fit = MAX_LABELS if max(map(len, labels), default=0) <= 5 else MAX_LABELS // 2  # longer labels, fewer of them
    step = max(1, -(-len(labels) // fit))
    ax.set_xticks(x[::step], list(labels[::step]))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.set_title(title, fontsize=9, y=1.0)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(**MARGINS)
    return _png(fig)


def _figure(width_in: float, height_in: float, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    FigureCanvasAgg(fig)  # the Agg canvas from the start: the one that draws the PNG
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.canvas.print_png(out)
    return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
