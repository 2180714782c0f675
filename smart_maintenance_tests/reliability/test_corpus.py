"""The bad-input corpus through ingestion: each case ends ingested, with rows quarantined for stated
reasons, or rejected with `<name>.error.json`; in every case rows are conserved in the ledger and a
good file dropped right after is still ingested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from smart_maintenance import lake
from smart_maintenance.config import DataRoot
from smart_maintenance.ingest.batch import IngestSettings, ingest_batch
from smart_maintenance.ingest.landing import list_landing
from smart_maintenance_tests.conftest import EQUIPMENT_CSV, NOW, SENSORS_CSV, TECHNICIANS_CSV
from smart_maintenance_tests.reliability.corpus import GOOD, Case, cases, good_file

CASES = cases()


def ledger(root: DataRoot) -> list[dict]:
    return lake.read_dataset(root.lake, "ingested_files").to_pylist() if lake.has_data(root.lake, "ingested_files") else []


def assert_conserved(root: DataRoot) -> None:
    """Every ledger row: read = kept + quarantined + duplicates, and the quarantine holds exactly the
    quarantined rows of each file; every rejected file has its sidecar."""
    quarantined = Counter()
    if lake.has_data(root.lake, "quarantine"):
        quarantined.update(r["file_sha256"] for r in lake.read_dataset(root.lake, "quarantine").to_pylist())
    for row in ledger(root):
        if row["status"] == "ingested":
            assert row["rows_read"] == row["rows_kept"] + row["rows_quarantined"] + row["rows_duplicate"], row
            assert quarantined[row["file_sha256"]] == row["rows_quarantined"], row
        elif row["status"] == "rejected":
            assert row["rows_kept"] == 0 and row["reason"], row
            assert (root.root / (row["archived_to"] + ".error.json")).is_file(), row
        else:
            assert row["status"] == "duplicate_file" and row["rows_kept"] == 0, row


def ingest(root: DataRoot, batch: str, settings: IngestSettings = IngestSettings()):
    return ingest_batch(root, [f.relpath for f in list_landing(root.landing)], now=NOW, batch_id=batch, settings=settings)


def make_root(tmp_path: Path) -> DataRoot:
    root = DataRoot(tmp_path / "data").ensure()
    (root.reference / "equipment.csv").write_text(EQUIPMENT_CSV)
    (root.reference / "sensors.csv").write_text(SENSORS_CSV)
    (root.reference / "technicians.csv").write_text(TECHNICIANS_CSV)
    return root


def check_case(case: Case, root: DataRoot, outside: Path) -> None:
    if case.before:
        case.write(root.landing, case.before)
        assert all(f.status == "ingested" for f in ingest(root, "before").files)
    case.write(root.landing, case.files)
    if case.setup:
        case.setup(root.landing, outside)
    started = time.perf_counter()
    result = ingest(root, "case", case.settings)
    elapsed = time.perf_counter() - started
    got = {f.source_file: f for f in result.files}
    assert set(got) == set(case.expect), f"files handled: {sorted(got)}"
    for rel, want in case.expect.items():
        f = got[rel]
        assert f.status == want.status, (rel, f.status, f.reason)
        if want.status == "rejected":
            assert want.reason in f.reason, f.reason
            sidecar = json.loads((root.root / (f.moved_to + ".error.json")).read_text())
            assert sidecar["file"] == rel and want.reason in sidecar["reason"]
            assert not (root.landing / rel).exists() and not (root.landing / rel).is_symlink()
            continue
        assert f.conserved, f
        if want.kept is not None:
            assert f.rows_kept == want.kept, f
        if want.duplicate is not None:
            assert f.rows_duplicate == want.duplicate, f
        if want.reason is not None:
            assert f.reason and want.reason in f.reason, f.reason
        reasons = Counter()
        if f.rows_quarantined:
            for r in lake.read_dataset(root.lake, "quarantine", where=f"file_sha256 = '{f.sha256}'").to_pylist():
                reasons[r["reason"]] += 1
        if "" in want.quarantined:  # any reason, just how many
            assert sum(reasons.values()) == want.quarantined[""], reasons
        else:
            assert dict(reasons) == want.quarantined, reasons
        assert f.moved_to and (root.root / f.moved_to).exists() and not (root.landing / rel).exists()
    if case.check:
        case.check(root, result)
    assert elapsed < 60, f"{case.name} took {elapsed:.1f} s"
    assert_conserved(root)

    # The next good file is still ingested, whatever came before.
    (root.landing / "next-good.csv").write_text(good_file(5))
    after = ingest(root, "after")
    (nxt,) = [f for f in after.files if f.source_file == "next-good.csv"]
    assert (nxt.status, nxt.rows_kept) == ("ingested", 5), nxt
    assert_conserved(root)
    # Nothing was written outside the data root: the scratch folder holds only what the case put there.
    assert {p.name for p in outside.iterdir()} <= {"secret.csv"}
    assert sorted(p.name for p in outside.parent.iterdir()) == ["data", "outside"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Case, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    check_case(case, make_root(tmp_path), outside)
    if case.setup:
        assert (outside / "secret.csv").read_text() == GOOD  # the link target is untouched


def test_corpus_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30


def test_paths_outside_landing_are_refused_and_untouched(tmp_path: Path) -> None:
    """A run's config names its files (sensor, launchpad): '..' or absolute paths must never reach
    outside landing/, neither to read nor to move."""
    root = make_root(tmp_path)
    victim = tmp_path / "victim.csv"
    victim.write_text(GOOD)
    names = ["../../victim.csv", str(victim), "sub/../../../victim.csv"]
    result = ingest_batch(root, names, now=NOW, batch_id="b1")
    assert [f.status for f in result.files] == ["refused"] * 3
    assert all("not a path inside landing/" in f.reason for f in result.files)
    assert victim.read_text() == GOOD and not any(root.rejected.rglob("*")) and not any(root.archive.rglob("*"))
    assert not lake.has_data(root.lake, "sensor_readings")


def test_file_still_being_written_waits_for_the_writer(tmp_path: Path) -> None:
    """Sensor level: a file caught half-written (last line cut) is not handed out while it grows; once
    complete it is ingested with every row (nothing quarantined for the cut line)."""
    import dagster as dg

    from smart_maintenance.defs.ingestion.sensors import landing_sensor
    from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource

    root = make_root(tmp_path)
    full = good_file(30)
    path = root.landing / "growing.csv"
    path.write_text(full[: len(full) // 2])  # a copy in progress, mid-line

    def tick(cursor):
        with dg.instance_for_test() as instance:
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
                "data_root": DataRootResource(home=str(root.root)),
                "ingest_settings": IngestSettingsResource(settle_seconds=0.0, quiet_seconds=3600.0)})
            result = landing_sensor(ctx)
        return [r.run_config["ops"]["ingest_landing_files"]["config"]["files"] for r in result.run_requests], result.cursor

    launched, cursor = tick(None)
    assert launched == []
    with open(path, "a") as fh:
        fh.write(full[len(full) // 2:])
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1000))  # coarse mtime clocks: make the change visible
    launched, cursor = tick(cursor)
    assert launched == []  # it changed since the last look
    launched, cursor = tick(cursor)
    assert launched == [["growing.csv"]]
    (f,) = ingest_batch(root, launched[0], now=NOW, batch_id="b1").files
    assert (f.status, f.rows_read, f.rows_kept, f.rows_quarantined) == ("ingested", 30, 30, 0)


UNREADABLE_SCRIPT = textwrap.dedent("""
    import json, sys
    from datetime import datetime, timezone
    from smart_maintenance.config import DataRoot
    from smart_maintenance.ingest.batch import ingest_batch
    root = DataRoot(__import__("pathlib").Path(sys.argv[1]))
    result = ingest_batch(root, sys.argv[2:], now=datetime(2026, 3, 1, tzinfo=timezone.utc), batch_id=sys.argv[0] or "b")
    print(json.dumps([[f.source_file, f.status, f.reason, f.rows_kept] for f in result.files]))
