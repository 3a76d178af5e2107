"""The benchmark's runs: a coordinated update of one site's devices, measured end to end, and
idle long-polls held open on one gateway process (memory per connection)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from lockstep_tools.bench.figures import Floor, Timeline, histogram_quantile, ms
from lockstep_tools.bench.probe import SERVER_GROUPS, Probe, phase_cpu
from lockstep_tools.bench.proc_cpu import rss_bytes
from lockstep_tools.demo.admin import AdminError
from lockstep_tools.demo.environment import DemoEnvironment, Release
from lockstep_tools.demo.scenarios.stage import Stage
from lockstep_tools.demo.scenarios.stop_time import (
    SECOND,
    installed_from_staged,
    stage_next_release,
    whole_update,
)
from lockstep_tools.simulator.fleet import Fleet

RELEASE = Release(product="shop", from_version="03.01.00_030", to_version="03.01.00_031")
PAYLOAD_KIB = 64
"""The package of both releases (the demo environment's default size)."""
PHASES = ["begin", "registered", "connected", "START", "all_waiting", "END", "all_on_target",
          "concluded"]

Say = Callable[[str], None]
PATIENCE_S_PER_DEVICE = 0.6
"""How long the bench waits for each step per device (the demo's 0.1 s is too short on a
shared, loaded machine: the bench measures CPU, and is patient about wall time)."""


POOL_SIZE = 20
"""The gateway's and the orchestrator's PostgreSQL pools (their default)."""
OTHER_CONNECTIONS = 16
"""PostgreSQL connections of the run besides those two pools: the installer agent (4), the
release watcher, the bench's own monitoring and a margin."""
SMALLEST_POOL = 4


def environment(work_dir: Path | None, pool_size: int = POOL_SIZE) -> DemoEnvironment:
    """The run's distributed Lockstep; ``pool_size``: the gateway's and the orchestrator's
    PostgreSQL pools (smaller when a shared server has few connections free)."""
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="lockstep-bench-"))
    pools = {} if pool_size == POOL_SIZE else {
        "LOCKSTEP_GATEWAY_DB_POOL_SIZE": str(pool_size),
        "LOCKSTEP_ORCHESTRATOR_DB_POOL_SIZE": str(pool_size)}
    return DemoEnvironment("distributed", work_dir, RELEASE, extra_env=pools)


