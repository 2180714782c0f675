"""A small PNG of the report's alert timeline for places that cannot run JavaScript (the Dagster UI's
markdown metadata). matplotlib, headless: a `Figure` drawn by the Agg canvas, without pyplot (its
import and global figure manager cost a quarter of a second in every run that draws; matplotlib's own
advice for servers). kaleido is not a dependency."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from smart_maintenance.reporting.palette import STATUS_COLORS

if TYPE_CHECKING:
    import pandas as pd


def alerts_png(summary: dict[str, Any], width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars: alerts started per bucket of the window, by validation status."""
    import pandas as pd

    series = summary["anomalies"]["over_time"]
    x = [pd.Timestamp(row["bucket"]).to_pydatetime() for row in series]
    hourly = summary["report"]["bucket"] == "hour"
    width = (1 / 24 if hourly else 1.0) * 0.9
    fig, ax = _figure(width_in, height_in, dpi)
    bottom = [0] * len(series)
    for status, color in STATUS_COLORS.items():
        values = [row[f"status_{status}"] for row in series]
        ax.bar(x, values, width=width, bottom=bottom, color=color, label=status.replace("_", " "), align="edge")
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(f"Alerts per {summary['report']['bucket']}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _figure(width_in: float, height_in: float, dpi: int):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = io.BytesIO()
    FigureCanvasAgg(fig).print_png(out)
    return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def stacked_bars_png(counts: pd.DataFrame, index: str, stack: str, value: str, title: str,
                     width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars of `value` per `index`, one colour per `stack` (e.g. alerts per day by validation status)."""
    table = counts.pivot_table(index=index, columns=stack, values=value, aggfunc="sum", fill_value=0).sort_index()
    fig, ax = _figure(width_in, height_in, dpi)
    bottom = None
    for column in table.columns:
        ax.bar([str(i) for i in table.index], table[column], bottom=bottom, label=str(column),
               color=STATUS_COLORS.get(str(column)))
        bottom = table[column] if bottom is None else bottom + table[column]
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=6, axis="x", rotation=60)
    ax.tick_params(labelsize=7, axis="y")
    ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return _png(fig)
