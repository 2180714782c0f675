"""Reporting: the daily report asset, its schedule and the on-demand report job."""
