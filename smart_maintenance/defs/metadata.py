"""Metadata helpers shared by assets and checks (what the Dagster UI shows about a dataset)."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa

OWNERS = ["team:reliability-data"]


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


def table_metadata(table: pa.Table) -> dict[str, Any]:
    return {"dagster/row_count": table.num_rows, "dagster/column_schema": column_schema(table.schema)}


def markdown_table(rows: list[dict[str, Any]], limit: int = 50) -> dg.MetadataValue:
    """A small markdown table for the UI; data-derived text is escaped so it renders as text."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_escape(row[c]) for c in cols) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows not shown_")
    return dg.MetadataValue.md("\n".join(lines))


def _escape(value: Any) -> str:
    text = "" if value is None else str(value)
    for ch, rep in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " "), ("`", "\\`"), ("*", "\\*"), ("_", "\\_")):
        text = text.replace(ch, rep)
    return text
