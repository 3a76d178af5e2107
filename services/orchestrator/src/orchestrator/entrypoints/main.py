"""``lockstep-orchestrator [serve|migrate]``: run the admin API, saga and consumers, or only
bring the database to the newest revision."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from lockstep_shared.bus import connect
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import http_app, serve
from lockstep_shared.settings import LockstepSettings

from orchestrator.bootstrap import OrchestratorService, build
from orchestrator.settings import OrchestratorSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lockstep-orchestrator", description=__doc__)
    parser.add_argument("command", nargs="?", choices=("serve", "migrate"), default="serve")
    args = parser.parse_args(argv)

    common = LockstepSettings()
    settings = OrchestratorSettings()
    configure_logging("orchestrator", common.log_level, common.log_json)
    bus = connect(common)
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(_migrate(service))
        return
    serve(http_app([service], bus, title="Lockstep orchestrator"), settings.host, settings.port)


async def _migrate(service: OrchestratorService) -> None:

    try:
        await service.migrate()
    finally:
        await service.engine.dispose()


if __name__ == "__main__":
    main()
