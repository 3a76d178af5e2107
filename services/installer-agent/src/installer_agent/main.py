"""``lockstep-installer-agent [serve|migrate]``: the agent on a site's server host, configured
with ``LOCKSTEP_AGENT_*`` and ``LOCKSTEP_*`` environment variables."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from installer_agent.bootstrap import build
from installer_agent.settings import AgentSettings, MigrationSettings
from lockstep_shared.runtime import service_main


def main(argv: Sequence[str] | None = None) -> None:
    command = list(sys.argv[1:] if argv is None else argv)[:1]
    make_settings = MigrationSettings if command == ["migrate"] else AgentSettings
    service_main("lockstep-installer-agent",
                 "Lockstep installer agent: installs releases on this site's server host",
                 build, make_settings, argv)


if __name__ == "__main__":
    main()
