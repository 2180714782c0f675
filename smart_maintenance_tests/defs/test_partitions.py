"""The lake's daily partitions keep their key list per last partition (issue 8): the same keys as Dagster's
own definition at any time, computed once per day."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from smart_maintenance.defs import partitions
from smart_maintenance.defs.partitions import daily

STOCK = dg.DailyPartitionsDefinition(start_date="2000-01-01", timezone="UTC", end_offset=1)


@pytest.mark.parametrize("at", [None, datetime(2026, 2, 2, 23, 59, 59, tzinfo=timezone.utc), datetime(2026, 2, 3, tzinfo=timezone.utc),
                                datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(1999, 12, 31, tzinfo=timezone.utc)])
def test_the_keys_of_the_stock_definition_at_any_time(at):
    assert daily.get_partition_keys(at) == STOCK.get_partition_keys(at)
    with dg.partition_loading_context(at):  # the way Dagster passes the time
        assert daily.get_partition_keys() == STOCK.get_partition_keys()


def test_the_list_is_built_once_per_last_partition(monkeypatch):
    first, later, next_day = (datetime(2026, 2, d, h, tzinfo=timezone.utc) for d, h in ((2, 1), (2, 23), (3, 1)))
    expected = STOCK.get_partition_keys(later)
    built = []
    stock = dg.DailyPartitionsDefinition.get_partition_keys
    monkeypatch.setattr(dg.DailyPartitionsDefinition, "get_partition_keys",
                        lambda self, *a, **k: built.append(1) or stock(self, *a, **k))
    partitions._KEYS.clear()
    keys = daily.get_partition_keys(first)
    keys.append("changed by a caller")  # a list of its own: the kept one is not changed
    assert daily.get_partition_keys(later) == expected and len(built) == 1  # the same last partition: kept
    assert daily.get_partition_keys(next_day)[-1] == "2026-02-03" and len(built) == 2  # a new day: built again


def test_the_same_definition_for_dagster():
    assert daily == STOCK and hash(daily) == hash(STOCK)
    from dagster._core.definitions.partitions.snap.snap import PartitionsSnap

    assert PartitionsSnap.from_def(daily) == PartitionsSnap.from_def(STOCK)  # what the webserver and daemon see
