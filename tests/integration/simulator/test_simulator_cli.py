"""``lockstep-simulator`` as a process against the real gateway."""

from __future__ import annotations

import asyncio
import sys

import pytest

from .conftest import CODE, OLD, SITE, SimGateway

pytestmark = pytest.mark.integration


async def simulator(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lockstep_tools.simulator.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_cli_registers_holds_long_polls_and_stops_at_the_duration(
    sim_gateway: SimGateway,
) -> None:
    code, out, err = await simulator(
        "--gateway", sim_gateway.url, "--site", SITE, "--enrolment-code", CODE,
        "--devices", "6", "--app-version", OLD, "--offline", "1", "--duration", "2",
        "--notifications-disabled", "1", "--check-every", "0.5",
        "--report-every", "1", "--wait", "1")  # fmt: skip

    assert code == 0, err
    assert "registered 6 devices" in out
    assert "duration of 2s reached" in out
    # neither the offline device nor the one with notifications off holds a long-poll
    assert "registered=6/6 connected=4" in out.splitlines()[-1]


async def test_cli_says_why_registration_failed(sim_gateway: SimGateway) -> None:
    code, _, err = await simulator(
        "--gateway", sim_gateway.url, "--site", SITE, "--enrolment-code", "nope",
        "--devices", "2", "--app-version", OLD, "--duration", "1")  # fmt: skip

    assert code == 1
    assert "registration failed" in err and "enrolment code" in err


async def test_cli_rejects_more_misbehaving_devices_than_the_fleet(
    sim_gateway: SimGateway,
) -> None:
    code, _, err = await simulator(
        "--gateway", sim_gateway.url, "--site", SITE, "--enrolment-code", CODE,
        "--devices", "2", "--app-version", OLD, "--offline", "3")  # fmt: skip

    assert code == 2 and "only 2" in err
