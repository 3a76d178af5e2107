"""The matrix itself (no servers): every known defect names a real cell, the subset is part of
the full matrix, and the printed table says what passed, failed and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_matrix import (
    FAULTS,
    KNOWN_DEFECTS,
    STEPS,
    SUBSET,
    Cell,
    Fault,
    Matrix,
    Result,
    cells,
)

pytestmark = pytest.mark.faults


def test_the_full_matrix_is_every_step_by_every_fault() -> None:
    full = cells(full=True)
    assert len(full) == len(STEPS) * len(FAULTS) == len({c.id for c in full})
    assert set(SUBSET) <= set(full)
    assert cells(full=False) == list(SUBSET)


def test_every_known_defect_names_a_cell_of_the_matrix() -> None:
    ids = {(c.step, c.fault.slug) for c in cells(full=True)}
    assert set(KNOWN_DEFECTS) <= ids, set(KNOWN_DEFECTS) - ids


def test_the_table_shows_each_cells_status_and_the_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(KNOWN_DEFECTS, ("install", "kill-installer-agent"), "a defect")
    matrix = Matrix(tmp_path / "matrix.md")
    gateway = Cell("phase 1", Fault("kill", "device-gateway"))
    db = Cell("finish", Fault("database", down_s=4))
    known = Cell("install", Fault("kill", "installer-agent"))
    matrix.record(Result(gateway, [], 61))
    matrix.record(Result(db, ["2 dead letters"], 70))
    matrix.record(Result(known, [], 80))
    text = (tmp_path / "matrix.md").read_text()
    assert "| phase 1 | pass (61s) | - | - |" in text
    assert "| finish | - | - | FAIL (70s) |" in text
    assert "finish-db-4s: FAIL: 2 dead letters" in text
    assert "install-kill-installer-agent: XPASS: passes although listed in KNOWN_DEFECTS" in text
