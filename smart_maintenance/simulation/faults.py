"""What goes wrong in the simulated plant, and what maintenance does about it.

Faults, stops and logger outages are planned per equipment up front, as windows of slots on the time
grid. Readings are then generated piece by piece, and each piece asks these windows what applies to its
slots: a fault is a pure function of the slot, so it looks the same however the readings are split into
files. Sensor faults keep clear of stops, outages, degradations and each other on the same sensor, so
every fault in the ground truth is visible in the readings and means one thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from smart_maintenance.simulation.plant import Equipment, Technician, TimeGrid

HOUR, DAY, WEEK = 3600, 86_400, 7 * 86_400
SENSOR_FAULTS = ("spike", "level_shift", "stuck", "dropout")
_PER_WEEK = {"spike": 2.0, "level_shift": 0.4, "stuck": 0.4, "dropout": 0.5, "outage": 0.7}  # Poisson means
_DURATION = {"level_shift": (6 * HOUR, 48 * HOUR), "stuck": (2 * HOUR, 12 * HOUR), "dropout": (HOUR, 8 * HOUR)}
_PM_CADENCE_DAYS = {"critical": 7, "high": 14, "medium": 21, "low": 28}
_WEAR_EXPONENT = 1.6  # wear accelerates towards the failure
FAILURE_MODES = {
    "pump": "bearing wear", "motor": "bearing wear", "compressor": "valve wear",
    "fan": "impeller imbalance", "conveyor": "gearmotor bearing wear", "gearbox": "gear tooth wear",
}  # fmt: skip


@dataclass(frozen=True)
class Fault:
    """One injected fault over slots [start, end]; `failure_at` (a slot) ends a degradation.

    An ongoing degradation ends at the last slot and fails after the data ends (`failure_at` > end):
    the ground truth a remaining-useful-life forecast is scored against.
    """

    equipment_id: str
    sensor_id: str  # '' for an equipment-level degradation
    fault_type: str  # spike, level_shift, stuck, dropout, degradation
    start: int
    end: int
    failure_at: int | None = None
    magnitude: float = 0.0  # offset of a spike or level shift; the value a stuck sensor repeats


@dataclass(frozen=True)
class MaintenanceEvent:
    equipment_id: str
    slot: int
    event_type: str  # failure, corrective_repair, preventive_maintenance, inspection, replacement
    technician_id: str
    notes: str
    work_order: bool  # planned or corrective work carries a request_id


@dataclass(frozen=True)
class EquipmentPlan:
    faults: tuple[Fault, ...]
    events: tuple[MaintenanceEvent, ...]
    stops: tuple[tuple[int, int], ...]  # [start, stop) slots the equipment stood still: idle readings
    outages: tuple[tuple[int, int], ...]  # [start, stop) slots the data logger recorded nothing


def degradation_roles(n_equipment: int) -> dict[int, str]:
    """Which equipment wear out, by build index: a third of them, spread over all types and sites.

    With three or more, the last one is still wearing when the data ends ("ongoing"), the others fail
    and are repaired within it ("complete").
    """
    wearing = [i for i in range(n_equipment) if (i + 2 * (i // 6)) % 3 == 0]
    return {i: "ongoing" if len(wearing) >= 3 and i == wearing[-1] else "complete" for i in wearing}


def plan_equipment(
    eq: Equipment,
    grid: TimeGrid,
    technicians: tuple[Technician, ...],
    rng: np.random.Generator,
    role: str | None,  # from degradation_roles: None, "complete" or "ongoing"
) -> EquipmentPlan:
    """Everything that happens to one equipment over the grid, drawn from its own random stream."""
    planner = _Planner(eq, grid, technicians, rng)
    if role:
        planner.degradation(ongoing=role == "ongoing")
    planner.preventive_maintenance()
    planner.inspections()
    planner.outages()
    planner.sensor_faults()
    return EquipmentPlan(
        tuple(sorted(planner.faults, key=lambda f: (f.start, f.sensor_id, f.fault_type))),
        tuple(sorted(planner.events, key=lambda e: (e.slot, e.event_type))),
        tuple(sorted(planner.stops)),
        tuple(sorted(planner.outage_windows)),
    )


@dataclass
class _Planner:
    eq: Equipment
    grid: TimeGrid
    technicians: tuple[Technician, ...]
    rng: np.random.Generator
    faults: list[Fault] = field(default_factory=list)
    events: list[MaintenanceEvent] = field(default_factory=list)
    stops: list[tuple[int, int]] = field(default_factory=list)
    outage_windows: list[tuple[int, int]] = field(default_factory=list)
    busy: list[tuple[int, int]] = field(default_factory=list)  # windows sensor faults keep clear of

    def degradation(self, ongoing: bool) -> None:
        """A wear-out over 15-30 % of the data (6 h to 5 days): failure, downtime, corrective repair."""
        grid, rng, eq_id = self.grid, self.rng, self.eq.equipment_id
        span = grid.n * grid.interval
        length = grid.slots(float(np.clip(rng.uniform(0.15, 0.3) * span, 6 * HOUR, 5 * DAY)))
        downtime = grid.slots(rng.uniform(2, 8) * HOUR)
        lead = max(1, grid.n // 10)  # some healthy history first, to learn what normal looks like
        if ongoing:
            start = grid.n - max(1, int(length * rng.uniform(0.5, 0.85)))
            if start >= lead:
                self.faults.append(Fault(eq_id, "", "degradation", start, grid.n - 1, start + length))
                self.busy.append((start, grid.n))
            return
        latest = grid.n - 1 - downtime - lead // 2
        if latest < lead + length:
            return  # too short a plant for a wear-out
        failure = int(rng.integers(lead + length, latest + 1))
        repaired = failure + downtime
        mode = FAILURE_MODES[self.eq.equipment_type]
        self.faults.append(Fault(eq_id, "", "degradation", failure - length, failure, failure))
        self.stops.append((failure, repaired))
        self.busy.append((failure - length, repaired + 1))
        self._event(failure, "failure", "", f"unit tripped: {mode}; vibration above alarm limit", False)
        technician = self._technician(self.eq.equipment_type)
        self._event(repaired, "corrective_repair", technician, f"repaired {mode}; back in service", True)

    def preventive_maintenance(self) -> None:
        """Planned stops at 07:00 local, more often for more critical equipment."""
        cadence = _PM_CADENCE_DAYS[self.eq.criticality]
        for day in range(int(self.rng.integers(cadence)), self._days() + 1, cadence):
            begin = self.grid.slot_at_or_after(self._local_midnight() + day * DAY + 7 * HOUR)
            finish = begin + self.grid.slots(self.rng.uniform(1, 3) * HOUR)
            if begin < 0 or finish > self.grid.n - 1 or _overlaps(begin, finish + 1, self.busy):
                continue
            self.stops.append((begin, finish))
            self.busy.append((begin, finish))
            technician = self._technician(self.eq.equipment_type)
            notes = "planned stop: lubrication and filter change"
            self._event(finish, "preventive_maintenance", technician, notes, True)

    def inspections(self) -> None:
        """Weekly walk-rounds at 10:00 local; in the late phase of a wear-out they notice it."""
        for day in range(int(self.rng.integers(7)), self._days() + 1, 7):
            slot = self.grid.slot_at_or_after(self._local_midnight() + day * DAY + 10 * HOUR)
            if not 0 <= slot < self.grid.n or _overlaps(slot, slot + 1, self.stops):
                continue
            worn = wear_level(slot, slot + 1, self.faults)[0] > 0.5
            notes = "elevated vibration and temperature noted" if worn else "routine inspection: no findings"
            self._event(slot, "inspection", self._technician(self.eq.equipment_type), notes, False)

    def outages(self) -> None:
        """Logger outages: stretches with no rows at all for the equipment."""
        for _ in range(self.rng.poisson(_PER_WEEK["outage"] * self._weeks())):
            length = self.grid.slots(self.rng.uniform(600, 3 * HOUR))
            start = self._place(length, self.busy)
            if start is not None:
                self.outage_windows.append((start, start + length))
                self.busy.append((start, start + length))

    def sensor_faults(self) -> None:
        counts = {kind: self.rng.poisson(_PER_WEEK[kind] * self._weeks()) for kind in SENSOR_FAULTS}
        kinds = [kind for kind in SENSOR_FAULTS for _ in range(counts[kind])]
        kinds.append(SENSOR_FAULTS[self.eq.index % len(SENSOR_FAULTS)])  # every small plant shows each kind
        taken: dict[str, list[tuple[int, int]]] = {}
        for kind in kinds:
            sensor = self.eq.sensors[int(self.rng.integers(len(self.eq.sensors)))]
            if kind == "spike":
                length = int(self.rng.integers(1, 4))
            else:
                length = min(self.grid.slots(self.rng.uniform(*_DURATION[kind])), max(1, self.grid.n // 4))
            start = self._place(length, self.busy + taken.get(sensor.sensor_id, []))
            if start is None:
                continue
            taken.setdefault(sensor.sensor_id, []).append((start, start + length))
            # Sized against the sensor's alarm margin, so a fault is as visible on rpm as on mm/s.
            band = (sensor.alarm_limit - sensor.base) * self.rng.choice((-1.0, 1.0))
            share = {"spike": self.rng.uniform(0.5, 1.0), "level_shift": self.rng.uniform(0.25, 0.5)}.get(kind, 0)
            magnitude = round(float(band * share), sensor.decimals) + 0.0
            end = start + length - 1
            self.faults.append(Fault(self.eq.equipment_id, sensor.sensor_id, kind, start, end, None, magnitude))
            if kind == "stuck" and start + length < self.grid.n:
                notes = f"replaced {sensor.sensor_id} transmitter: reading was frozen"
                self._event(start + length, "replacement", self._technician("instrumentation"), notes, True)

    def _place(self, length: int, avoid: list[tuple[int, int]]) -> int | None:
        """A random start for a window of `length` slots, an hour clear of `avoid`; None if none fits."""
        margin, latest = self.grid.slots(HOUR), self.grid.n - length - 1
        for _ in range(30):
            if latest < 1:
                return None
            start = int(self.rng.integers(1, latest + 1))
            if not _overlaps(start - margin, start + length + margin, avoid):
                return start
        return None

    def _technician(self, skill: str) -> str:
        """A technician with the skill, from the equipment's own site when there is one."""
        able = [t for t in self.technicians if skill in t.skills] or list(self.technicians)
        local = [t for t in able if t.timezone == self.eq.timezone] or able
        return local[int(self.rng.integers(len(local)))].technician_id

    def _event(self, slot: int, event_type: str, technician: str, notes: str, work_order: bool) -> None:
        event = MaintenanceEvent(self.eq.equipment_id, slot, event_type, technician, notes, work_order)
        self.events.append(event)

    def _local_midnight(self) -> int:
        local = self.grid.start + self.eq.utc_offset_seconds
        return local - local % DAY - self.eq.utc_offset_seconds

    def _days(self) -> int:
        return int(np.ceil(self.grid.n * self.grid.interval / DAY)) + 1

    def _weeks(self) -> float:
        return self.grid.n * self.grid.interval / WEEK


