"""``lockstep-release-watcher [serve|migrate]``: the release-watcher as its own process."""

from __future__ import annotations

from collections.abc import Sequence

from lockstep_shared.runtime import service_main
from release_watcher.bootstrap import build
from release_watcher.settings import WatcherSettings


def main(argv: Sequence[str] | None = None) -> None:
    service_main("lockstep-release-watcher", "Lockstep release-watcher (vendor feed)", build,
                 WatcherSettings, argv)


if __name__ == "__main__":
    main()
