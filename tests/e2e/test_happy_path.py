"""The walking skeleton end to end: the services as real processes, 20 simulated devices, the
admin steps through the API — once single-node, once distributed on RabbitMQ and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep_tools.demo.cli import run_scenario

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", ["single", "distributed"])
async def test_one_coordinated_update_end_to_end(mode: str, tmp_path: Path) -> None:
    result = await run_scenario("happy", mode, 20, work_dir=tmp_path / "demo")
    assert result["saga_state"] == "concluded"
    assert result["devices_on_target_version"] == 20
    assert result["server_version"] == result["target_version"] == "03.01.00_031"
    assert result["banner"] == "none"
    assert result["staging"] and result["stop_time_s"] > 0  # first block → last back (issue 14)
    assert result["ok"]
