"""Every notebook in notebooks/ runs top to bottom on the synthetic plant (nbclient, a kernel on this
interpreter), so they never rot; and they are committed without outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
KERNEL = "smart-maintenance-test"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plant_root) -> str:
    """A kernelspec running this interpreter (the venv's), with the data root in its environment."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = {"SMART_MAINTENANCE_HOME": str(plant_root.root), "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "smart-maintenance test", "language": "python", "env": env}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return KERNEL


def test_there_is_a_notebook():
    assert [p.name for p in NOTEBOOKS] == ["exploration.ipynb"] or len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_sample_plant(path: Path, kernel: str, tmp_path: Path, plant_root):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in notebook.cells for o in c.get("outputs", []))
    assert "error" not in {o.get("output_type") for c in notebook.cells for o in c.get("outputs", [])}
    if path.name == "exploration.ipynb":
        assert "image/png" in text  # the sensor plot
        forecasts = any((plant_root.lake / "failure_forecasts").glob("**/*.parquet"))
        # The forecast cell shows the forecasts when the pipeline made some, else says there are none yet.
        assert ("rul_lower_hours" in text) if forecasts else ("No forecasts yet" in text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