""")


def _without_read_override() -> list[str]:
    """Prefix that runs a command as root minus the capabilities that let root read any file."""
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"] if os.geteuid() == 0 else []


def test_unreadable_file_is_rejected_and_the_batch_goes_on(tmp_path: Path) -> None:
    """Permission denied. Root reads any file, and the unprivileged user `nobody` cannot run this venv (its
    interpreter lives under /root, mode 0700), so as root ingestion runs in a child process stripped of
    the capabilities that bypass file permissions (setpriv); the landing file belongs to `nobody`, mode
    0600. Not root: the file is simply mode 0000. Either way the file is rejected with the reason and
    the good file beside it is ingested."""
    import pwd

    root = make_root(tmp_path)
    secret = root.landing / "secret.csv"
    secret.write_text(GOOD)
    if os.geteuid() == 0:
        os.chown(secret, pwd.getpwnam("nobody").pw_uid, -1)
    os.chmod(secret, 0o600 if os.geteuid() == 0 else 0)
    (root.landing / "good.csv").write_text(good_file(3))
    done = subprocess.run([*_without_read_override(), sys.executable, "-c", UNREADABLE_SCRIPT, str(root.root),
                           "secret.csv", "good.csv"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = {name: (status, reason, kept) for name, status, reason, kept in json.loads(done.stdout.splitlines()[-1])}
    assert outcome["good.csv"] == ("ingested", None, 3)
    status, reason, _ = outcome["secret.csv"]
    assert status == "rejected" and "Permission denied" in reason, reason
    sidecar = json.loads((root.rejected / "secret.csv.error.json").read_text())
    assert "Permission denied" in sidecar["reason"] and (root.rejected / "secret.csv").exists()
    assert_conserved(root)
