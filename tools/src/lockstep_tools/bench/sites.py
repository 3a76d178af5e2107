"""Many sites updated at once (``BENCH=full``: 100 sites × 50 devices): one Lockstep, one
installer agent per site (as deployed: the agent lives on the site's server host), every site
through the same steps at the same time; the admin looks at each update every 2 s."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lockstep_tools.bench.figures import Floor, Timeline
from lockstep_tools.bench.probe import Probe
from lockstep_tools.bench.runs import (
    PATIENCE_S_PER_DEVICE,
    POOL_SIZE,
    RELEASE,
    costed,
    environment,
    logs_on_failure,
    run_database,
    until_connected,
    until_fleet_sees,
)
from lockstep_tools.cluster import Cluster, ServiceProcess
from lockstep_tools.demo.environment import DEMO_HOST, DemoEnvironment, free_port
from lockstep_tools.demo.scenarios.stage import Say, Stage
from lockstep_tools.simulator.fleet import Fleet

ADMIN = "sites-admin"
POLL_S = 2.0


async def many_sites(sites: int, per_site: int, floor: Floor, say: Say, *,
                     work_dir: Path | None = None,
                     pool_size: int = POOL_SIZE) -> tuple[dict[str, Any], Timeline]:
    devices = sites * per_site
    env = environment(work_dir, pool_size)
    extra_sites = [f"{env.site_id}-{k:03d}" for k in range(1, sites)]
    try:
        async with env:
            assert env.cluster is not None
            site_ids = [env.site_id, *extra_sites]
            say(f"starting {len(extra_sites)} more installer agents, one per site")
            await start_agents(env, env.cluster, extra_sites)
            quiet: Say = lambda line: None  # noqa: E731 — a hundred sites would flood stderr
            stages = [Stage(env, per_site, quiet, site_id=site, admin_user=ADMIN,
                            own_admin=False) for site in site_ids]
            for stage in stages:
                stage.poll_s = POLL_S
                stage.timeout = 120 + devices * PATIENCE_S_PER_DEVICE
                await stage.__aenter__()
            try:
                with logs_on_failure(env):
                    result, timeline = await _update_every_site(env, stages, devices, floor,
                                                                say)
            finally:
                for stage in stages:
                    await stage.__aexit__()
    finally:
        if extra_sites and not env.keep:
            with contextlib.suppress(Exception):
                await delete_agent_queues(env, extra_sites)
    result["run"] = f"sites_{sites}x{per_site}"
    result["sites"] = sites
    result["db_pool_size"] = pool_size
    return result, timeline


async def _update_every_site(env: DemoEnvironment, stages: list[Stage], devices: int,
                             floor: Floor, say: Say) -> tuple[dict[str, Any], Timeline]:
    await every(stages, lambda s: s.create_site())
    env.create_user(ADMIN, "admin", [s.site_id for s in stages])  # once every site exists
    await every(stages, lambda s: s.sign_in())
    fleets: list[Fleet] = []
    assert env.cluster is not None
    probe = Probe(env.cluster.processes, env.feed, run_database(env), env.admin_dsn,
                  RELEASE.to_version, fleets=fleets, sample_every_s=0.25)
    async with probe:
        async def register(stage: Stage) -> None:
            fleets.extend(await stage.start_fleet(stage.devices, prefix=f"S{stages.index(stage)}"))
            await stage.banner("green")
            await stage.grid_has(stage.devices)

        await every(stages, register)
        probe.mark("registered")
        await until_connected(probe, devices, stages[0].timeout)
        probe.mark("connected")
        say(f"{len(stages)} sites, {devices} devices registered")
        updates = await every(stages, lambda s: s.open_update())
        uid = {id(stage): u["update_id"] for stage, u in zip(stages, updates, strict=True)}
        probe.mark("START")
        await every(stages, lambda s: s.phase_one(uid[id(s)], s.devices))
        probe.mark("all_waiting")
        say("every site: all devices waiting; the agents install the servers")

        async def server(stage: Stage) -> None:
            await stage.admin.start_server_update(uid[id(stage)])
            await stage.server_updated(uid[id(stage)])

        await every(stages, server)
        probe.mark("END")
        await every(stages, lambda s: s.phase_three(uid[id(s)], s.devices))
        probe.mark("all_on_target")
        concluded = await every(stages, lambda s: s.admin.conclude(uid[id(s)]))
        probe.mark("concluded")
        await until_fleet_sees(probe, devices)
        measured = await probe.finish()
    result = costed("sites", devices, probe, measured, floor)
    states = {u["state"] for u in concluded}
    on_target = sum(f.snapshot().on_version(RELEASE.to_version) for f in fleets)
    result["ok"] = states == {"concluded"} and on_target == devices
    result["saga_state"] = ",".join(sorted(states))
    return result, probe.timeline


async def every(stages: list[Stage], step: Callable[[Stage], Awaitable[Any]]) -> list[Any]:
    """The step on every site at once."""
    return list(await asyncio.gather(*(step(stage) for stage in stages)))


async def start_agents(env: DemoEnvironment, cluster: Cluster, sites: list[str]) -> None:
    """An installer agent for each site, on its own demo host directory, added to the
    cluster (stopped with it, its CPU counted with the installer agents). They keep their
    state in SQLite on their host, as an agent on a site's own server may: a hundred agents'
    pools would exceed the 100 connections of the shared PostgreSQL here."""
    model = next(p for p in cluster.processes if p.name == "installer-agent-0")
    shared = {k: v for k, v in model.env.items() if k != "LOCKSTEP_DATABASE_URL"}
    for k, site in enumerate(sites, start=1):
        host = env.work_dir / f"host-{k:03d}"
        subprocess.run(["sh", str(DEMO_HOST / "set-version.sh"), RELEASE.product,
                        RELEASE.from_version],
                       env={**model.env, "LOCKSTEP_DEMO_HOST_DIR": str(host)}, check=True)
        port = free_port()
        agent = ServiceProcess(
            f"installer-agent-{k}", model.command, port,
            {**shared, "LOCKSTEP_VAR_DIR": str(env.var_dir / f"agent-{k:03d}"),
             "LOCKSTEP_AGENT_SITE_ID": site, "LOCKSTEP_AGENT_PORT": str(port),
             "LOCKSTEP_AGENT_ARTIFACTS_DIR": str(env.var_dir / f"agent-artifacts-{k:03d}"),
             "LOCKSTEP_DEMO_HOST_DIR": str(host)},
            model.log_path.parent / f"installer-agent-{k}.log")
        cluster.processes.append(agent)
        agent.start()
    await cluster.wait_ready(timeout=120 + 3 * len(sites))


async def delete_agent_queues(env: DemoEnvironment, sites: list[str]) -> None:
    import aio_pika

    from lockstep_shared.bus.topology import Topology

    topology = Topology(env.env["LOCKSTEP_BUS_NAMESPACE"])
    connection = await aio_pika.connect(env.bus_url)
    try:
        channel = await connection.channel()
        for site in sites:
            await channel.queue_delete(topology.queue_name(f"installer-agent.{site}"))
            await channel.queue_delete(topology.dead_queue_name(f"installer-agent.{site}"))
    finally:
        await connection.close()
