"""Device management (U10) and the manual block/unblock codes proxied to the gateway (U5, D8).
The grid changes and the message to the gateway are saved in one transaction."""

from __future__ import annotations

from typing import Any

from lockstep_shared.unit_of_work import UnitOfWork
from orchestrator.adapters.http_clients import GatewayCodes
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.accounts import Account
from orchestrator.domain.devices import ManagedDevice, disable_device, enable_device
from orchestrator.domain.gateway_codes import GatewayAnswer
from orchestrator.domain.model import InvalidCommand
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.errors import NotFound


class DeviceHandlers:
    def __init__(self, uow: UnitOfWork, repos: Repositories, audit: AuditLog,
                 gateway: GatewayCodes) -> None:
        self.uow = uow
        self.repos = repos
        self.audit = audit
        self.gateway = gateway

    async def disable(self, site_id: str, serial: str, actor: Account, *, confirm: bool,
                      confirm_again: bool) -> None:
        try:
            message = disable_device(site_id, serial, actor.username, confirm=confirm,
                                     confirm_again=confirm_again)
        except InvalidCommand as exc:
            await self.audit.record_alone(actor, "device.disable", outcome=f"refused: {exc}",
                                          site_id=site_id, serial=serial)
            raise
        async with self.uow.begin() as tx:
            if not await self.repos.devices.set_enabled(tx.conn, site_id, serial, False):
                raise NotFound(f"unknown device {serial!r} at site {site_id!r}")
            tx.emit(message)
            await self.audit.record(tx, actor, "device.disable", site_id=site_id,
                                    serial=serial)

    async def enable(self, site_id: str, serial: str, actor: Account) -> None:
        async with self.uow.begin() as tx:
            if not await self.repos.devices.set_enabled(tx.conn, site_id, serial, True):
                raise NotFound(f"unknown device {serial!r} at site {site_id!r}")
            tx.emit(enable_device(site_id, serial, actor.username))
            await self.audit.record(tx, actor, "device.enable", site_id=site_id, serial=serial)

    async def management(self, site_id: str) -> list[ManagedDevice]:
        async with self.uow.engine.connect() as conn:
            if not await self.repos.sites.exists(conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")
            return await self.repos.devices.management(conn, site_id)

    # --- U5, D8: the three-code exchange (the gateway holds the device secrets) ---------

    async def issue_code(self, site_id: str, serial: str, action: str, code1: str,
                         actor: Account) -> GatewayAnswer:
        await self._known(site_id, serial)
        answer = await self.gateway.issue(site_id, serial, action, code1)
        await self._audit(actor, "device.code_issued", answer, site_id, serial, code_action=action,
                          exchange_id=answer.body.get("exchange_id"))
        return answer

    async def confirm_code(self, site_id: str, serial: str, exchange_id: str, code3: str,
                           actor: Account) -> GatewayAnswer:
        await self._known(site_id, serial)
        answer = await self.gateway.confirm(site_id, serial, exchange_id, code3)
        await self._audit(actor, "device.code_confirmed", answer, site_id, serial,
                          exchange_id=exchange_id, blocked=answer.body.get("blocked"))
        return answer

    # --- issue 10 §3: a device that lost its secret registers again ----------------------

    async def approve_reregistration(self, site_id: str, serial: str,
                                     actor: Account) -> GatewayAnswer:
        """The operator reinstalled the app (the device secret is gone): the admin lets the
        serial register once more with the enrolment code alone, within the hour."""
        await self._known(site_id, serial)
        answer = await self.gateway.approve_reregistration(site_id, serial)
        await self._audit(actor, "device.reregistration_approved", answer, site_id, serial)
        return answer

    # --- D14: devices whose update agent speaks hawkBit DDI --------------------------------

    async def ddi_block(self, site_id: str, serial: str, actor: Account) -> GatewayAnswer:
        """The DDI device (its model's rule is ``admin``) has stopped: count it blocked and
        handed in for the update in phase 1."""
        await self._known(site_id, serial)
        answer = await self.gateway.ddi_block(site_id, serial)
        await self._audit(actor, "device.ddi_blocked", answer, site_id, serial)
        return answer

    async def ddi_join_requests(self, site_id: str) -> GatewayAnswer:
        """Unknown devices that presented the site's GatewayToken and wait for the admin."""
        await self._site(site_id)
        return await self.gateway.ddi_join_requests(site_id)

    async def ddi_join_approval(self, site_id: str, serial: str, device: dict[str, Any],
                                actor: Account) -> GatewayAnswer:
        """The admin knows the device: it is registered as a DDI device (issue 15 §4)."""
        await self._site(site_id)
        answer = await self.gateway.ddi_join_approval(site_id, serial, device)
        await self._audit(actor, "device.ddi_join_approved", answer, site_id, serial, **device)
        return answer

    async def ddi_join_dismissal(self, site_id: str, serial: str,
                                 actor: Account) -> GatewayAnswer:
        """Not the site's device: its request to join goes."""
        await self._site(site_id)
        answer = await self.gateway.ddi_join_dismissal(site_id, serial)
        await self._audit(actor, "device.ddi_join_dismissed", answer, site_id, serial)
        return answer

    async def ddi_model_rules(self, site_id: str) -> GatewayAnswer:
        """Every DDI device model of the site with what "waiting" means for it."""
        await self._site(site_id)
        return await self.gateway.ddi_model_rules(site_id)

    async def ddi_model_rule(self, site_id: str, model: str, rule: dict[str, Any],
                             actor: Account) -> GatewayAnswer:
        """What "waiting" means for the DDI devices of a model: staged, or blocked by the
        admin; and the artifact name's suffix their agent needs."""
        await self._site(site_id)
        answer = await self.gateway.ddi_model_rule(site_id, model, rule)
        await self.audit.record_alone(actor, "site.ddi_model_rule", outcome=_outcome(answer),
                                      site_id=site_id, model=model, **rule)
        return answer

    async def ddi_target_token(self, site_id: str, serial: str, device: dict[str, Any],
                               actor: Account) -> GatewayAnswer:
        """A TargetToken for a DDI device: registers it (or replaces its token)."""
        await self._site(site_id)
        answer = await self.gateway.ddi_target_token(site_id, serial, device)
        await self._audit(actor, "device.ddi_target_token_issued", answer, site_id, serial,
                          model=device.get("model"))
        return answer

    async def ddi_gateway_token(self, site_id: str, actor: Account) -> GatewayAnswer:
        """A new GatewayToken for the site (the previous one stops working)."""
        await self._site(site_id)
        answer = await self.gateway.ddi_gateway_token(site_id)
        await self.audit.record_alone(actor, "site.ddi_gateway_token_issued",
                                      outcome=_outcome(answer), site_id=site_id)
        return answer

    async def _site(self, site_id: str) -> None:
        async with self.uow.engine.connect() as conn:
            if not await self.repos.sites.exists(conn, site_id):
                raise NotFound(f"unknown site {site_id!r}")

    async def _known(self, site_id: str, serial: str) -> None:
        async with self.uow.engine.connect() as conn:
            if not await self.repos.devices.exists(conn, site_id, serial):
                raise NotFound(f"unknown device {serial!r} at site {site_id!r}")

    async def _audit(self, actor: Account, action: str, answer: GatewayAnswer, site_id: str,
                     serial: str, **details: Any) -> None:
        await self.audit.record_alone(actor, action, outcome=_outcome(answer), site_id=site_id,
                                      serial=serial, **details)


def _outcome(answer: GatewayAnswer) -> str:
    """The audited outcome of the gateway's answer: its refusal code and words (the status is
    the entry point's business, never the history's)."""
    if answer.accepted:
        return "ok"
    code = answer.body.get("code") or "gateway_refused"
    return f"refused: {answer.body.get('detail')} ({code})"