def running_mask(start: int, stop: int, stops: tuple[tuple[int, int], ...]) -> np.ndarray:
    """False where the equipment stands still (after a failure until repaired, during planned work)."""
    running = np.ones(stop - start, dtype=bool)
    for lo, hi in _clipped(stops, start, stop):
        running[lo - start : hi - start] = False
    return running


def wear_level(start: int, stop: int, faults: tuple[Fault, ...] | list[Fault]) -> np.ndarray:
    """0 when healthy, rising to 1 at the failure; back to 0 once repaired."""
    wear = np.zeros(stop - start)
    for fault in faults:
        if fault.fault_type == "degradation" and fault.failure_at is not None:
            for lo, hi in _clipped([(fault.start, fault.failure_at)], start, stop):
                progress = (np.arange(lo, hi) - fault.start) / (fault.failure_at - fault.start)
                wear[lo - start : hi - start] = progress**_WEAR_EXPONENT
    return wear


def apply_sensor_faults(
    values: np.ndarray, start: int, index: dict[str, int], faults: tuple[Fault, ...]
) -> None:
    """Spikes and level shifts add to the noisy readings (slots x sensors, first slot `start`, sensor
    columns by `index`); a stuck sensor repeats one value."""
    for fault in faults:
        if fault.fault_type not in ("spike", "level_shift", "stuck"):
            continue
        for lo, hi in _clipped([(fault.start, fault.end + 1)], start, start + len(values)):
            column = values[lo - start : hi - start, index[fault.sensor_id]]
            if fault.fault_type == "stuck":
                column[:] = fault.magnitude
            else:
                column += fault.magnitude


