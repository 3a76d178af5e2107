"""The fault suite's private servers (one RabbitMQ node and one PostgreSQL cluster for the
whole run, on free ports) and the matrix, printed at the end of the run and written to
``var/faults/matrix.md`` (``LOCKSTEP_FAULTS_MATRIX`` to write it elsewhere)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_matrix import Matrix
from fault_servers import PrivatePostgres, PrivateRabbitMQ

ROOT = Path(__file__).resolve().parents[2]
MATRIX = pytest.StashKey[Matrix]()


@pytest.fixture(scope="session")
def fault_dir() -> Iterator[Path]:
    """A temporary directory the rabbitmq and postgres users can reach (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="lockstep-faults-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def private_rabbitmq(fault_dir: Path) -> Iterator[PrivateRabbitMQ]:
    rabbit = PrivateRabbitMQ(fault_dir / "rabbitmq")
    try:
        rabbit.start()
        yield rabbit
    finally:
        rabbit.close()


@pytest.fixture(scope="session")
def private_postgres(fault_dir: Path) -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres(fault_dir / "postgres")
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="session")
def matrix(request: pytest.FixtureRequest) -> Matrix:
    path = Path(os.environ.get("LOCKSTEP_FAULTS_MATRIX", ROOT / "var" / "faults" / "matrix.md"))
    matrix = Matrix(path)
    request.config.stash[MATRIX] = matrix
    return matrix


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    matrix = config.stash.get(MATRIX, None)
    if matrix is None or not matrix.results:
        return
    terminalreporter.section("fault matrix: step by fault")
    for line in matrix.render().splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"written to {matrix.path}")