def pool_size_for(free: int) -> int:
    """The largest pools (up to the default) the free connections hold, never below
    ``SMALLEST_POOL``."""
    return max(SMALLEST_POOL, min(POOL_SIZE, (free - OTHER_CONNECTIONS) // 2))


async def wait_for_connections(admin_dsn: str, needed: int, say: Say,
                               timeout: float = 120) -> int:
    """A shared PostgreSQL has ``max_connections`` for everyone: wait until a run's services
    fit, rather than fail half-way with 'too many clients'; after ``timeout`` go on with what
    is free (but not with none: a full server is waited for). Returns the connections free."""
    import asyncpg

    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            free, used, limit = await _connections(admin_dsn)
        except asyncpg.TooManyConnectionsError:  # the server is full: not even one for us
            free, used, limit = 0, None, None
        if free >= needed or (time.monotonic() > deadline and free > 0):
            return free
        if not said:
            say(f"waiting for PostgreSQL connections: {used or 'all'} of {limit or 'its'} in "
                f"use, {needed} needed")
            said = True
        await asyncio.sleep(5)


async def _connections(admin_dsn: str) -> tuple[int, int, int]:
    """PostgreSQL's connections (free, used, max_connections), counted by one of them."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        limit = int(await conn.fetchval("SHOW max_connections"))
        used = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    return limit - used, used, limit


@contextlib.contextmanager
def logs_on_failure(env: DemoEnvironment) -> Iterator[None]:
    """A run that fails prints the last lines of each service's log (its work dir is gone
    after)."""
    try:
        yield
    except BaseException:
        for process, lines in env.logs():
            print(f"--- last lines of {process} ---\n{lines}", file=sys.stderr)
        raise


def run_database(env: DemoEnvironment) -> str:
    return urlsplit(env.env["LOCKSTEP_DATABASE_URL"]).path.lstrip("/")


async def one_site(devices: int, floor: Floor, say: Say, *, label: str | None = None,
                   work_dir: Path | None = None, compare_staging: bool = False,
                   pool_size: int = POOL_SIZE) -> tuple[dict[str, Any], Timeline]:
    """One site's coordinated update with ``devices`` simulated devices, timed and costed. The
    devices download the package after END (no background staging). ``compare_staging``: then
    the same fleet stages a second release in the background and goes through a second update;
    both stop times are in the result (issue 14 §2)."""
    env = environment(work_dir, pool_size)
    async with env:
        assert env.cluster is not None
        with logs_on_failure(env):
            result, timeline = await _one_site(env, devices, floor, say, label, compare_staging)
    result["db_pool_size"] = pool_size
    return result, timeline


async def _one_site(env: DemoEnvironment, devices: int, floor: Floor, say: Say,
                    label: str | None,
                    compare_staging: bool) -> tuple[dict[str, Any], Timeline]:
    assert env.cluster is not None
    async with Stage(env, devices, say, staging=False) as stage:
        stage.timeout = 120 + devices * PATIENCE_S_PER_DEVICE
        await stage.create_site()
        probe = Probe(env.cluster.processes, env.feed, run_database(env),
                      env.admin_dsn, RELEASE.to_version, fleets=stage.fleets,
                      sample_every_s=0.1 if devices <= 2000 else 0.25)
        async with probe:
            await stage.start_fleet(devices, spread=True)
            await stage.banner("green")
            await stage.grid_has(devices)
            probe.mark("registered")
            await until_connected(probe, devices, stage.timeout)
            probe.mark("connected")
            parked = int((await probe.scrape()).parked)
            update = await stage.open_update()
            uid = update["update_id"]
            probe.mark("START")
            await stage.phase_one(uid, devices)
            probe.mark("all_waiting")
            await stage.admin.start_server_update(uid)
            await stage.server_updated(uid)
            probe.mark("END")
            await stage.phase_three(uid, devices)
            probe.mark("all_on_target")
            await stage.admin.conclude(uid)
            concluded = await stage.admin.update(uid)
            probe.mark("concluded")
            await until_fleet_sees(probe, devices)
            measured = await probe.finish()
        on_target = stage.on_version(RELEASE.to_version)
        stop = {"without_staging": await stage.stop_time_s(uid)}
        staging: dict[str, Any] = {}
        if compare_staging:
            staging = await with_staging(stage, devices, say)
            if "stop_time_s" in staging:
                stop["with_staging"] = staging.pop("stop_time_s")
    result = costed(label or f"one_site_{devices}", devices, probe, measured, floor)
    staged_ok = not compare_staging or staging.get("installed_from_staged") == devices
    result["parked_on_gateways_at_start"] = parked  # the gateways' view of "connected"
    result["ok"] = concluded["state"] == "concluded" and on_target == devices and staged_ok
    result["saga_state"] = concluded["state"]
    result.update(stop_time_figures(stop))
    if staging:
        result["staging"] = staging
    return result, probe.timeline


async def with_staging(stage: Stage, devices: int, say: Say) -> dict[str, Any]:
    """The same fleet stages the next release in the background and goes through a second
    update: its stop time, how long staging took, and how many installed their staged copy. A
    failure here is reported beside the measured update's figures, not instead of them."""
    await stage.banner("none")
    say(f"the same fleet stages {SECOND} in the background; a second update")
    began = time.monotonic()
    figures: dict[str, Any] = {}
    try:
        await stage_next_release(stage, stage.fleets, SECOND, payload_kib=PAYLOAD_KIB)
        figures["staging_wall_s"] = round(time.monotonic() - began, 2)
        figures["stop_time_s"] = await whole_update(stage, SECOND)
    except (TimeoutError, RuntimeError, AdminError, httpx.HTTPError) as exc:
        figures["error"] = f"{type(exc).__name__}: {exc}"[:300]  # not the whole grid
        figures["devices_errors"] = last_errors(stage.fleets)
        say(f"the update with staging did not finish: {exc}")
    figures["staged"] = sum(s.staged is not None for f in stage.fleets for s in f.states)
    figures["installed_from_staged"] = installed_from_staged(stage.fleets)
    return figures


def stop_time_figures(stop: dict[str, float]) -> dict[str, Any]:
    """``stop_time_s`` per update (first device blocked → last device back at work on the new
    version, as the orchestrator measured it) and whether staging made the stop shorter."""
    figures: dict[str, Any] = {"stop_time_s": {k: round(v, 2) for k, v in stop.items()}}
    if "with_staging" in stop:
        figures["staging_shortens_stop"] = stop["with_staging"] < stop["without_staging"]
    return figures


async def until_connected(probe: Probe, devices: int, timeout: float) -> None:
    """START goes to connected devices: wait until every device holds its long-poll."""
    deadline = time.monotonic() + timeout
    while (holding := connected(probe.fleets)) < devices:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{holding} of {devices} devices hold their long-poll after "
                               f"{timeout:.0f} s; their last errors: "
                               f"{last_errors(probe.fleets)}")
        await asyncio.sleep(0.2)


