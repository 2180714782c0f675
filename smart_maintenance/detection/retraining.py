"""When to (re)fit the weekly detection models: a rule on what changed in the lake.

The model of week W learns from the `training_weeks` weeks before W. It is needed as soon as W holds
readings, and must be refitted when readings of its training weeks changed after it was fitted (late or
corrected data), never because readings of W itself arrived: micro-batches do not retrain.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd


def week_of(day: str) -> str:
    """The Monday (ISO date) of the week holding `day` (ISO date)."""
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def training_days(week: str, training_weeks: int) -> list[str]:
    start = date.fromisoformat(week)
    return [(start - timedelta(days=i)).isoformat() for i in range(7 * training_weeks, 0, -1)]


def week_resets(resets, week: str, training_weeks: int):
    """The baseline resets (a frame with `reset_at`) that the model of `week` and its scores depend on:
    those in its training weeks (its fit) and in the week itself (its scoring)."""
    start = pd.Timestamp(week, tz="UTC")
    return resets[(resets["reset_at"] >= start - timedelta(weeks=training_weeks)) & (resets["reset_at"] < start + timedelta(weeks=1))]


def weeks_to_fit(readings: Mapping[str, int], models: Mapping[str, int], training_weeks: int) -> list[str]:
    """Weeks whose model is missing or older than its training data.

    readings: day -> storage id of the latest materialization of that day's readings;
    models: week -> storage id of the latest materialization of that week's model.
    """
    needed = []
    for week in sorted({week_of(day) for day in readings}):
        fitted = models.get(week)
        newest_input = max((readings.get(d, -1) for d in training_days(week, training_weeks)), default=-1)
        if fitted is None or newest_input > fitted:
            needed.append(week)
    return needed


def days_to_score(readings: Mapping[str, int], models: Mapping[str, int], scores: Mapping[str, int]) -> list[str]:
    """Days whose scores are missing or older than their readings or their week's model (which must exist)."""
    stale = []
    for day, readings_id in sorted(readings.items()):
        model_id = models.get(week_of(day))
        if model_id is None:
            continue
        scored = scores.get(day)
        if scored is None or readings_id > scored or model_id > scored:
            stale.append(day)
    return stale


def contiguous_ranges(keys: list[str], step: timedelta = timedelta(days=1)) -> list[tuple[str, str]]:
    """Sorted ISO-date keys grouped into (first, last) runs of consecutive keys."""
    ranges: list[tuple[str, str]] = []
    for key in sorted(keys):
        if ranges and date.fromisoformat(key) - date.fromisoformat(ranges[-1][1]) == step:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges
