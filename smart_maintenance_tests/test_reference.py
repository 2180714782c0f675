"""Reference tables are parsed once per edit of their file and kept by the process (issue 8): an
unchanged file gives the table already parsed, an edit (even one of the same size), a replacement or a
removal is seen on the next read, and a file changed in the last seconds is not kept yet."""

from __future__ import annotations

import os
import time

from smart_maintenance.reference import read_reference
from smart_maintenance_tests.conftest import EQUIPMENT_CSV


def settled(path, seconds_ago: float = 10.0) -> None:
    """As if the file was last changed `seconds_ago` (past the racy window)."""
    t = time.time_ns() - int(seconds_ago * 1e9)
    os.utime(path, ns=(t, t))


def criticality(root) -> dict[str, str]:
    table = read_reference(root.reference, "equipment")
    return dict(zip(table["equipment_id"].to_pylist(), table["criticality"].to_pylist()))


def test_an_unchanged_file_is_parsed_once(root):
    settled(root.reference / "equipment.csv")
    first = read_reference(root.reference, "equipment")
    assert read_reference(root.reference, "equipment") is first
    assert criticality(root) == {"pump-1": "high", "fan-2": "low"}


def test_a_file_changed_just_now_is_parsed_again(root):
    first = read_reference(root.reference, "equipment")  # written by the fixture a moment ago
    assert read_reference(root.reference, "equipment") is not first
    assert criticality(root) == {"pump-1": "high", "fan-2": "low"}


def test_an_edit_of_the_same_size_is_read_again(root):
    path = root.reference / "equipment.csv"
    settled(path)
    assert criticality(root)["pump-1"] == "high"
    assert read_reference(root.reference, "equipment") is read_reference(root.reference, "equipment")
    stat = os.stat(path)
    with path.open("r+") as fh:  # in place: same inode, same size
        fh.write(EQUIPMENT_CSV.replace("high", "dead").replace("pump", "pmup"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # even 1 ns later
    assert os.stat(path).st_size == stat.st_size and os.stat(path).st_ino == stat.st_ino
    assert criticality(root) == {"pmup-1": "dead", "fan-2": "low"}


def test_a_replaced_or_removed_file_is_read_again(root):
    path = root.reference / "equipment.csv"
    settled(path)
    assert "fan-2" in criticality(root)
    tmp = path.with_name("equipment.csv.new")
    tmp.write_text(EQUIPMENT_CSV.replace("fan-2,south,fan,low\n", ""))
    os.replace(tmp, path)
    assert criticality(root) == {"pump-1": "high"}
    path.unlink()
    assert criticality(root) == {}
