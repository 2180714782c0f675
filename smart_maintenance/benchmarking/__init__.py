"""Measured quality and speed: the `smart-maintenance evaluate ...` commands and `make bench`."""