def present_mask(
    start: int,
    stop: int,
    index: dict[str, int],
    faults: tuple[Fault, ...],
    outages: tuple[tuple[int, int], ...],
) -> np.ndarray:
    """Which (slot, sensor) readings exist: logger outages silence the equipment, dropouts one sensor."""
    present = np.ones((stop - start, len(index)), dtype=bool)
    for lo, hi in _clipped(outages, start, stop):
        present[lo - start : hi - start, :] = False
    for fault in faults:
        if fault.fault_type == "dropout":
            for lo, hi in _clipped([(fault.start, fault.end + 1)], start, stop):
                present[lo - start : hi - start, index[fault.sensor_id]] = False
    return present


def _clipped(windows, start: int, stop: int) -> list[tuple[int, int]]:
    return [(max(a, start), min(b, stop)) for a, b in windows if a < stop and b > start]


def _overlaps(start: int, stop: int, windows: list[tuple[int, int]]) -> bool:
    return any(start < b and a < stop for a, b in windows)


# --- the record: maintenance log and ground truth, as rows -----------------------------------------

EVENT_COLUMNS = ["equipment_id", "timestamp", "event_type", "request_id", "technician_id", "notes"]
FAULT_COLUMNS = [
    "fault_id", "equipment_id", "sensor_id", "fault_type", "start", "end", "failure_at", "magnitude",
]  # fmt: skip
FAILURE_COLUMNS = ["equipment_id", "failure_at", "fault_id", "failure_mode", "repaired_at", "technician_id"]
GAP_COLUMNS = ["equipment_id", "start", "end"]


