"""A small PNG of the report's alert timeline for places that cannot run JavaScript (the Dagster UI's
markdown metadata). matplotlib, headless: a `Figure` drawn by the Agg canvas, without pyplot (its
import and global figure manager cost a quarter of a second in every run that draws; matplotlib's own
advice for servers). kaleido is not a dependency."""

from __future__ import annotations

import base64
import functools
import io
from typing import TYPE_CHECKING, Any

from smart_maintenance.reporting.palette import STATUS_COLORS

if TYPE_CHECKING:
    import pandas as pd


def alerts_png(summary: dict[str, Any], width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars: alerts started per bucket of the window, by validation status."""
    series = summary["anomalies"]["over_time"]
    by_status = tuple(tuple(row[f"status_{status}"] for row in series) for status in STATUS_COLORS)
    return _alerts_png(tuple(row["bucket"] for row in series), by_status, summary["report"]["bucket"],
                       width_in, height_in, dpi)


# Remembered per process: each micro-batch rebuilds the day's report, but its alert timeline changes only
# when an alert starts, and drawing it costs ~50 ms. The picture depends on these arguments only.
@functools.lru_cache(maxsize=16)
def _alerts_png(buckets: tuple[str, ...], by_status: tuple[tuple[int, ...], ...], bucket: str,
                width_in: float, height_in: float, dpi: int) -> bytes:
    """`by_status`: the alert counts per bucket of each status of `STATUS_COLORS`, in its order."""
    import pandas as pd

    x = [pd.Timestamp(b).to_pydatetime() for b in buckets]
    width = (1 / 24 if bucket == "hour" else 1.0) * 0.9
    fig, ax = _figure(width_in, height_in, dpi)
    bottom = [0] * len(buckets)
    for (status, color), values in zip(STATUS_COLORS.items(), by_status):
        ax.bar(x, values, width=width, bottom=bottom, color=color, label=status.replace("_", " "), align="edge")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(f"Alerts per {bucket}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    fig.subplots_adjust(**ALERTS_MARGINS)
    return _png(fig)


# Fixed margins, not `tight_layout` (which measures every label, a third of a chart's ~70 ms): the figure
# sizes and fonts are fixed, the labels are dates, and the counts' labels fit up to six digits.
ALERTS_MARGINS = {"left": 0.09, "right": 0.98, "top": 0.89, "bottom": 0.22}
BARS_MARGINS = {"left": 0.12, "right": 0.98, "top": 0.89, "bottom": 0.36}


def _figure(width_in: float, height_in: float, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    # The Agg canvas from the start: `tight_layout` then measures text with the renderer that draws the
    # PNG (and its cached text extents), rather than with a throwaway one.
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    out = io.BytesIO()
    fig.canvas.print_png(out)
    return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def stacked_bars_png(counts: pd.DataFrame, index: str, stack: str, value: str, title: str,
                     width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars of `value` per `index`, one colour per `stack` (e.g. alerts per day by validation status)."""
    table = counts.pivot_table(index=index, columns=stack, values=value, aggfunc="sum", fill_value=0).sort_index()
    return _stacked_bars_png(tuple(str(i) for i in table.index), tuple(str(c) for c in table.columns),
                             tuple(tuple(int(v) for v in table[c]) for c in table.columns), title, width_in, height_in, dpi)


# Remembered per process, as `_alerts_png`: the alerts refresh of every micro-batch charts the last 14 days
# of alerts, which a batch rarely changes (~70 ms to draw).
@functools.lru_cache(maxsize=16)
def _stacked_bars_png(labels: tuple[str, ...], stacks: tuple[str, ...], values: tuple[tuple[int, ...], ...], title: str,
                      width_in: float, height_in: float, dpi: int) -> bytes:
    """`values`: one tuple per stack, in the order of `stacks`, holding a value per label."""
    fig, ax = _figure(width_in, height_in, dpi)
    bottom = None
    for stack, column in zip(stacks, values):
        ax.bar(list(labels), column, bottom=bottom, label=stack, color=STATUS_COLORS.get(stack))
        bottom = list(column) if bottom is None else [b + v for b, v in zip(bottom, column)]
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=6, axis="x", rotation=60)
    ax.tick_params(labelsize=7, axis="y")
    ax.legend(fontsize=6, frameon=False)
    fig.subplots_adjust(**BARS_MARGINS)
    return _png(fig)
