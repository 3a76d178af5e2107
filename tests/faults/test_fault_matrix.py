"""Issue 9 §5: a coordinated update survives a fault at every step — kill -9 of each service
(restarted as a supervisor would), a broker restart, a database restart of 4 s and of 30 s —
and ends concluded with every device on the target version, the installer run once on the
host, each admin action audited once, every outbox empty and no dead letter.

``make test`` runs a representative subset; ``make test-faults`` (``LOCKSTEP_FAULTS=all``)
the whole step × fault matrix. Cells failing today because of a known defect are listed in
``fault_matrix.KNOWN_DEFECTS`` and expected to fail (not strictly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_matrix import Cell, Matrix, cells, full_matrix_requested
from fault_run import run_cell
from fault_servers import PrivatePostgres, PrivateRabbitMQ

pytestmark = pytest.mark.faults


def _params() -> list[object]:
    params = []
    for cell in cells(full=full_matrix_requested()):
        marks = ([pytest.mark.xfail(strict=False, reason=cell.known_defect)]
                 if cell.known_defect else [])
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    return params


@pytest.mark.parametrize("cell", _params())
async def test_update_survives_the_fault(cell: Cell, private_rabbitmq: PrivateRabbitMQ,
                                         private_postgres: PrivatePostgres, matrix: Matrix,
                                         fault_dir: Path) -> None:
    result = await run_cell(cell, private_rabbitmq, private_postgres, fault_dir / cell.id)
    matrix.record(result)
    if result.problems:
        pytest.fail(f"{cell.fault.title} at {cell.step}: " + "; ".join(result.problems),
                    pytrace=False)