def event_rows(events: list[MaintenanceEvent], iso: Callable[[int], str]) -> list[list[object]]:
    """The maintenance log in time order; work orders are numbered in that order."""
    rows, orders = [], 0
    for e in sorted(events, key=lambda e: (e.slot, e.equipment_id, e.event_type)):
        orders += e.work_order
        request = f"WO-{orders:06d}" if e.work_order else ""
        rows.append([e.equipment_id, iso(e.slot), e.event_type, request, e.technician_id, e.notes])
    return rows


def fault_rows(faults: list[Fault], iso: Callable[[int], str]) -> list[list[object]]:
    """The injected faults, numbered in time order (F00001...), with times as ISO 8601 UTC."""
    return [
        [fault_id, f.equipment_id, f.sensor_id, f.fault_type, iso(f.start), iso(f.end),
         "" if f.failure_at is None else iso(f.failure_at),
         str(f.magnitude) if f.fault_type in ("spike", "level_shift", "stuck") else ""]
        for fault_id, f in _numbered(faults)
    ]  # fmt: skip


def failure_rows(
    faults: list[Fault],
    events: list[MaintenanceEvent],
    types: dict[str, str],  # equipment_id -> equipment type
    n_slots: int,
    iso: Callable[[int], str],
) -> list[list[object]]:
    """Failures that happened within the data, each with the wear-out that led to it and its repair."""
    repairs: dict[str, list[MaintenanceEvent]] = {}
    for event in sorted(events, key=lambda e: e.slot):
        if event.event_type == "corrective_repair":
            repairs.setdefault(event.equipment_id, []).append(event)
    rows = []
    for fault_id, f in _numbered(faults):
        if f.fault_type != "degradation" or f.failure_at is None or f.failure_at >= n_slots:
            continue
        repair = next(e for e in repairs[f.equipment_id] if e.slot > f.failure_at)
        mode = FAILURE_MODES[types[f.equipment_id]]
        rows.append([f.equipment_id, iso(f.failure_at), fault_id, mode, iso(repair.slot), repair.technician_id])
    return rows


def gap_rows(outages: dict[str, tuple[tuple[int, int], ...]], iso: Callable[[int], str]) -> list[list[object]]:
    """Logger outages (no rows at all): not faults of the machine, but detectors must tolerate them."""
    return [[eq_id, iso(a), iso(b - 1)] for eq_id in sorted(outages) for a, b in outages[eq_id]]


def _numbered(faults: list[Fault]) -> list[tuple[str, Fault]]:
    ordered = sorted(faults, key=lambda f: (f.start, f.equipment_id, f.sensor_id, f.fault_type))
    return [(f"F{i:05d}", f) for i, f in enumerate(ordered, 1)]
