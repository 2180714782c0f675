"""Deterministic synthetic plant: readings, maintenance events and ground truth for tests and benchmarks."""

from smart_maintenance.simulation.plant import PlantSpec, SimulationSummary, simulate_plant

__all__ = ["PlantSpec", "SimulationSummary", "simulate_plant"]
