"""``lockstep-demo`` — run a scenario end to end and print one JSON line with the outcome.

    lockstep-demo [--scenario happy] [--mode single|distributed] [--devices 20] [--keep]

Single-node starts ``lockstep-node`` (SQLite, in-process bus); distributed starts each service
as its own process on RabbitMQ and PostgreSQL (``LOCKSTEP_AMQP_URL``/``LOCKSTEP_DATABASE_URL``,
defaulting to the local servers with a fresh database and bus namespace, removed afterwards).
Exits 0 only if the scenario's expected end state holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lockstep_tools.demo.environment import DemoEnvironment, Release
from lockstep_tools.demo.scenarios import SCENARIOS
from lockstep_tools.demo.scenarios.stage import Stage

PRODUCT = Release(product="shop", from_version="03.01.00_030", to_version="03.01.00_031")


def _say(line: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {line}", flush=True)


async def run_scenario(
    name: str, mode: str, devices: int, *, work_dir: Path | None = None, keep: bool = False,
    orchestrators: int = 1, gateways: int = 1, bus_users: bool = False, port: int | None = None,
    staging: bool = True,
) -> dict[str, Any]:
    """Run one scenario; the result holds ``ok`` (its expected end state held)."""
    scenario = SCENARIOS[name]
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix=f"lockstep-demo-{mode}-"))
    env = DemoEnvironment(mode, work_dir, PRODUCT, keep=keep, orchestrators=orchestrators,
                          gateways=gateways, prepare_feed=scenario.prepare_feed,
                          extra_env=scenario.lockstep_env, bus_users=bus_users, port=port)
    _say(f"scenario {name}: {scenario.summary}")
    _say(f"{mode} mode, {devices} devices; work dir {work_dir}")
    async with env:
        _say(f"Lockstep is up: admin API {env.orchestrator_url}/api/v1")
        try:
            async with Stage(env, devices, _say, staging=staging) as stage:
                figures = await scenario.run(stage)
                elapsed = stage.elapsed_s
        except BaseException:
            for process, lines in env.logs():
                print(f"--- last lines of {process} ---\n{lines}", file=sys.stderr)
            raise
    result = {"scenario": name, "mode": mode, **figures, "elapsed_s": elapsed}
    result["ok"] = scenario.ok(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockstep-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="happy", choices=sorted(SCENARIOS))
    parser.add_argument("--mode", default="single", choices=["single", "distributed"])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the work dir, database, queues")
    parser.add_argument("--bus-users", action="store_true",
                        help="distributed: each service its own RabbitMQ user with only its "
                        "rights, as deployed (needs rabbitmqctl on this host)")
    parser.add_argument("--port", type=int, metavar="PORT",
                        help="the admin API's port (single: the node; distributed: the "
                        "orchestrator, then the next ports); default: free ports")
    parser.add_argument("--no-staging", dest="staging", action="store_false",
                        help="the devices do not stage the release in the background: they "
                        "download it after END UPDATE (compare the stop time)")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535 - 8:
        parser.error("--port must be a TCP port (1-65527)")
    if args.devices < 5:
        parser.error("--devices must be at least 5 (the scenarios set some devices apart)")
    try:
        result = asyncio.run(run_scenario(args.scenario, args.mode, args.devices, keep=args.keep,
                                          bus_users=args.bus_users, port=args.port,
                                          staging=args.staging))
    except Exception as exc:
        print(json.dumps({"scenario": args.scenario, "mode": args.mode, "ok": False,
                          "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
