"""A small PNG of the report's alert timeline for places that cannot run JavaScript (the Dagster UI's
markdown metadata). matplotlib, headless (Agg): kaleido is not a dependency."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from smart_maintenance.reporting.palette import STATUS_COLORS

if TYPE_CHECKING:
    import pandas as pd


def alerts_png(summary: dict[str, Any], width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars: alerts started per bucket of the window, by validation status."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    series = summary["anomalies"]["over_time"]
    x = [pd.Timestamp(row["bucket"]).to_pydatetime() for row in series]
    hourly = summary["report"]["bucket"] == "hour"
    width = (1 / 24 if hourly else 1.0) * 0.9
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
    try:
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
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def stacked_bars_png(counts: pd.DataFrame, index: str, stack: str, value: str, title: str,
                     width_in: float = 5.0, height_in: float = 2.2, dpi: int = 80) -> bytes:
    """Stacked bars of `value` per `index`, one colour per `stack` (e.g. alerts per day by validation status)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = counts.pivot_table(index=index, columns=stack, values=value, aggfunc="sum", fill_value=0).sort_index()
    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
