"""The site admin's DDI setup (D14), through the internal API: TargetTokens, the site's
GatewayToken, each model's waiting rule, and unknown devices asking to join (issue 15 §4).

hawkBit creates a target on its first poll; Lockstep never trusts a device silently: a
registered device holds up the barrier and receives the site's packages. An unknown serial
presenting the site's GatewayToken is answered ``404 unknown_device`` and kept as a *join
request* (``DdiHandlers.authenticate``); the site admin approves it — with the device's model
and installed version, and it is registered as a DDI device (``DeviceRegistered``) — or
dismisses it. Its agent then goes on with the GatewayToken, unchanged."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import ddi_repository, repository
from device_gateway.domain.ddi import JoinRequest, Waiting
from device_gateway.service_layer.auth import DeviceAuthenticator, new_token, token_hash
from device_gateway.service_layer.ddi import AGENT
from device_gateway.service_layer.errors import DeviceRefused, disabled
from lockstep_shared.catalogue import DeviceRegistered
from lockstep_shared.unit_of_work import Tx, UnitOfWork

log = logging.getLogger(__name__)


class DdiSiteHandlers:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, auth: DeviceAuthenticator,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.reads = reads
        self.auth = auth
        self.clock = clock

    async def issue_target_token(self, site_id: str, serial: str, model: str,
                                 app_version: str) -> str:
        """The site admin's TargetToken for a DDI device: registers the serial as a DDI device
        (a known one gets a new token; the old one stops working). A Lockstep app's serial is
        refused: its credentials are its own."""
        async with self.uow.begin() as tx:
            token = await register_ddi_device(tx, self.auth, site_id, serial, model,
                                              app_version, self.clock())
        log.info("DDI TargetToken issued by the site admin for device %s", serial,
                 extra={"site_id": site_id, "serial": serial})
        return token

    async def set_model_rule(self, site_id: str, model: str, waiting: Waiting,
                             artifact_suffix: str) -> None:
        async with self.uow.begin() as tx:
            await ddi_repository.save_model_rule(tx.conn, site_id, model, waiting,
                                                 artifact_suffix, self.clock())
        log.info("DDI devices of model %s at site %s: waiting means %s", model, site_id,
                 waiting.value, extra={"site_id": site_id})

    async def model_rules(self, site_id: str) -> list[ddi_repository.ModelRule]:
        """What "waiting" means for each DDI device model of the site (the defaults for a
        model the admin never chose for)."""
        async with self.reads.connect() as conn:
            if await repository.load_site(conn, site_id) is None:
                raise DeviceRefused("unknown_site", f"no site {site_id!r} at this gateway")
            return await ddi_repository.model_rules(conn, site_id)

    async def issue_gateway_token(self, site_id: str) -> str:
        """A new GatewayToken for the site (the previous one stops working)."""
        token = new_token()
        async with self.uow.begin() as tx:
            if await repository.load_site(tx.conn, site_id) is None:
                raise DeviceRefused("unknown_site", f"no site {site_id!r} at this gateway")
            await ddi_repository.save_gateway_token(tx.conn, site_id, token_hash(token),
                                                    self.clock())
        log.info("DDI gateway token issued for site %s", site_id, extra={"site_id": site_id})
        return token

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


async def register_ddi_device(tx: Tx, auth: DeviceAuthenticator, site_id: str, serial: str,
                              model: str, app_version: str, now: datetime) -> str:
    """Registers the serial as a DDI device (a known one gets a new token; the old one stops
    working) and returns its TargetToken. A Lockstep app's serial is refused: its credentials
    are its own."""
    token, secret = new_token(), secrets.token_hex(32)
    if await repository.load_site(tx.conn, site_id) is None:
        raise DeviceRefused("unknown_site", f"no site {site_id!r} at this gateway")
    known = await repository.known_device(tx.conn, site_id, serial)
    if known is not None:
        if not known.enabled:
            raise disabled()
        found = await ddi_repository.ddi_device(tx.conn, site_id, serial)
        if found is None or found.agent != AGENT:
            raise DeviceRefused("not_ddi_device", f"device {serial} is a Lockstep app: "
                                "its credentials are its own")
    await ddi_repository.remove_join_request(tx.conn, site_id, serial)  # if it asked
    await repository.save_registration(tx.conn, {
        "site_id": site_id, "serial": serial, "token_sha256": token_hash(token),
        "secret": secret, "model": model, "app_version": app_version,
        "notifications_enabled": True, "registered_at": now, "agent": AGENT,
        "idempotency_key_sha256": None, "reregistration_approved_at": None})
    tx.emit(DeviceRegistered(
        site_id=site_id, serial=serial, model=model, app_version=app_version,
        registered_at=now, agent=AGENT,
        reregistered=None if known is None else "admin_approval"))
    if known is not None:  # the old token stops working on this replica at once
        tx.after_commit(partial(auth.forget, known.token_sha256))
    return token
