"""``lockstep-device-gateway [serve|migrate]``: the gateway as its own process."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from device_gateway.bootstrap import build
from device_gateway.settings import GatewaySettings
from lockstep_shared.bus import connect
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import http_app, serve
from lockstep_shared.settings import LockstepSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lockstep-device-gateway",
                                     description="Lockstep device gateway (device API)")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    common = LockstepSettings()
    settings = GatewaySettings()
    configure_logging("device-gateway", common.log_level, common.log_json)
    bus = connect(common)
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(service.migrate())
        return
    serve(http_app([service], bus, title="Lockstep device gateway"), settings.host, settings.port)


if __name__ == "__main__":
    main()
