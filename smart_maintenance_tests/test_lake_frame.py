"""`lake.frame`: the frame DuckDB's `.df()` gives, through Arrow (issue 8: DuckDB 2.0's `.df()` costs
~0.25 ms a column). Compared with `.df()` itself, column type by column type, with and without nulls."""

from __future__ import annotations

import pandas as pd
import pytest

from smart_maintenance import lake

COLUMNS = {  # a SQL expression of x (0, 1, 2) per DuckDB type the lake and our queries produce
    "big": "x::BIGINT", "int": "x::INTEGER", "small": "x::SMALLINT", "tiny": "x::TINYINT", "ubig": "x::UBIGINT",
    "uint": "x::UINTEGER", "dbl": "x / 3", "flt": "(x / 3)::FLOAT", "flag": "x > 0", "txt": "'v' || x",
    "ts": "TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (x) HOUR", "naive": "TIMESTAMP '2026-01-01' + INTERVAL (x) HOUR",
    "day": "DATE '2026-01-01' + x::INTEGER", "dec": "(x + 0.5)::DECIMAL(6, 2)", "sum_int": "sum(x::INTEGER) OVER ()",
    "sum_big": "sum(x::BIGINT) OVER ()", "cnt": "count(*) OVER ()", "digest": "hash(x)", "items": "[x, x + 1]",
    "texts": "['a', 'b' || x]",
}


def _query(rows: str, nulls: str) -> str:
    """One column per type; `nulls`: 'none', 'some' (x = 0 is NULL), 'all'."""
    wrap = {"none": "{}", "some": "CASE WHEN x > 0 THEN {} END", "all": "CASE WHEN x > 5 THEN {} END"}[nulls]
    return f"SELECT {', '.join(f'{wrap.format(sql)} AS {name}' for name, sql in COLUMNS.items())} FROM {rows} ORDER BY x"


@pytest.mark.parametrize("nulls", ["none", "some", "all"])
@pytest.mark.parametrize("rows", ["range(3) t(x)", "range(0) t(x)"])
def test_frame_is_the_frame_df_gives(rows, nulls):
    con = lake.connect()
    query = _query(rows, nulls)
    expected, got = con.sql(query).df(), lake.frame(con.sql(query))
    assert list(got.columns) == list(COLUMNS)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    if nulls == "all":  # assert_frame_equal takes None and NaN for the same: .df() has None there
        assert all(v is None for v in got["txt"]) and all(v is None for v in expected["txt"])


def test_frame_of_a_type_it_does_not_convert_is_the_frame_df_gives():
    con = lake.connect()
    query = "SELECT INTERVAL (x) HOUR AS gap, {'a': x} AS pair, x::BIGINT AS n FROM range(3) t(x)"
    pd.testing.assert_frame_equal(lake.frame(con.sql(query)), con.sql(query).df(), check_exact=True)


def test_frame_of_a_lake_scan_with_its_hive_date_column(tmp_path):
    import pyarrow as pa

    lake.write_partition(tmp_path, "ds", "date", "2026-01-02", pa.table({"v": [1, None], "s": ["a", None]}))
    query = f"SELECT * FROM {lake.scan_sql(tmp_path, 'ds')}"
    con = lake.connect()
    pd.testing.assert_frame_equal(lake.frame(con.sql(query)), con.sql(query).df(), check_exact=True)
