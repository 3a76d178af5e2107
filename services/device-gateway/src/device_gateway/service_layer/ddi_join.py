"""Unknown devices asking to join with their site's GatewayToken (D14, issue 15 §4).

hawkBit creates a target on its first poll; Lockstep never trusts a device silently: a
registered device holds up the barrier and receives the site's packages. An unknown serial
presenting the site's GatewayToken is answered ``404 unknown_device`` and kept as a *join
request* (``DdiRequests.authenticate``); the site admin approves it — with the device's model
and installed version, and it is registered as a DDI device (``DeviceRegistered``) — or
dismisses it. Its agent then goes on with the GatewayToken, unchanged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import ddi_repository, repository
from device_gateway.adapters.ddi_repository import JoinRequest
from device_gateway.service_layer.auth import DeviceAuthenticator
from device_gateway.service_layer.ddi import register_ddi_device
from device_gateway.service_layer.errors import DeviceRefused
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class DdiJoinRequests:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, auth: DeviceAuthenticator,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.reads = reads
        self.auth = auth
        self.clock = clock

    async def pending(self, site_id: str) -> list[JoinRequest]:
        async with self.reads.connect() as conn:
            if await repository.load_site(conn, site_id) is None:
                raise DeviceRefused("unknown_site", f"no site {site_id!r} at this gateway")
            return await ddi_repository.join_requests(conn, site_id)

    async def approve(self, site_id: str, serial: str, model: str, app_version: str) -> None:
        """The site admin knows the device: it is registered as a DDI device of ``model``,
        on ``app_version``."""
        async with self.uow.begin() as tx:
            if not await ddi_repository.remove_join_request(tx.conn, site_id, serial):
                raise _unknown(site_id, serial)
            await register_ddi_device(tx, self.auth, site_id, serial, model, app_version,
                                      self.clock())
        log.info("DDI device %s joined site %s (approved by the site admin)", serial, site_id,
                 extra={"site_id": site_id, "serial": serial})

    async def dismiss(self, site_id: str, serial: str) -> None:
        """Not one of the site's devices: the request goes (it comes back if it polls again)."""
        async with self.uow.begin() as tx:
            if not await ddi_repository.remove_join_request(tx.conn, site_id, serial):
                raise _unknown(site_id, serial)


def _unknown(site_id: str, serial: str) -> DeviceRefused:
    return DeviceRefused("unknown_join_request",
                         f"no device {serial!r} has asked to join site {site_id!r}")
