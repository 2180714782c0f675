"""What every run pays before its work (issue 8): each run worker the daemon launches and each
`smart-maintenance run` loads the Definitions in a fresh Python, and the one-shot runner calls
execute_in_process a dozen times."""

import subprocess
import sys

import dagster as dg
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager

from smart_maintenance.runner import instance_for

# Imported by the functions that fit, solve or draw, never by loading the Definitions (~1 s together).
HEAVY = ("sklearn", "scipy", "prophet", "ortools", "plotly", "matplotlib")


def test_loading_the_definitions_imports_no_heavy_library():
    code = f"import sys, smart_maintenance.definitions; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@dg.asset
def hello() -> None:
    print("hello")


def test_one_shot_runs_go_to_the_ui_instance_without_capturing_compute_logs(root, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with instance_for(root) as instance:
        assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)
        run_id = dg.materialize([hello], instance=instance).run_id
    # What the daemon and the webserver load: same storage, so the run shows in the UI; logs still captured.
    with dg.DagsterInstance.from_config(str(root.dagster_home)) as ui:
        assert isinstance(ui.compute_log_manager, LocalComputeLogManager)
        run = ui.get_run_by_id(run_id)
        assert run is not None and run.is_success
        assert ui.get_latest_materialization_event(dg.AssetKey("hello")).run_id == run_id
