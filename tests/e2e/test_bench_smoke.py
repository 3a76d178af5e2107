"""``make bench`` machinery end to end with a handful of devices: the floor, the costed update,
the stop time without and with background staging, and the picture. No timing is asserted (the
benchmark is for people, not for CI); what must hold is that every figure was measured, not left
out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lockstep_tools.bench.cli import Plan, bench

pytestmark = pytest.mark.e2e


def test_the_bench_costs_an_update_against_the_floor(tmp_path: Path) -> None:
    result = asyncio.run(bench(Plan(one_site=(5,)), tmp_path / "out", floor_scale=0.02))
    assert result["ok"], result
    floor = result["floor_ms"]
    assert floor["request"] > 0 and floor["event"] > 0 and floor["transaction"] > 0, floor
    run = result["runs"][0]
    assert run["saga_state"] == "concluded"
    per_device = run["per_device"]
    assert per_device["requests"] >= 5, per_device  # register, poll, ack, block, sync, fetch…
    assert per_device["events"] > 0 and per_device["transactions"] > 0, per_device
    assert run["cpu_ms_per_device"]["device-gateway"] > 0
    assert run["cpu_ms_per_device"]["postgresql"] > 0
    assert run["server_cpu_ms_per_device"] >= sum(
        v for k, v in run["cpu_ms_per_device"].items() if k != "rabbitmq") - 0.01
    assert run["actual_over_floor"] > 0
    assert run["from_end_s"]["on_new_version"]["p100"] is not None
    assert run["outbox_lag_ms"]["p99"] is not None
    # the same fleet's second update, the package staged beforehand (``ok`` says every device
    # installed it from its staged copy); which stop is shorter is a timing, not asserted here
    stop = run["stop_time_s"]
    assert stop["without_staging"] > 0 and stop["with_staging"] > 0, stop
    assert isinstance(run["staging_shortens_stop"], bool)
    assert Path(result["timeline_png"]).stat().st_size > 10_000
