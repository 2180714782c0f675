"""Alerts of an equipment whose inputs did not change are kept, not rebuilt (issue 8: a micro-batch
recomputes only the equipment it touched).

An equipment's alerts and their validation are a function of its own inputs alone: its anomaly scores
(episodes, each sensor's last reading, operating state, corroboration, data quality), its maintenance
events and the baseline resets they make (with, for the warm-ups, its readings after them), its row of
the equipment reference and its sensors' rows, the detection configuration, and the code. A fingerprint
of those per equipment is stored with the alerts (in the Parquet file's metadata). A refresh rebuilds
the equipment whose fingerprint changed and keeps the other equipment's rows as they were: the same
table as rebuilding everything (smart_maintenance_tests/defs/test_alert_reuse.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.detection.config import DetectionConfig

METADATA_KEY = b"smart_maintenance.alert_fingerprints"


def score_summary(root: DataRoot) -> pd.DataFrame:
    """Per sensor and day of the scores: their number `n`, an order-free `digest` of the columns alerts are
    built from, and the `last` timestamp. One scan serves the fingerprints, each sensor's last reading (is an
    alert open?) and the equipment-days (the alert rate check)."""
    return lake.frame(lake.connect().sql(
        f"""SELECT equipment_id, sensor_id, date, count(*) AS n, max(timestamp) AS last,
                   bit_xor(hash(sensor_id, timestamp, value, sensor_type, anomaly_score, is_anomaly, detectors_fired,
                                score_gap)) AS digest
            FROM {lake.scan_sql(root.lake, 'anomaly_scores')} GROUP BY ALL"""))


def fingerprints(root: DataRoot, config: DetectionConfig, summary: pd.DataFrame, events: pd.DataFrame | None,
                 resets: pd.DataFrame, equipment: pd.DataFrame, sensors: pd.DataFrame) -> dict[str, str]:
    """equipment_id -> fingerprint of everything its alerts are built from, for every equipment with scores
    (summary: score_summary)."""
    n, digest = summary["n"].to_numpy(), summary["digest"].to_numpy(dtype=np.uint64)
    scores = [(equipment_id, int(n[rows].sum()), int(np.bitwise_xor.reduce(digest[rows])))
              for equipment_id, rows in summary.groupby("equipment_id", sort=False).indices.items()]
    reset_equipment = sorted(set(resets["equipment_id"]) & {row[0] for row in scores})
    readings: dict[str, list] = {}
    if reset_equipment:  # warm-up re-baselines read these readings themselves, scored or not yet
        readings = {eq: [n, h] for eq, n, h in lake.connect().execute(
            f"""SELECT equipment_id, count(*), bit_xor(hash(sensor_id, timestamp, value))
                FROM {lake.scan_sql(root.lake, 'sensor_readings')} WHERE list_contains(?, equipment_id) GROUP BY ALL""",
            [reset_equipment]).fetchall()}
    common = [_code_version(), repr(config)]
    tables = [_rows_by_equipment(t) for t in (events, resets, equipment, sensors)]
    return {
        equipment_id: hashlib.sha256(json.dumps([
            common, [n, h], readings.get(equipment_id), [t.get(equipment_id) for t in tables],
        ], default=str).encode()).hexdigest()
        for equipment_id, n, h in scores
    }


def _rows_by_equipment(frame: pd.DataFrame | None) -> dict[str, str]:
    """equipment_id -> a digest of its rows of a small table, whatever their order."""
    if frame is None or len(frame) == 0:
        return {}
    text = frame.astype(str)
    rows = pd.util.hash_pandas_object(text, index=False).to_numpy()  # fixed hash key: the same in every process
    return {str(equipment_id): hashlib.sha256(np.sort(rows[positions]).tobytes()).hexdigest()
            for equipment_id, positions in text.groupby("equipment_id", sort=False).indices.items()}


@functools.cache
def _code_version() -> str:
    """The detection code: a change of a rule rebuilds every equipment's alerts."""
    here = Path(__file__).parent
    files = sorted((here.parent.parent / "detection").glob("*.py")) + sorted(here.glob("*.py"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def previous(root: DataRoot) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """The alerts in the lake and the fingerprints they were built from (none: rebuild everything)."""
    path = lake.dataset_file(root.lake, "alerts")
    if not path.exists():
        return None, {}
    table = lake.read_table(path)
    stored = (table.schema.metadata or {}).get(METADATA_KEY)
    if stored is None:
        return None, {}
    return table.to_pandas(), json.loads(stored)


def with_fingerprints(table: pa.Table, prints: dict[str, str]) -> pa.Table:
    return table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(prints).encode()})
