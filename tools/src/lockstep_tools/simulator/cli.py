"""``lockstep-simulator``: run N simulated devices against a device gateway.

Runs until every device that can finishes an update (installed, failed, up to date, or told
ERROR), or until ``--duration`` seconds; prints a line of counts every ``--report-every`` s.
Exit code 0 when every device finished (or the duration ran out), 1 when the gateway refused
the registration or could not be reached, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence

from lockstep_tools.simulator.behaviour import assign_behaviours, serial_for
from lockstep_tools.simulator.fleet import Fleet
from lockstep_tools.simulator.gateway_api import GatewayUnavailable, RegistrationRefused


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lockstep-simulator",
        description="Simulate N mobile devices against the Lockstep device gateway (D11).",
    )
    p.add_argument("--gateway", required=True, help="gateway base URL, e.g. http://127.0.0.1:8001")
    p.add_argument("--site", required=True, help="site id the devices belong to")
    p.add_argument("--enrolment-code", required=True, help="the site's enrolment code")
    p.add_argument("--devices", type=int, required=True, help="how many devices")
    p.add_argument("--app-version", required=True, help="app version the devices start on")
    p.add_argument("--serial-prefix", default="SIM", help="serials are PREFIX000000, … (SIM)")
    p.add_argument("--model", default="TC52")
    p.add_argument("--offline", type=int, default=0, metavar="K", help="K devices never connect")
    p.add_argument("--slow", type=int, default=0, metavar="K", help="K devices act late")
    p.add_argument(
        "--slow-delay",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a slow device waits before acting (5)",
    )
    p.add_argument(
        "--never-ack",
        type=int,
        default=0,
        metavar="K",
        help="K devices receive notifications but never acknowledge them",
    )
    p.add_argument(
        "--fail-install",
        type=int,
        default=0,
        metavar="K",
        help="K devices download the package but fail to install it",
    )
    p.add_argument(
        "--interrupt-download",
        type=int,
        default=0,
        metavar="K",
        help="K devices lose the connection mid-download and resume with Range",
    )
    p.add_argument(
        "--notifications-disabled",
        type=int,
        default=0,
        metavar="K",
        help="K devices have notifications off: no push, they only check for updates",
    )
    p.add_argument(
        "--check-every",
        type=float,
        default=30.0,
        metavar="S",
        help="each running device asks for an update every S seconds; 0 = never (30)",
    )
    p.add_argument(
        "--report-every",
        type=float,
        default=5.0,
        metavar="S",
        help="print the counts every S seconds (5)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds even if devices have not finished",
    )
    p.add_argument("--wait", type=int, default=25, help="long-poll wait in seconds, 0-30 (25)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=200,
        help="registrations / requests in flight at once, long-polls aside (200)",
    )
    p.add_argument("--download-concurrency", type=int, default=50)
    p.add_argument("--no-staging", dest="staging", action="store_false",
                   help="devices do not stage the next release in the background: they "
                   "download it only after END UPDATE (staging is on by default)")
    p.add_argument("--link-kbps", type=float, default=None, metavar="KBPS",
                   help="the site's network all downloads share, in kilobytes a second "
                   "(a shop's Wi-Fi); default: no limit")
    p.add_argument("--seed", type=int, default=0, help="seed of the unsent-record counts")
    p.add_argument("--json", action="store_true", help="print the final snapshot as JSON")
    return p


async def simulate(args: argparse.Namespace) -> int:
    serials = [serial_for(args.serial_prefix, i) for i in range(args.devices)]
    behaviours = assign_behaviours(
        serials,
        offline=args.offline,
        slow=args.slow,
        never_ack=args.never_ack,
        fail_install=args.fail_install,
        interrupt_download=args.interrupt_download,
        notifications_disabled=args.notifications_disabled,
        slow_delay_s=args.slow_delay,
    )
    fleet = Fleet(
        args.gateway,
        args.site,
        args.enrolment_code,
        args.devices,
        args.app_version,
        serial_prefix=args.serial_prefix,
        behaviours=behaviours,
        concurrency_limit=args.concurrency,
        download_limit=args.download_concurrency,
        model=args.model,
        wait_s=args.wait,
        seed=args.seed,
        check_every_s=args.check_every or None,
        staging=args.staging,
        link_bytes_per_s=args.link_kbps * 1000 if args.link_kbps else None,
    )
    started = time.monotonic()
    async with fleet:
        try:
            await fleet.register()
        except (RegistrationRefused, GatewayUnavailable) as exc:
            print(f"lockstep-simulator: registration failed: {exc}", file=sys.stderr)
            return 1
        print(
            f"registered {args.devices} devices in {fleet.registration_seconds:.1f}s "
            f"(rss {_rss_mb():.0f} MB)",
            flush=True,
        )
        await fleet.run()
        next_report = time.monotonic()
        while True:
            snapshot = fleet.snapshot()
            now = time.monotonic()
            if now >= next_report:
                elapsed = now - started
                print(f"[{elapsed:7.1f}s] {snapshot.summary()} rss={_rss_mb():.0f}MB", flush=True)
                next_report = now + args.report_every
            if snapshot.expected_to_finish and snapshot.all_finished:
                print("every device finished its update", flush=True)
                break
            if args.duration is not None and now - started >= args.duration:
                print(f"duration of {args.duration:g}s reached", flush=True)
                break
            crashed = fleet.crashed()
            if crashed:
                print(f"lockstep-simulator: device tasks crashed: {crashed[:3]}", file=sys.stderr)
                return 1
            await asyncio.sleep(min(0.5, args.report_every))
        print(snapshot.summary(), flush=True)
        if args.json:
            print(json.dumps(_as_json(snapshot), indent=2))
    return 0


def _rss_mb() -> float:
    """Resident memory of this process now (peak where /proc is missing), in MB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _as_json(snapshot: object) -> dict[str, object]:
    from dataclasses import asdict

    return asdict(snapshot)  # type: ignore[call-overload]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(simulate(args))
        return uvloop.run(simulate(args))
    except ValueError as exc:
        print(f"lockstep-simulator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
