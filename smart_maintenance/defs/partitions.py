"""Time partitions of the lake. Daily keys from 2000-01-01 stay far below Dagster's 100k-keys guidance."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import dagster as dg


class LakeDays(dg.DailyPartitionsDefinition):
    """Dagster's daily partitions, with the list of every partition key kept per last partition.

    Before each step of an unpartitioned asset with a daily parent (`rul_models`, `maintenance_requests`),
    Dagster lists all the parent's partition keys to decide whether reading per-partition data versions is
    worth it (it is not past 100 keys, and then the list is thrown away): 9,823 keys since 2000, 49 ms each
    time, 0.1 s of every micro-batch (issue 8). The list depends only on the definition and on its last
    partition, so it is built once a day. The same definition otherwise: equal to (and hashed as) a
    `DailyPartitionsDefinition` with the same arguments, and stored by Dagster as one."""

    def get_partition_keys(self, current_time: datetime | None = None,
                           dynamic_partitions_store: Any = None) -> Sequence[str]:
        with dg.partition_loading_context(current_time, dynamic_partitions_store):
            key = (self, self.get_last_partition_key())
            keys = _KEYS.get(key)
            if keys is None:
                keys = tuple(super().get_partition_keys())
                with _KEYS_LOCK:
                    if len(_KEYS) >= 4:  # a few definitions and days: a process running for months holds no more
                        _KEYS.clear()
                    _KEYS[key] = keys
        return list(keys)  # a list of its own, as Dagster's: a caller may change it


_KEYS: dict[tuple, tuple[str, ...]] = {}
_KEYS_LOCK = threading.Lock()

# end_offset=1: today's partition exists, so readings of the current day land in their own partition.
daily = LakeDays(start_date="2000-01-01", timezone="UTC", end_offset=1)

# Detection models are refitted weekly: the model of week W learns from the weeks before W only, so
# every score is computed with a model that could have existed at the reading's time.
weekly = dg.WeeklyPartitionsDefinition(start_date="2000-01-03", day_offset=1, timezone="UTC", end_offset=1)


def days_in(window: dg.TimeWindow) -> list[str]:
    """The daily partition keys (ISO dates) of a time window: one code path serves one day or a range."""
    return [(window.start + timedelta(days=i)).date().isoformat() for i in range((window.end - window.start).days)]
