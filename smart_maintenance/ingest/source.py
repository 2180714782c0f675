"""Reading one landing file into a table of raw values, or saying in plain words why it cannot be read.

CSV (any common delimiter, sniffed by DuckDB; optional gzip) and Parquet. Every column comes back as
text so that one validation path judges every value; malformed CSV lines are not dropped but returned
as rejected rows (they go to quarantine), so row conservation holds even for broken lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

ROW = "__row"  # 1-based data row number in the source file (header excluded)


class UnreadableFile(Exception):
    """The whole file is unusable; the message is shown to users in `<name>.error.json`."""


@dataclass
class RawFile:
    table: pa.Table  # all columns as strings, plus ROW
    columns: list[str]  # source column names (stripped), in file order
    format: str  # csv, csv.gz, parquet
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw line)


def _sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if not head:
        raise UnreadableFile("the file is empty")
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:2] == b"\x1f\x8b":
        return "csv.gz"
    if head[:2] == b"PK":
        raise UnreadableFile("zip archives are not supported; unpack the files into the landing folder")
    if b"\x00" in head:
        raise UnreadableFile("this is a binary file, not CSV text or Parquet")
    return "csv"


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _clean_name(name: str) -> str:
    return str(name).replace("\ufeff", "").strip()


def read_source(path: Path, con: duckdb.DuckDBPyConnection) -> RawFile:
    """Read `path` into a RawFile, or raise UnreadableFile with a reason a user can act on."""
    fmt = _sniff_format(path)
    if fmt == "parquet":
        return _read_parquet(path, con)
    return _read_csv(path, con, fmt)


def _read_parquet(path: Path, con: duckdb.DuckDBPyConnection) -> RawFile:
    try:
        rel = con.sql(f"SELECT * FROM read_parquet({_quote(path)})")
        names = rel.columns
        select = ", ".join(f'CAST("{n.replace(chr(34), chr(34) * 2)}" AS VARCHAR) AS c{i}' for i, n in enumerate(names))
        table = con.sql(f"SELECT {select} FROM read_parquet({_quote(path)})").to_arrow_table()
    except duckdb.Error as exc:
        raise UnreadableFile(f"the Parquet file cannot be read (corrupt or truncated?): {_first_line(exc)}") from exc
    return _finish(table, [_clean_name(n) for n in names], "parquet", [])


def _read_csv(path: Path, con: duckdb.DuckDBPyConnection, fmt: str) -> RawFile:
    compression = "gzip" if fmt == "csv.gz" else "none"
    try:
        return _read_csv_as(path, con, fmt, compression, "utf-8")
    except _NotUtf8:
        # Many plant exports are Latin-1 (Windows); every byte is valid Latin-1, so this cannot fail on encoding.
        return _read_csv_as(path, con, fmt, compression, "latin-1")


class _NotUtf8(Exception):
    pass


def _read_csv_as(path: Path, con: duckdb.DuckDBPyConnection, fmt: str, compression: str, encoding: str) -> RawFile:
    con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
    try:
        rel = con.sql(
            f"SELECT * FROM read_csv({_quote(path)}, all_varchar=true, header=true, store_rejects=true, "
            f"compression='{compression}', encoding='{encoding}', sample_size=-1)"
        )
        names = rel.columns
        table = rel.to_arrow_table()
        rejects = con.sql("SELECT line, error_type, csv_line FROM reject_errors ORDER BY line").fetchall()
        if encoding == "utf-8" and any(kind == "INVALID ENCODING" for _, kind, _ in rejects):
            raise _NotUtf8()
    except duckdb.Error as exc:
        if encoding == "utf-8" and ("unicode" in str(exc).lower() or "utf-8" in str(exc).lower()):
            raise _NotUtf8() from exc
        raise UnreadableFile(f"the file cannot be read as CSV: {_first_line(exc)}") from exc
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    malformed = [(int(line) - 1, f"malformed CSV line ({str(kind).lower()})", str(text or "")) for line, kind, text in rejects]
    return _finish(table, [_clean_name(n) for n in names], fmt, malformed)


def _finish(table: pa.Table, names: list[str], fmt: str, malformed: list[tuple[int, str, str]]) -> RawFile:
    if table.num_rows == 0 and not malformed:
        raise UnreadableFile("the file has a header but no data rows")
    # Number the parsed rows by their position in the file, skipping lines the CSV reader rejected.
    bad = {row for row, _, _ in malformed}
    total = table.num_rows + len(bad)
    numbers = [n for n in range(1, total + 1) if n not in bad] if bad else range(1, table.num_rows + 1)
    table = table.append_column(ROW, pa.array(numbers, pa.int64()))
    return RawFile(table=table, columns=names, format=fmt, malformed=malformed)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
