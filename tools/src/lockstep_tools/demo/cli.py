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
from lockstep_tools.demo.scenarios import SCENARIOS, succeeded

PRODUCT = Release(product="shop", from_version="03.01.00_030", to_version="03.01.00_031")


def _say(line: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {line}", flush=True)


async def run_scenario(
    scenario: str, mode: str, devices: int, *, work_dir: Path | None = None, keep: bool = False,
    orchestrators: int = 1, gateways: int = 1,
) -> dict[str, Any]:
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix=f"lockstep-demo-{mode}-"))
    env = DemoEnvironment(mode, work_dir, PRODUCT, keep=keep, orchestrators=orchestrators,
                          gateways=gateways)
    _say(f"scenario {scenario}, {mode} mode, {devices} devices; work dir {work_dir}")
    async with env:
        _say(f"Lockstep is up: admin API {env.orchestrator_url}/api/v1")
        try:
            return await SCENARIOS[scenario](env, devices, _say)
        except BaseException:
            for name, lines in env.logs():
                print(f"--- last lines of {name} ---\n{lines}", file=sys.stderr)
            raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockstep-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="happy", choices=sorted(SCENARIOS))
    parser.add_argument("--mode", default="single", choices=["single", "distributed"])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the work dir, database, queues")
    args = parser.parse_args(argv)
    if args.devices < 1:
        parser.error("--devices must be at least 1")
    try:
        result = asyncio.run(run_scenario(args.scenario, args.mode, args.devices, keep=args.keep))
    except Exception as exc:
        print(json.dumps({"scenario": args.scenario, "mode": args.mode, "ok": False,
                          "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    result["ok"] = succeeded(result)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
