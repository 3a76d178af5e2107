"""``lockstep-bench`` (``make bench``): a coordinated update, distributed, measured in server CPU
per device against the floor measured in the same run; one JSON line on stdout and
``bench/out/timeline.png``.

    lockstep-bench [--devices 1000] [--full] [--only one_site|sites|idle] [--out bench/out]
                   [--no-staging-comparison]

``--full`` (``make bench BENCH=full``) adds 10,000 devices on one site, 100 sites × 50 devices
updated at once, and 10,000 idle long-polls on one gateway process. ``--only`` runs one of
them (sized by ``--devices``, ``--sites``/``--per-site``). Progress goes to stderr.

The first one-site run measures its update with the devices downloading after END, then takes
the same fleet through a second update with the package staged in the background: both stop
times are in its figures (``--no-staging-comparison``: the measured update only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lockstep_tools.bench.figures import Timeline, ms
from lockstep_tools.bench.floor import FloorSettings, measure_floor
from lockstep_tools.bench.plot import draw_timelines
from lockstep_tools.bench.runs import (
    OTHER_CONNECTIONS,
    POOL_SIZE,
    idle_long_polls,
    one_site,
    pool_size_for,
    wait_for_connections,
)
from lockstep_tools.bench.sites import many_sites
from lockstep_tools.demo.environment import DEFAULT_AMQP, DEFAULT_PG

T = TypeVar("T")
CONNECTIONS_NEEDED = 2 * POOL_SIZE + OTHER_CONNECTIONS
"""PostgreSQL connections a distributed Lockstep opens under load (the pools of four services
and the bench's monitoring)."""


def say(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Plan:
    one_site: tuple[int, ...] = (1000,)
    sites: tuple[int, int] | None = None
    idle: int | None = None
    compare_staging: bool = True
    """The first one-site run also measures the stop time with background staging."""


def plan_for(devices: int, full: bool, only: str | None, sites: int, per_site: int,
             compare_staging: bool = True) -> Plan:
    if only == "one_site":
        return Plan(one_site=(devices,), compare_staging=compare_staging)
    if only == "sites":
        return Plan(one_site=(), sites=(sites, per_site))
    if only == "idle":
        return Plan(one_site=(), idle=devices)
    if full:
        return Plan(one_site=(devices, 10_000), sites=(sites, per_site), idle=10_000,
                    compare_staging=compare_staging)
    return Plan(one_site=(devices,), compare_staging=compare_staging)


async def bench(plan: Plan, out: Path, floor_scale: float = 1.0) -> dict[str, Any]:
    amqp = os.environ.get("LOCKSTEP_AMQP_URL", DEFAULT_AMQP)
    admin = os.environ.get("LOCKSTEP_DEMO_PG_ADMIN", f"{DEFAULT_PG}/postgres")
    await wait_for_connections(admin, 12, say)
    say("measuring the floor: bare FastAPI request, aio-pika event, asyncpg transaction")
    floor = await measure_floor(FloorSettings(DEFAULT_PG, amqp, admin, scale=floor_scale))
    say(f"floor: request {ms(floor.request_s)} ms, event {ms(floor.event_s)} ms, "
        f"transaction {ms(floor.transaction_s)} ms (CPU)")
    runs: list[dict[str, Any]] = []
    timelines: list[tuple[str, Timeline]] = []

    async def pools() -> int:
        """The services' pool size that fits the connections free now (a shared server)."""
        size = pool_size_for(await wait_for_connections(admin, CONNECTIONS_NEEDED, say))
        if size < POOL_SIZE:
            say(f"PostgreSQL is shared and busy: the gateway's and orchestrator's pools are "
                f"{size} connections, not {POOL_SIZE}")
        return size

    async def one(devices: int, compare_staging: bool) -> None:
        pool_size = await pools()
        say(f"one site, {devices} devices")
        result, timeline = await one_site(devices, floor, say, compare_staging=compare_staging,
                                          pool_size=pool_size)
        runs.append(result)
        timelines.append((f"{result['run']}: {result['server_cpu_ms_per_device']} ms server "
                          f"CPU/device, update {result['update_wall_s']} s", timeline))
        say(f"{result['run']}: {result['server_cpu_ms_per_device']} ms server CPU per device "
            f"(simulator {result['simulator_cpu_ms_per_device']} ms apart), "
            f"{result['actual_over_floor']}x the floor, update {result['update_wall_s']} s; "
            f"{stop_time_summary(result['stop_time_s'])}")

    for k, devices in enumerate(plan.one_site):
        await one(devices, compare_staging=plan.compare_staging and k == 0)
    if plan.sites is not None:
        sites, per_site = plan.sites
        pool_size = await pools()
        say(f"{sites} sites x {per_site} devices, updated at once")
        result, timeline = await many_sites(sites, per_site, floor, say, pool_size=pool_size)
        runs.append(result)
        timelines.append((f"{result['run']}: {result['server_cpu_ms_per_device']} ms server "
                          f"CPU/device, update {result['update_wall_s']} s", timeline))
    if plan.idle is not None:
        pool_size = await pools()
        say(f"idle: {plan.idle} long-polls on one gateway process")
        idle, timeline = await idle_long_polls(plan.idle, say, pool_size=pool_size)
        runs.append(idle)
        timelines.append((f"{idle['run']}: {idle['gateway_kb_per_connection']} KB per "
                          "connection", timeline))
    picture = draw_timelines(timelines, out / "timeline.png")
    return {
        "plan": {"one_site": list(plan.one_site), "sites": plan.sites, "idle": plan.idle},
        "ok": all(r["ok"] for r in runs),
        "floor_ms": {"request": ms(floor.request_s), "event": ms(floor.event_s),
                     "transaction": ms(floor.transaction_s)},
        "runs": runs,
        "timeline_png": str(picture),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


async def cancelled_on_sigterm(work: Coroutine[Any, Any, T]) -> T:
    """``timeout`` and service managers stop a process with SIGTERM: cancel the run, so that
    its environment is torn down (services stopped, database and bus namespace removed)
    instead of left running."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def stop_time_summary(stop: dict[str, float]) -> str:
    """'stop time 12.3 s without staging, 4.5 s with it' (the second part if measured)."""
    line = f"stop time {stop['without_staging']} s without staging"
    if "with_staging" in stop:
        line += f", {stop['with_staging']} s with it"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockstep-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--full", action="store_true",
                        help="also 10,000 devices on one site and 10,000 idle long-polls")
    parser.add_argument("--only", choices=["one_site", "sites", "idle"])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--per-site", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--no-staging-comparison", action="store_true",
                        help="measure the one-site update only, not a second one with staging")
    args = parser.parse_args(argv)
    for name in ("devices", "sites", "per_site"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    plan = plan_for(args.devices, args.full, args.only, args.sites, args.per_site,
                    compare_staging=not args.no_staging_comparison)
    try:
        result = asyncio.run(cancelled_on_sigterm(bench(plan, args.out)))
    except asyncio.CancelledError:
        print(json.dumps({"ok": False, "error": "stopped by SIGTERM"}))
        return 143
    except Exception as exc:
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
