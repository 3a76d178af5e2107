"""``lockstep-device-gateway [serve|migrate]``: the gateway as its own process."""

from __future__ import annotations

from collections.abc import Sequence

from device_gateway.bootstrap import build
from device_gateway.settings import GatewaySettings
from lockstep_shared.runtime import service_main


def main(argv: Sequence[str] | None = None) -> None:
    service_main("lockstep-device-gateway", "Lockstep device gateway (device API)", build,
                 GatewaySettings, argv)


if __name__ == "__main__":
    main()
