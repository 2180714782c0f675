"""Reading one landing file into a table of raw values, or saying in plain words why it cannot be read.

CSV (any common delimiter, sniffed by DuckDB; optional gzip) and Parquet. Every column comes back as
text so that one validation path judges every value; malformed CSV lines are not dropped but returned
as rejected rows (they go to quarantine), so row conservation holds even for broken lines.

Whole-file rules (the file is rejected with the reason):
- a gzip file is inflated as a stream and counted before DuckDB sees it: more than `max_bytes` of
  decompressed data (a gzip bomb, or simply too big) is rejected without ever holding it in memory;
  a corrupt or truncated gzip stream is rejected as such;
- duplicate column names (`value,value`, or a sensor twice in a wide file) are rejected: which of the
  two columns is meant cannot be known, and taking one would silently drop the other.

Numbers: the CSV delimiter is sniffed once and kept in `RawFile.delimiter`; a file whose delimiter is
not a comma may write decimal commas (`40,5`), which validation reads as 40.5. Thousands separators
(`1,234.5`, `1.234,5`, `1 234`) and a comma inside a number of a comma-delimited file are ambiguous and
quarantined as non-numeric, never guessed (see `validate.py`).
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

ROW = "__row"  # 1-based data row number in the source file (header excluded)


class UnreadableFile(Exception):
    """The whole file is unusable; the message is shown to users in `<name>.error.json`."""


@dataclass
class RawFile:
    table: pa.Table  # all columns as strings, plus ROW
    columns: list[str]  # source column names (stripped), in file order
    format: str  # csv, csv.gz, parquet
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw line)
    delimiter: str | None = None  # CSV only

    @property
    def decimal_comma(self) -> bool:
        """Whether a comma inside a number is a decimal separator (CSV delimited by something else)."""
        return self.delimiter is not None and self.delimiter != ","


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


def read_source(path: Path, con: duckdb.DuckDBPyConnection, max_bytes: int | None = None) -> RawFile:
    """Read `path` into a RawFile, or raise UnreadableFile with a reason a user can act on.
    `max_bytes` caps the decompressed size of gzip files (the caller checks the size on disk)."""
    fmt = _sniff_format(path)
    if fmt == "parquet":
        return _read_parquet(path, con)
    if fmt == "csv.gz":
        _check_gzip(path, max_bytes)
    return _read_csv(path, con, fmt)


def _check_gzip(path: Path, max_bytes: int | None) -> None:
    """Inflate as a stream (1 MiB at a time, nothing kept) and stop as soon as the cap is passed."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                total += len(block)
                if max_bytes is not None and total > max_bytes:
                    raise UnreadableFile(
                        f"decompressed size is above the limit of {max_bytes} bytes (max_file_bytes): "
                        "a gzip bomb, or a file to split before dropping it")
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFile(f"the gzip stream is corrupt or truncated: {exc}") from exc


def _duplicates(names: list[str]) -> list[str]:
    counts = Counter(n.lower() for n in names if n)
    return [n for n, c in counts.items() if c > 1]


def _reject_duplicates(names: list[str]) -> None:
    if dupes := _duplicates(names):
        raise UnreadableFile(f"duplicate column names: {', '.join(dupes[:10])}; which column is meant cannot be known, "
                             "rename them and drop the file again")


def _read_parquet(path: Path, con: duckdb.DuckDBPyConnection) -> RawFile:
    try:
        rel = con.sql(f"SELECT * FROM read_parquet({_quote(path)})")
        names = rel.columns
        _reject_duplicates([_clean_name(n) for n in pq.read_schema(path).names])  # DuckDB renames duplicates
        select = ", ".join(f'CAST("{n.replace(chr(34), chr(34) * 2)}" AS VARCHAR) AS c{i}' for i, n in enumerate(names))
        table = con.sql(f"SELECT {select} FROM read_parquet({_quote(path)})").to_arrow_table()
    except (duckdb.Error, pa.ArrowException) as exc:
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
    options = f"compression='{compression}', encoding='{encoding}'"
    try:
        # Sniff the dialect once and read with that delimiter, so the header check and the decimal-comma
        # rule see the same delimiter as the reader.
        (delimiter, quote, escape), = con.sql(
            f"SELECT Delimiter, Quote, Escape FROM sniff_csv({_quote(path)}, {options}, store_rejects=true)").fetchall()
        # The dialect comes from a sample of the file: when it holds no quoted field, the CSV standard's
        # quote (RFC 4180), so a quoted field further down is still read as one (a quote inside an
        # unquoted field stays a character). Given the dialect, DuckDB need not sniff the whole file
        # again (0.7 s of a 1M-row file's 1.7 s ingestion, issue 8).
        dialect = f"delim={_sql_literal(delimiter)}, quote={_sql_literal(quote if len(quote) == 1 else chr(34))}"
        dialect += f", escape={_sql_literal(escape)}" if len(escape) == 1 else ""
        rel = con.sql(
            f"SELECT * FROM read_csv({_quote(path)}, all_varchar=true, header=true, store_rejects=true, {dialect}, {options})"
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
    _reject_duplicates(_header(path, compression, encoding, delimiter, quote, escape) or [_clean_name(n) for n in names])
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    # DuckDB may report several errors for one line (one per missing column): one line is one row.
    by_line: dict[int, tuple[str, str]] = {}
    for line, kind, text in rejects:
        by_line.setdefault(int(line), (str(kind).lower(), str(text or "")))
    malformed = [(line - 1, f"malformed CSV line ({kind})", text) for line, (kind, text) in sorted(by_line.items())]
    return _finish(table, [_clean_name(n) for n in names], fmt, malformed, delimiter)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _header(path: Path, compression: str, encoding: str, delimiter: str, quote: str, escape: str) -> list[str] | None:
    """The header's column names as written (DuckDB renames duplicates to `name_1`), or None if unsure."""
    opener = gzip.open if compression == "gzip" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4 << 20).decode(encoding, errors="replace")
        quote = quote if len(quote) == 1 else '"'
        reader = csv.reader(io.StringIO(head), delimiter=delimiter, quotechar=quote,
                            escapechar=escape if len(escape) == 1 and escape != quote else None)
        return [_clean_name(n) for n in next(reader)]
    except (OSError, EOFError, zlib.error, csv.Error, StopIteration, TypeError):
        return None


def _finish(table: pa.Table, names: list[str], fmt: str, malformed: list[tuple[int, str, str]],
            delimiter: str | None = None) -> RawFile:
    if table.num_rows == 0 and not malformed:
        raise UnreadableFile("the file has a header but no data rows")
    # Number the parsed rows by their position in the file, skipping lines the CSV reader rejected.
    bad = {row for row, _, _ in malformed}
    total = table.num_rows + len(bad)
    numbers = [n for n in range(1, total + 1) if n not in bad] if bad else range(1, table.num_rows + 1)
    table = table.append_column(ROW, pa.array(numbers, pa.int64()))
    return RawFile(table=table, columns=names, format=fmt, malformed=malformed, delimiter=delimiter)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
