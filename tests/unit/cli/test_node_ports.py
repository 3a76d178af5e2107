"""``lockstep-node`` listens where ``LOCKSTEP_NODE_PORT`` / ``--port`` says, in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep_shared.settings import LockstepSettings
from lockstep_tools import cluster, node


@pytest.fixture
def distributed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Distributed mode, with the cluster's start replaced by a record of its base port."""
    started: list[int] = []

    def run(common: LockstepSettings, base_port: int = 8000) -> int:
        started.append(base_port)
        return 0

    monkeypatch.setenv("LOCKSTEP_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    monkeypatch.setenv("LOCKSTEP_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    monkeypatch.setattr(cluster, "run_cluster_forever", run)
    return started


def test_distributed_mode_honours_the_node_port(distributed: list[int],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_NODE_PORT", "9100")
    assert node.main([]) == 0
    assert node.main(["--port", "9200"]) == 0
    assert distributed == [9100, 9200]


def test_the_cluster_puts_the_orchestrator_on_the_base_port() -> None:
    ports = cluster.Cluster({}, var_dir=Path("/tmp/unused"),
                            base_port=9100)
    assert ports.orchestrator_url == "http://127.0.0.1:9100"
