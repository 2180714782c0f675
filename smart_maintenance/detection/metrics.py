"""Evaluation metrics for detection, with SKAB's definitions.

Point level (outlier task): precision, recall, F1, false-alarm rate FAR = FP / (FP + TN) and
missed-alarm rate MAR = FN / (FN + TP), over all labelled points concatenated.
Event level: an event is a maximal run of labelled points; it is detected when a predicted point falls
inside it; the delay is from its first labelled point to the first predicted point inside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def point_metrics(y_true, y_pred) -> dict:
    y = np.asarray(y_true, bool)
    p = np.asarray(y_pred, bool)
    tp = int((p & y).sum())
    fp = int((p & ~y).sum())
    fn = int((~p & y).sum())
    tn = int((~p & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "far": fp / (fp + tn) if fp + tn else 0.0,
        "mar": fn / (fn + tp) if fn + tp else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def events(y_true) -> list[tuple[int, int]]:
    """(first, last) positions of each run of true labels."""
    y = np.asarray(y_true, bool).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.r_[0, y, 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def event_detections(timestamps, y_true, y_pred) -> pd.DataFrame:
    """One row per labelled event: start, end, detected, delay_s (NaN if missed), delay_points."""
    ts = pd.to_datetime(pd.Series(timestamps)).reset_index(drop=True)
    p = np.asarray(y_pred, bool)
    rows = []
    for a, b in events(y_true):
        hits = np.flatnonzero(p[a : b + 1])
        first = a + int(hits[0]) if len(hits) else None
        rows.append(
            {
                "start": ts[a],
                "end": ts[b],
                "detected": first is not None,
                "delay_s": (ts[first] - ts[a]).total_seconds() if first is not None else np.nan,
                "delay_points": (first - a) if first is not None else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["start", "end", "detected", "delay_s", "delay_points"])


def event_summary(detections: pd.DataFrame) -> dict:
    n = len(detections)
    found = detections[detections["detected"]] if n else detections
    return {
        "events": n,
        "events_detected": int(len(found)),
        "event_recall": len(found) / n if n else 0.0,
        "mean_delay_s": float(found["delay_s"].mean()) if len(found) else float("nan"),
        "median_delay_s": float(found["delay_s"].median()) if len(found) else float("nan"),
    }