async def until_parked(probe: Probe, devices: int, timeout: float) -> int:
    """Wait until the gateways hold every device's long-poll (their own gauge: the
    simulator's flag is set as a poll is sent); the most they held if not in time."""
    deadline = time.monotonic() + timeout
    most = 0
    while time.monotonic() < deadline:
        most = max(most, int((await probe.scrape()).parked))
        if most >= devices:
            break
        await asyncio.sleep(1)
    return most


def last_errors(fleets: list[Fleet], most: int = 3) -> str:
    """The commonest last errors of the devices (why a run stalls), with how many had each."""
    errors = collections.Counter(s.last_error for fleet in fleets for s in fleet.states
                                 if s.last_error)
    return "; ".join(f"{n} devices: {error}" for error, n in errors.most_common(most)) or "none"


def connected(fleets: list[Fleet]) -> int:
    """Devices holding their long-poll (one attribute, cheaper than every count)."""
    return sum(s.connected for fleet in fleets for s in fleet.states)


async def until_fleet_sees(probe: Probe, devices: int, timeout: float = 30) -> None:
    """The server counts a device on target from its report; the timeline waits for the
    simulator's own view to catch up (a sample or two)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = probe.timeline.counts["on_new_version"]
        if counts and counts[-1] >= devices:
            return
        await asyncio.sleep(0.1)


def costed(label: str, devices: int, probe: Probe, measured: dict[str, Any],
           floor: Floor) -> dict[str, Any]:
    """The run's figures: CPU per device per group, the floor for the work counted, the ratio,
    phase wall times, time to 50/95/100 % of devices, outbox lag."""
    cpu: dict[str, float] = measured["cpu_s"]
    server_s = sum(cpu.get(g, 0.0) for g in SERVER_GROUPS)
    counters = measured["counters"]
    per_device = {
        "requests": round(measured["requests"] / devices, 2),
        "events": round(counters.published / devices, 2),
        "deliveries": round(counters.handled / devices, 2),
        "transactions": round(measured["transactions"] / devices, 2),
    }
    floor_s = floor.per_device(per_device["requests"], per_device["events"],
                               per_device["transactions"])
    server_per_device = server_s / devices
    marks = probe.timeline.marks
    return {
        "run": label,
        "devices": devices,
        "server_cpu_ms_per_device": ms(server_per_device),
        "cpu_ms_per_device": {g: ms(cpu.get(g, 0.0) / devices) for g in SERVER_GROUPS},
        "simulator_cpu_ms_per_device": ms(cpu.get("simulator", 0.0) / devices),
        "vendor_feed_cpu_ms_per_device": ms(cpu.get("vendor_feed", 0.0) / devices),
        "gateway_cpu_ms_per_request": (ms(cpu.get("device-gateway", 0.0) / measured["requests"])
                                       if measured["requests"] else None),
        "per_device": per_device,
        "floor_ms_per_device": ms(floor_s),
        "actual_over_floor": round(server_per_device / floor_s, 2) if floor_s else None,
        "server_cpu_s_per_phase": phase_cpu(probe.cpu_at, PHASES, lambda g: g in SERVER_GROUPS),
        "wall_s_per_phase": {f"{a}→{b}": round(marks[b] - marks[a], 2)
                             for a, b in itertools.pairwise(PHASES)},
        "wall_s_total": round(marks["concluded"] - marks["begin"], 2),
        "update_wall_s": round(marks["concluded"] - marks["START"], 2),
        "from_start_s": {state: probe.timeline.crossings(state, devices, "START")
                         for state in ("acknowledged", "blocked", "waiting")},
        "from_end_s": {"on_new_version":
                       probe.timeline.crossings("on_new_version", devices, "END")},
        "outbox_lag_ms": {
            f"p{round(q * 100)}": _ms_or_none(histogram_quantile(q, counters.lag_buckets))
            for q in (0.5, 0.99)} if counters.lag_buckets else None,
    }


def _ms_or_none(seconds: float | None) -> float | None:
    return None if seconds is None else ms(seconds)


IDLE_STARTS_PER_S = 200.0
"""How fast the idle run switches devices on (their first long-polls)."""
IDLE_WAIT_S = 30
"""The idle devices' long-poll: the longest the gateway allows, so that a connection is renewed
as rarely as a real device's would be."""


