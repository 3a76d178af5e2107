"""Two orchestrators and two gateways at once on RabbitMQ and PostgreSQL (X4, U14), and what
an operator watches on every process (X5): pushes reach devices on either gateway, concurrent
clicks on both orchestrators give one outcome, no saga decision is taken twice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from lockstep_tools.demo.admin import AdminClient, AdminError
from lockstep_tools.demo.cli import PRODUCT
from lockstep_tools.demo.environment import DemoEnvironment
from lockstep_tools.demo.scenarios.stage import Stage

pytestmark = pytest.mark.e2e
DEVICES = 20


async def click_everywhere(clients: list[AdminClient], method: str, path: str,
                           body: object) -> list[object]:
    """The same click on every orchestrator at the same moment."""
    return await asyncio.gather(*(c.call(method, path, body) for c in clients),
                                return_exceptions=True)


def successes(answers: list[object]) -> list[object]:
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert all(isinstance(a, AdminError) and "409" in str(a) for a in refused), refused
    return [a for a in answers if not isinstance(a, BaseException)]


async def test_two_orchestrators_and_two_gateways(tmp_path: Path) -> None:
    env = DemoEnvironment("distributed", tmp_path / "demo", PRODUCT, orchestrators=2,
                          gateways=2)
    async with env:
        assert env.cluster is not None
        async with Stage(env, DEVICES, print) as stage:
            await stage.create_site()
            fleets = await stage.start_fleet(DEVICES, spread=True)
            assert [f.gateway_url for f in fleets] == env.gateway_urls  # both gateways serve
            await stage.banner("green")
            await stage.grid_has(DEVICES)
            token = stage.admin.http.headers["Authorization"].removeprefix("Bearer ")
            admins = [AdminClient(url, token=token) for url in env.cluster.urls("orchestrator")]
            try:
                opened = successes(await click_everywhere(
                    admins, "POST", f"/sites/{stage.site_id}/updates",
                    {"product": "shop", "backups_confirmed": True}))
                assert len(opened) == 1  # U14: one active update, whichever replica answered
                uid = opened[0]["update_id"]  # type: ignore[index]

                await admins[1].send_start(uid)  # pushed through both gateways
                await stage.update_until(uid, "all waiting",
                                         lambda u: u["fleet"]["waiting"] == DEVICES)
                started = successes(await click_everywhere(
                    admins, "POST", f"/updates/{uid}/server-update", {}))
                assert len(started) == 1  # the install is requested once
                await stage.server_updated(uid)
                await stage.phase_three(uid, DEVICES)
                await admins[1].conclude(uid)
                assert (await admins[0].update(uid))["state"] == "concluded"
                audit = await admins[0].call("GET", f"/audit?site_id={stage.site_id}")
                installs = [e for e in audit["entries"] if e["action"].startswith("install")]
                assert [e["action"] for e in installs].count("install.started") == 1, installs
            finally:
                for admin in admins:
                    await admin.close()
            assert stage.on_version(PRODUCT.to_version) == DEVICES

        async with httpx.AsyncClient(timeout=5) as http:
            for process in env.cluster.processes:
                assert (await http.get(f"{process.url}/healthz")).status_code == 200
                assert (await http.get(f"{process.url}/readyz")).json()["ready"] is True
                text = (await http.get(f"{process.url}/metrics")).text
                assert "lockstep_outbox_backlog" in text, process.name
            orchestrator_metrics = (await http.get(f"{env.cluster.orchestrator_url}/metrics")).text
            assert 'lockstep_updates{state="concluded"} 1.0' in orchestrator_metrics
            gateway_metrics = "".join([(await http.get(f"{url}/metrics")).text
                                       for url in env.gateway_urls])
            assert "lockstep_push_delivery_seconds_count" in gateway_metrics
