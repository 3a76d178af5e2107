"""The coordinated update distributed with each service on its own RabbitMQ user, limited by
the broker to its own message types (as Compose and Kubernetes deploy it): every message the
update needs is allowed, and every consumer's publisher check accepts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockstep_tools.demo.cli import run_scenario

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl here"),
]


async def test_one_coordinated_update_with_a_bus_user_per_service(tmp_path: Path) -> None:
    result = await run_scenario("happy", "distributed", 5, work_dir=tmp_path / "demo",
                                bus_users=True)
    assert result["saga_state"] == "concluded"
    assert result["server_version"] == result["target_version"]
    assert result["devices_on_target_version"] == 5
    assert result["ok"]