async def idle_long_polls(devices: int, say: Say, *, work_dir: Path | None = None,
                          pool_size: int = POOL_SIZE) -> tuple[dict[str, Any], Timeline]:
    """``devices`` registered devices holding their long-poll open on one gateway process: its
    resident memory per connection parked on it (the gateway's own count), between all
    registered and as many parked as it holds (all, or the most it reached in the time)."""
    env = environment(work_dir, pool_size)
    async with env:
        assert env.cluster is not None
        gateway = next(p for p in env.cluster.processes if p.name == "device-gateway-0")
        assert gateway.process is not None
        async with Stage(env, devices, say) as stage:
            await stage.create_site()
            fleet = Fleet(gateway.url, stage.site_id, stage.enrolment_code, devices,
                          RELEASE.from_version, serial_prefix="IDLE", check_every_s=None,
                          wait_s=IDLE_WAIT_S)
            stage.fleets.append(fleet)
            probe = Probe(env.cluster.processes, env.feed, run_database(env), env.admin_dsn,
                          RELEASE.to_version, fleets=stage.fleets, sample_every_s=0.25)
            async with probe:
                started = time.monotonic()
                await stage.register(fleet)
                probe.mark("registered")
                say(f"{devices} devices registered; switching them on, "
                    f"{IDLE_STARTS_PER_S:.0f} a second")
                rss_registered = rss_bytes(gateway.process.pid)
                await fleet.run(starts_per_s=IDLE_STARTS_PER_S)
                parked = await until_parked(probe, devices, timeout=60 + devices * 0.02)
                probe.mark("connected")
                rss_connected = rss_bytes(gateway.process.pid)
                await asyncio.sleep(5)
                probe.mark("idle")
                connected_now = connected(probe.fleets)
                setup_s = time.monotonic() - started
                if parked < devices:
                    say(f"the gateway holds at most {parked} of {devices} long-polls; the "
                        f"devices' last errors: {last_errors(probe.fleets)}")
    per_connection = (rss_connected - rss_registered) / max(1, parked)
    cpu = probe.cpu_at
    idle_gateway_s = cpu["idle"].get("device-gateway", 0) - cpu["connected"].get(
        "device-gateway", 0)
    polls = probe.requests_at["idle"] - probe.requests_at["connected"]  # renewals, in 5 s
    return {
        "run": f"idle_long_polls_{devices}",
        "devices": devices,
        "parked_on_gateway": parked,
        "connected_by_simulator": connected_now,
        "ok": parked == devices,
        "gateway_rss_mb_registered": round(rss_registered / 2**20, 1),
        "gateway_rss_mb_connected": round(rss_connected / 2**20, 1),
        "gateway_kb_per_connection": round(per_connection / 1024, 1),
        "gateway_cpu_ms_per_s_idle": round(idle_gateway_s / 5 * 1000, 1),
        "gateway_cpu_ms_per_poll_idle": (ms(idle_gateway_s / polls) if polls else None),
        "setup_s": round(setup_s, 1),
        "db_pool_size": pool_size,
    }, probe.timeline

