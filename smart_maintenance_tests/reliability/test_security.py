"""Security: the UI binds to loopback by default, hostile landing names stay inside the data root and
render as text, and a planted secret never reaches the lake, the rejection sidecars or Dagster's log."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from smart_maintenance import cli
from smart_maintenance.definitions import defs
from smart_maintenance.defs.resources import DataRootResource
from smart_maintenance_tests.conftest import NOW, drop
from smart_maintenance_tests.reliability import harness
from smart_maintenance_tests.reliability.corpus import GOOD


def test_ui_binds_to_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`smart-maintenance ui` (and `make ui`, which passes no host) hands `dagster dev` 127.0.0.1."""
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("SMART_MAINTENANCE_HOME", str(tmp_path / "data"))
    cli.main(["ui", "--home", str(tmp_path / "data")])
    (argv,) = calls
    assert argv[argv.index("-h") + 1] == "127.0.0.1"
    make_ui = Path(cli.__file__).resolve().parents[1].joinpath("Makefile").read_text().split("\nui:")[1].split("\n\n")[0]
    assert "--host" not in make_ui


def test_planted_secret_stays_out_of_lake_sidecars_and_event_log(root, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ingest job runs with SMART_MAINTENANCE_PG_PASSWORD (and SMTP/webhook-like variables) set; a
    rejected file, a quarantined row and a hostile file name go through; then every byte the run
    wrote (lake, rejected/ and its sidecars, archive) and every stored Dagster event is searched."""
    secret = harness.PLANTED_SECRET
    for name in ("SMART_MAINTENANCE_PG_PASSWORD", "SMART_MAINTENANCE_SMTP_PASSWORD", "SMART_MAINTENANCE_WEBHOOK_TOKEN"):
        monkeypatch.setenv(name, secret)
    drop(root, "good.csv", GOOD + "2026-01-05T10:02:00Z,pump-1,temp,N/A\n")
    drop(root, "bad.csv", b"")
    drop(root, "<img src=x onerror=alert(1)>|*x*.csv", GOOD.replace("40.5", "40.75"))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("ingest_landing").execute_in_process(
            run_config={"ops": {"ingest_landing_files": {"config": {"now": NOW.isoformat(), "min_file_age_seconds": 0}}}},
            instance=instance, resources={"data_root": DataRootResource(home=str(root.root))})
        assert result.success
        records = instance.get_records_for_run(result.run_id, limit=100000).records
        stored = "\n".join(dg.serialize_value(r.event_log_entry) for r in records)
    assert records and secret not in stored
    assert harness.grep_tree(root.root, secret) == []
    assert (root.rejected / "bad.csv.error.json").exists()
    # The hostile name is shown as text in the run's batch table (escaped), never as HTML or markup.
    assert "<img" not in stored and "&lt;img src=x onerror=alert(1)&gt;\\\\|\\\\*x\\\\*.csv" in stored
