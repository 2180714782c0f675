"""A deterministic synthetic plant: what it holds, how it behaves when healthy, and `simulate_plant`.

Benchmarks, tests and the demo need realistic plant data with a known truth, reproducible to the byte:
the same `PlantSpec` always gives the same files, because every random draw comes from
`numpy.random.default_rng` keyed by (seed, equipment, slot) and nothing reads the wall clock.

Size scales as `readings ~= sensors x slots`, with `slots = floor(days * 86400 / interval_seconds)`.
Equipment types rotate pump, motor, compressor, fan, conveyor, gearbox with 6, 4, 8, 3, 4, 5 sensors,
so every 6 equipment hold exactly 30 sensors (12 -> 60, 20 -> 100). Logger outages and sensor dropouts
remove about 1 % of the grid; `SimulationSummary.readings` is the exact count. Example: one long CSV of
about 1M readings is `PlantSpec(end, days=10_000 * 60 / 86_400, n_equipment=20, layout="long_csv")`
(100 sensors x 10 000 slots). Memory stays bounded: readings are generated per equipment in pieces of at
most `MAX_PIECE_VALUES` values and appended to their files, never the whole plant at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from smart_maintenance.simulation import writers
from smart_maintenance.simulation.faults import (
    EquipmentPlan,
    apply_sensor_faults,
    degradation_roles,
    plan_equipment,
    present_mask,
    running_mask,
    wear_level,
)

LAYOUTS = ("mixed", "long_csv")
NOMINAL_LOAD = 0.7  # share of capacity at which a sensor reads its base level
MAX_PIECE_VALUES = 1_000_000  # sensors x slots generated at once: bounds memory for any plant size
_NOISE_STREAM, _WRITER_STREAM = 3, 4


@dataclass(frozen=True)
class PlantSpec:
    """What to simulate. `end` is the last timestamp boundary (UTC; naive means UTC), never "now"."""

    end: datetime
    days: float = 14.0
    n_equipment: int = 12
    interval_seconds: int = 60
    seed: int = 7
    bad_row_fraction: float = 0.002  # share of reading rows deliberately made invalid
    layout: str = "mixed"  # "mixed" (many formats) or "long_csv" (one long CSV, for benchmarks)

    def __post_init__(self) -> None:
        if self.days <= 0 or self.n_equipment < 1 or self.interval_seconds < 1:
            raise ValueError("days, n_equipment and interval_seconds must be positive")
        if not 0.0 <= self.bad_row_fraction < 0.5:
            raise ValueError("bad_row_fraction must lie in [0, 0.5)")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if TimeGrid.from_spec(self).n < 1:
            raise ValueError("days is shorter than one interval: no reading would be written")

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "end": _iso(TimeGrid.from_spec(self).end)}


@dataclass(frozen=True)
class SimulationSummary:
    """What `simulate_plant` wrote: the counts a test or a benchmark compares ingestion against."""

    files: list[str]  # landing files written, relative to root
    readings: int  # reading rows written to landing (valid + bad)
    bad_rows: int  # rows deliberately invalid
    equipment: int
    sensors: int
    faults: int
    failures: int


@dataclass(frozen=True)
class TimeGrid:
    """The sampling instants: `n` slots every `interval` seconds, the last one at `end` (whole seconds).

    Anchoring on `end` keeps every timestamp strictly within (end - days, end].
    """

    end: int  # epoch seconds
    interval: int
    n: int

    @classmethod
    def from_spec(cls, spec: PlantSpec) -> TimeGrid:
        end = spec.end if spec.end.tzinfo else spec.end.replace(tzinfo=UTC)
        span = round(spec.days * 86_400, 6)  # days like 10_000 * 60 / 86_400 must not lose a slot
        slots = int(span / spec.interval_seconds + 1e-9)
        return cls(int(end.timestamp() // 1), spec.interval_seconds, slots)

    @property
    def start(self) -> int:
        return self.end - (self.n - 1) * self.interval

    def times(self, start: int, stop: int) -> np.ndarray:
        return self.start + np.arange(start, stop, dtype=np.int64) * self.interval

    def slot_at_or_after(self, epoch: float) -> int:
        return int(np.ceil((epoch - self.start) / self.interval))

    def iso(self, slot: int) -> str:
        return _iso(self.start + slot * self.interval)

    def slots(self, seconds: float) -> int:
        """A duration in whole slots (at least one), so coarse grids still show every fault."""
        return max(1, int(round(seconds / self.interval)))


# --- the plant's catalog: sensors, equipment types, sites, technicians --------------------------------


@dataclass(frozen=True)
class Sensor:
    """One measured quantity of one equipment: healthy behaviour, physical range and alarm limit."""

    sensor_id: str
    sensor_type: str
    unit: str
    base: float  # reading at NOMINAL_LOAD
    alarm_limit: float  # a degradation crosses it before the failure
    valid_min: float
    valid_max: float
    idle: float  # reading while the equipment is stopped
    load_gain: float  # change per unit of load above nominal
    noise: float
    decimals: int
    lag_seconds: int  # thermal inertia: temperatures follow the load late
    ambient_gain: float  # share of the daily ambient temperature swing
    wear_gain: float  # share of the wear span added at full degradation

    @property
    def wear_span(self) -> float:
        """At full wear a worn sensor reads 30 % beyond its alarm margin, so the alarm comes first."""
        return 1.3 * (self.alarm_limit - self.base) * self.wear_gain


# kind: sensor_type, unit, idle, load gain and noise (x base), valid_min, valid_max (x alarm), decimals,
# lag seconds, ambient gain, wear gain. Vibration and temperature rise with wear, current a little.
_KINDS: dict[str, tuple] = {
    "temperature": ("temperature", "°C", 22.0, 0.45, 0.006, -40.0, 2.5, 2, 1800, 1.0, 0.9),
    "vibration": ("vibration_rms", "mm/s", 0.3, 0.5, 0.06, 0.0, 7.0, 3, 0, 0.0, 1.0),
    "pressure": ("pressure", "bar", 0.0, 0.4, 0.01, -1.0, 3.0, 3, 0, 0.0, 0.0),
    "current": ("current", "A", 0.0, 0.8, 0.01, 0.0, 4.0, 2, 0, 0.0, 0.35),
    "flow": ("flow", "m3/h", 0.0, 0.9, 0.015, 0.0, 4.0, 2, 0, 0.0, 0.0),
    "speed": ("speed", "rpm", 0.0, 0.02, 0.002, 0.0, 2.0, 1, 0, 0.0, 0.0),
    "belt_speed": ("speed", "m/s", 0.0, 0.02, 0.002, 0.0, 2.0, 3, 0, 0.0, 0.0),
    "power": ("power", "kW", 0.0, 0.9, 0.01, 0.0, 3.0, 2, 0, 0.0, 0.3),
}
_FIXED_SPEED = ("speed", "belt_speed")  # synchronous drives: no unit-to-unit spread

# type: id prefix, sensors as (sensor_id, kind, base, alarm_limit). 6+4+8+3+4+5 = 30 sensors per rotation.
EQUIPMENT_TYPES: dict[str, tuple[str, tuple[tuple[str, str, float, float], ...]]] = {
    "pump": ("PMP", (("bearing_temp", "temperature", 55, 85), ("vibration", "vibration", 2.8, 7.1),
                     ("discharge_pressure", "pressure", 6.0, 9.0), ("motor_current", "current", 42, 60),
                     ("flow", "flow", 120, 180), ("speed", "speed", 1480, 1560))),
    "motor": ("MTR", (("winding_temp", "temperature", 70, 110), ("vibration", "vibration", 2.2, 7.1),
                      ("current", "current", 65, 90), ("speed", "speed", 2960, 3110))),
    "compressor": ("CMP", (("discharge_temp", "temperature", 95, 125), ("oil_temp", "temperature", 60, 80),
                           ("vibration", "vibration", 3.5, 11.0), ("discharge_pressure", "pressure", 8.5, 11.0),
                           ("suction_pressure", "pressure", 1.2, 2.0), ("current", "current", 110, 150),
                           ("speed", "speed", 2950, 3100), ("power", "power", 75, 110))),
    "fan": ("FAN", (("bearing_temp", "temperature", 45, 80), ("vibration", "vibration", 2.0, 6.3),
                    ("speed", "speed", 990, 1040))),
    "conveyor": ("CNV", (("motor_temp", "temperature", 60, 95), ("vibration", "vibration", 1.8, 4.5),
                         ("current", "current", 18, 26), ("belt_speed", "belt_speed", 2.5, 2.65))),
    "gearbox": ("GBX", (("oil_temp", "temperature", 58, 85), ("vibration_in", "vibration", 2.5, 7.1),
                        ("vibration_out", "vibration", 2.0, 7.1), ("oil_pressure", "pressure", 2.5, 4.0),
                        ("speed", "speed", 300, 315))),
}
TYPE_ROTATION = ("pump", "motor", "compressor", "fan", "conveyor", "gearbox")
SITES = (("hamburg", "Europe/Berlin"), ("houston", "America/Chicago"), ("pune", "Asia/Kolkata"))
CRITICALITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Technician:
    """A technician: skills are disciplines plus the equipment types they service."""

    technician_id: str
    name: str
    skills: tuple[str, ...]
    shift_start: str  # HH:MM local time; a night shift ends the next day
    shift_end: str
    timezone: str


TECHNICIANS = tuple(
    Technician(technician_id, name, tuple(skills.split(";")), start, end, timezone)
    for technician_id, name, skills, start, end, timezone in (
        ("T01", "Anna Keller", "mechanical;pump;compressor;gearbox", "06:00", "14:00", "Europe/Berlin"),
        ("T02", "Jonas Becker", "electrical;instrumentation;motor;fan;conveyor", "14:00", "22:00",
         "Europe/Berlin"),
        ("T03", "Lea Wagner", "mechanical;electrical;pump;motor;fan;conveyor;gearbox", "22:00", "06:00",
         "Europe/Berlin"),
        ("T04", "Marcus Johnson", "mechanical;hydraulics;pump;compressor;gearbox;conveyor", "07:00", "15:00",
         "America/Chicago"),
        ("T05", "Olivia Martinez", "electrical;instrumentation;motor;fan;compressor", "15:00", "23:00",
         "America/Chicago"),
        ("T06", "Priya Sharma", "mechanical;electrical;pump;motor;fan;conveyor;gearbox", "08:00", "16:00",
         "Asia/Kolkata"),
        ("T07", "Rahul Iyer", "instrumentation;electrical;compressor;motor;fan", "16:00", "00:00",
         "Asia/Kolkata"),
        ("T08", "Sofia Rossi", "vibration_analysis;instrumentation;mechanical;pump;compressor;gearbox", "08:00",
         "16:00", "Europe/Berlin"),
    )
)


@dataclass(frozen=True)
class Equipment:
    """One machine: where it stands, what it measures, and the load pattern its sensors share."""

    index: int  # position in the build order: keys its random streams
    equipment_id: str
    equipment_type: str
    site: str
    timezone: str
    criticality: str
    sensors: tuple[Sensor, ...]  # sorted by sensor_id
    utc_offset_seconds: int  # the site's offset at the plant's end: shifts follow local time
    base_load: float
    waves: tuple[tuple[float, float, float], ...]  # slow production swings: amplitude, period (s), phase

    def load(self, times: np.ndarray) -> np.ndarray:
        """Share of capacity in use: a day-shift peak at 14:00 local, quiet weekends, slow swings."""
        local = times + self.utc_offset_seconds
        hour = (local % 86_400) / 3600.0
        weekend = (local // 86_400 + 3) % 7 >= 5  # epoch day 0 was a Thursday
        load = self.base_load + 0.12 * np.cos(2 * np.pi * (hour - 14.0) / 24.0) - 0.15 * weekend
        for amplitude, period, phase in self.waves:
            load = load + amplitude * np.sin(2 * np.pi * times / period + phase)
        return np.clip(load, 0.05, 1.05)


def build_equipment(n_equipment: int, seed: int, end: datetime) -> tuple[Equipment, ...]:
    """The plant's equipment, sorted by id: types rotate, sites interleave, levels vary per unit."""
    width = max(3, len(str(n_equipment)))
    plant = []
    for i in range(n_equipment):
        rng = np.random.default_rng([seed, i, 0])
        equipment_type = TYPE_ROTATION[i % len(TYPE_ROTATION)]
        prefix, rows = EQUIPMENT_TYPES[equipment_type]
        site, timezone = SITES[(i + i // len(TYPE_ROTATION)) % len(SITES)]
        criticality = str(rng.choice(CRITICALITIES, p=(0.25, 0.35, 0.25, 0.15)))
        scale = rng.uniform(0.95, 1.05)
        sensors = sorted(
            (_sensor(sid, kind, base if kind in _FIXED_SPEED else base * scale, alarm)
             for sid, kind, base, alarm in rows),
            key=lambda s: s.sensor_id,
        )  # fmt: skip
        waves = (
            (rng.uniform(0.03, 0.06), rng.uniform(2.0, 4.0) * 86_400, rng.uniform(0, 2 * np.pi)),
            (rng.uniform(0.01, 0.03), rng.uniform(5.0, 11.0) * 3600, rng.uniform(0, 2 * np.pi)),
        )
        offset = int(ZoneInfo(timezone).utcoffset(end).total_seconds())
        equipment_id = f"{prefix}-{i + 1:0{width}d}"
        base_load = rng.uniform(0.62, 0.75)
        plant.append(Equipment(i, equipment_id, equipment_type, site, timezone, criticality, tuple(sensors),
                               offset, base_load, waves))  # fmt: skip
    return tuple(sorted(plant, key=lambda eq: eq.equipment_id))


def _sensor(sensor_id: str, kind: str, base: float, alarm: float) -> Sensor:
    sensor_type, unit, idle, gain, noise, lo, hi, decimals, lag, ambient, wear = _KINDS[kind]
    valid_max = _round_up(hi * alarm)
    return Sensor(sensor_id, sensor_type, unit, float(base), float(alarm), lo, valid_max, idle,
                  gain * (base - idle), noise * base, decimals, lag, ambient, wear)  # fmt: skip


def simulate_plant(root: Path, spec: PlantSpec) -> SimulationSummary:
    """Write a synthetic plant under the data root `root`: reference data, landing files, ground truth.

    Files with the same names are overwritten; nothing else under `root` is touched.
    """
    root, grid = Path(root), TimeGrid.from_spec(spec)
    plant = build_equipment(spec.n_equipment, spec.seed, datetime.fromtimestamp(grid.end, UTC))
    roles = degradation_roles(spec.n_equipment)
    plans = {eq.equipment_id: _plan(eq, grid, spec.seed, roles.get(eq.index)) for eq in plant}
    files = writers.plan_landing_files(plant, grid, spec.layout, MAX_PIECE_VALUES)
    files = writers.allocate_bad_rows(files, plant, spec.bad_row_fraction, spec.seed)
    writers.write_reference(root / "reference", plant, TECHNICIANS)

    by_id = {eq.equipment_id: eq for eq in plant}
    readings, bad_rows = 0, []
    for landing_file in files:
        with writers.open_readings_file(root / "landing", landing_file) as out:
            for piece, n_bad in zip(landing_file.pieces, landing_file.bad_rows, strict=True):
                eq = by_id[piece.equipment_id]
                block = reading_block(eq, plans[eq.equipment_id], grid, piece, spec.seed)
                written, bad = out.append(block, n_bad)
                readings += written
                bad_rows.extend(bad)

    failures = writers.write_record(root, plant, plans, bad_rows, grid)
    summary = SimulationSummary(
        files=sorted([f"landing/{f.path}" for f in files] + [f"landing/{writers.EVENTS_FILE}"]),
        readings=readings,
        bad_rows=len(bad_rows),
        equipment=len(plant),
        sensors=sum(len(eq.sensors) for eq in plant),
        faults=sum(len(plan.faults) for plan in plans.values()),
        failures=failures,
    )
    document = {**asdict(summary), "spec": spec.to_json()}
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    (root / "ground_truth" / "summary.json").write_text(text, encoding="utf-8")
    return summary


def reading_block(
    eq: Equipment, plan: EquipmentPlan, grid: TimeGrid, piece: writers.Piece, seed: int
) -> writers.ReadingBlock:
    """Readings of one equipment for one piece of slots: healthy behaviour, noise, then the faults."""
    start, stop = piece.start, piece.stop
    times = grid.times(start, stop)
    running = running_mask(start, stop, plan.stops)
    values = healthy_values(eq, times, running, wear_level(start, stop, plan.faults))
    noise = np.random.default_rng([seed, eq.index, _NOISE_STREAM, start]).standard_normal(values.shape)
    # A stopped machine still reports, with less noise: a realistic "off" pattern for the detectors.
    values += noise * np.array([s.noise for s in eq.sensors]) * np.where(running, 1.0, 0.3)[:, None]
    index = {s.sensor_id: j for j, s in enumerate(eq.sensors)}
    apply_sensor_faults(values, start, index, plan.faults)
    for j, sensor in enumerate(eq.sensors):  # fixed decimals (and no -0.0): the same plant, the same bytes
        clipped = np.clip(values[:, j], sensor.valid_min, sensor.valid_max)
        values[:, j] = np.round(clipped, sensor.decimals) + 0.0
    present = present_mask(start, stop, index, plan.faults, plan.outages)
    return writers.ReadingBlock(eq, times, values, present, (seed, eq.index, _WRITER_STREAM, start))


def healthy_values(eq: Equipment, times: np.ndarray, running: np.ndarray, wear: np.ndarray) -> np.ndarray:
    """Noise-free readings (slots x sensors): load-driven levels, daily ambient swing, wear, stops.

    Sensors of one equipment share its load, so current, flow and temperature move together; the
    temperature follows the load with a thermal lag.
    """
    values = np.empty((len(times), len(eq.sensors)))
    local_hour = ((times + eq.utc_offset_seconds) % 86_400) / 3600.0
    ambient = 3.0 * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)  # warmest at 15:00
    for j, sensor in enumerate(eq.sensors):
        load = eq.load(times - sensor.lag_seconds)
        level = sensor.base + sensor.load_gain * (load - NOMINAL_LOAD) + sensor.ambient_gain * ambient
        level += sensor.wear_span * wear
        idle = sensor.idle + sensor.ambient_gain * ambient
        values[:, j] = np.where(running, level, idle)
    return values


def _plan(eq: Equipment, grid: TimeGrid, seed: int, degradation: str | None) -> EquipmentPlan:
    plan = plan_equipment(eq, grid, TECHNICIANS, np.random.default_rng([seed, eq.index, 1]), degradation)
    return _with_stuck_values(eq, plan, grid)


def _with_stuck_values(eq: Equipment, plan: EquipmentPlan, grid: TimeGrid) -> EquipmentPlan:
    """A stuck sensor repeats its healthy reading at the moment it froze, whichever piece that lies in."""
    faults = []
    for fault in plan.faults:
        if fault.fault_type == "stuck":
            j = [s.sensor_id for s in eq.sensors].index(fault.sensor_id)
            slot = fault.start
            running, wear = running_mask(slot, slot + 1, plan.stops), wear_level(slot, slot + 1, plan.faults)
            frozen = healthy_values(eq, grid.times(slot, slot + 1), running, wear)[0, j]
            fault = replace(fault, magnitude=round(float(frozen), eq.sensors[j].decimals))
        faults.append(fault)
    return replace(plan, faults=tuple(faults))


def _round_up(value: float) -> float:
    """Two significant digits, upwards: a physical range reads like a data sheet (320, not 312.5)."""
    step = 10.0 ** (np.floor(np.log10(value)) - 1)
    return float(np.ceil(value / step - 1e-9) * step)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
