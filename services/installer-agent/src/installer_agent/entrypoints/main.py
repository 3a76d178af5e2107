"""``lockstep-installer-agent [serve|migrate]``: the agent on a site's server host."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from installer_agent.bootstrap import SERVICE, build
from installer_agent.settings import AgentSettings
from lockstep_shared.bus import connect
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import http_app, serve
from lockstep_shared.settings import LockstepSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="lockstep-installer-agent",
        description="Installs releases on this site's server host (configure with "
        "LOCKSTEP_AGENT_* and LOCKSTEP_* environment variables).",
    )
    parser.add_argument("command", nargs="?", choices=("serve", "migrate"), default="serve")
    args = parser.parse_args(argv)

    common = LockstepSettings()
    settings = AgentSettings()  # type: ignore[call-arg]  # site_id comes from the environment
    configure_logging(SERVICE, common.log_level, common.log_json)
    bus = connect(common)
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(service.migrate())
        return
    serve(http_app([service], bus, title="Lockstep installer agent"), settings.host, settings.port)


if __name__ == "__main__":
    main()
