"""``lockstep-node`` — run Lockstep.

Single-node (the default, no RabbitMQ or PostgreSQL): the four services in one process, one
HTTP port, an in-process bus and one SQLite file per service under ``LOCKSTEP_VAR_DIR``
(``./var``). With ``LOCKSTEP_AMQP_URL`` and ``LOCKSTEP_DATABASE_URL`` set it runs distributed
instead: each service its own process (see ``cluster.py``).

The installer agent runs for the site named by ``LOCKSTEP_AGENT_SITE_ID``; without it the node
runs without an agent and says so (a hosted deployment runs agents on the sites' hosts).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from functools import partial

from fastapi import FastAPI

from lockstep_shared.bus import Bus, connect, publishing_as
from lockstep_shared.logs import configure_logging
from lockstep_shared.runtime import Service, http_app, serve, settings_or_exit
from lockstep_shared.settings import LockstepSettings

log = logging.getLogger("lockstep.node")


def _env_or(name: str, default: str) -> str:
    return os.environ.get(name) or default


def build_services(
    common: LockstepSettings, bus: Bus, *, public_url: str, with_agent: bool
) -> list[Service]:
    """Every service on one bus, with URLs pointing at this one process. Each publishes as
    itself, so the consumers' publisher check holds as in distributed mode."""
    from device_gateway.bootstrap import build as build_gateway
    from device_gateway.settings import GatewaySettings
    from orchestrator.bootstrap import build as build_orchestrator
    from orchestrator.settings import OrchestratorSettings
    from release_watcher.bootstrap import build as build_watcher
    from release_watcher.settings import WatcherSettings

    # One process: the orchestrator reaches the gateway's internal code API (D8) on this very
    # node, with a token made for this run unless the operator set one.
    internal_token = (os.environ.get("LOCKSTEP_GATEWAY_INTERNAL_TOKEN")
                      or os.environ.get("LOCKSTEP_ORCHESTRATOR_INTERNAL_TOKEN")
                      or common.internal_token
                      or secrets.token_urlsafe(24))
    watcher = WatcherSettings(public_url=_env_or("LOCKSTEP_WATCHER_PUBLIC_URL", public_url),
                              internal_token=internal_token)
    gateway = GatewaySettings(public_url=_env_or("LOCKSTEP_GATEWAY_PUBLIC_URL", public_url),
                              internal_token=internal_token)
    orchestrator = OrchestratorSettings(
        gateway_url=_env_or("LOCKSTEP_ORCHESTRATOR_GATEWAY_URL", public_url),
        internal_token=internal_token,
    )
    services: list[Service] = [
        build_orchestrator(common, orchestrator, publishing_as(bus, "orchestrator")),
        build_watcher(common, watcher, publishing_as(bus, "release-watcher")),
        build_gateway(common, gateway, publishing_as(bus, "device-gateway")),
    ]
    if with_agent:
        from installer_agent.bootstrap import build as build_agent
        from installer_agent.settings import AgentSettings

        # The agent verifies what it installs like a remote one: it asks this node's
        # orchestrator about each install command, with the run's internal token, and checks
        # the package against the vendor's signature from the root the watcher pins, unless
        # the operator configured the agent's own.
        agent: dict[str, object] = {}
        if not os.environ.get("LOCKSTEP_AGENT_ORCHESTRATOR_URL"):
            agent["orchestrator_url"] = public_url
        if not os.environ.get("LOCKSTEP_AGENT_TRUSTED_ROOT") and watcher.trusted_root:
            agent.update(trusted_root=watcher.trusted_root, feed_url=watcher.feed_url)
        services.append(build_agent(common.model_copy(update={"internal_token": internal_token}),
                                    settings_or_exit("lockstep-node",
                                                     partial(AgentSettings, **agent)),
                                    publishing_as(bus, "installer-agent")))
    return services


def single_node_app(common: LockstepSettings, *, public_url: str) -> FastAPI:
    bus = connect(common)
    with_agent = bool(os.environ.get("LOCKSTEP_AGENT_SITE_ID"))
    services = build_services(common, bus, public_url=public_url, with_agent=with_agent)

    async def announce() -> None:
        print(f"Lockstep single-node is up. Admin API: {public_url}/api/v1 "
              f"(docs: {public_url}/docs)", flush=True)
        if not with_agent:
            print("No installer agent in this process: set LOCKSTEP_AGENT_SITE_ID to run one "
                  "for your site.", flush=True)

    return http_app(services, bus, title="Lockstep (single-node)", on_started=announce)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockstep-node", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--host", default=_env_or("LOCKSTEP_NODE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env_or("LOCKSTEP_NODE_PORT", "8000")))
    args = parser.parse_args(argv)

    common = LockstepSettings()
    configure_logging("lockstep-node", common.log_level, common.log_json)
    if common.amqp_url or common.database_url:
        if not (common.amqp_url and common.database_url):
            print("lockstep-node: distributed mode needs both LOCKSTEP_AMQP_URL and "
                  "LOCKSTEP_DATABASE_URL (or neither, for single-node)", file=sys.stderr)
            return 2
        from lockstep_tools.cluster import run_cluster_forever

        return run_cluster_forever(common, base_port=args.port)
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    public_url = f"http://{host}:{args.port}"
    serve(single_node_app(common, public_url=public_url), args.host, args.port,
          forwarded_allow_ips=common.forwarded_allow_ips)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
