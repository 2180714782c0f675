"""Time partitions of the lake. Daily keys from 2000-01-01 stay far below Dagster's 100k-keys guidance."""

from datetime import timedelta

import dagster as dg

# end_offset=1: today's partition exists, so readings of the current day land in their own partition.
daily = dg.DailyPartitionsDefinition(start_date="2000-01-01", timezone="UTC", end_offset=1)

# Detection models are refitted weekly: the model of week W learns from the weeks before W only, so
# every score is computed with a model that could have existed at the reading's time.
weekly = dg.WeeklyPartitionsDefinition(start_date="2000-01-03", day_offset=1, timezone="UTC", end_offset=1)


def days_in(window: dg.TimeWindow) -> list[str]:
    """The daily partition keys (ISO dates) of a time window: one code path serves one day or a range."""
    return [(window.start + timedelta(days=i)).date().isoformat() for i in range((window.end - window.start).days)]
