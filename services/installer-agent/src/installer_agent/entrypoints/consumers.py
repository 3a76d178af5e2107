"""What the agent consumes: its own site's install commands only (S3), on its own queue
``installer-agent.<site>``, each handled once (inbox) in the handler's unit of work."""

from __future__ import annotations

from installer_agent.service_layer.installs import InstallHandlers
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import InstallRequested
from lockstep_shared.unit_of_work import UnitOfWork

QUEUE = "installer-agent"


def queue_of(site_id: str) -> str:
    """The agent's queue: one per site, so a site's agent never sees another site's commands
    (and a site's RabbitMQ user may be limited to it, see deploy/agent)."""
    return f"{QUEUE}.{site_id}"


def consumers(uow: UnitOfWork, installs: InstallHandlers, *, site_id: str) -> Subscriptions:
    subs = Subscriptions(queue_of(site_id), uow, site_id=site_id)
    subs.add(InstallRequested, installs.on_install_requested)
    return subs
