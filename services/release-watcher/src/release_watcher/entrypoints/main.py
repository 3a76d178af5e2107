"""``lockstep-release-watcher [serve|migrate]``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from lockstep_shared.bus import connect
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import http_app, serve
from lockstep_shared.settings import LockstepSettings
from release_watcher.bootstrap import build
from release_watcher.settings import WatcherSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lockstep-release-watcher")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    common = LockstepSettings()
    settings = WatcherSettings()
    configure_logging("release-watcher", common.log_level, common.log_json)
    bus = connect(common)
    service = build(common, settings, bus)
    if args.command == "migrate":
        asyncio.run(service.migrate())
        return
    serve(http_app([service], bus, title="Lockstep release-watcher"), settings.host, settings.port)


if __name__ == "__main__":
    main()
