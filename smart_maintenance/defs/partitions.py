"""Time partitions of the lake. Daily keys from 2000-01-01 stay far below Dagster's 100k-keys guidance."""

import dagster as dg

# end_offset=1: today's partition exists, so readings of the current day land in their own partition.
daily = dg.DailyPartitionsDefinition(start_date="2000-01-01", timezone="UTC", end_offset=1)
