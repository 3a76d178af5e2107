"""Device requests (D1, D2 ack, D3-D7): each one unit of work of Core statements and the
messages it emits; the reads (directive, package) on the read-only engine, never waiting for
a writer. The device rules are ``DeviceContext``'s (``domain.updates``)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from device_gateway.adapters import notifications_repository, repository
from device_gateway.domain.updates import (
    SYNC_REFUSED,
    DeviceContext,
    Directive,
    Package,
    SyncDecision,
)
from device_gateway.service_layer.auth import AuthenticatedDevice, DeviceAuthenticator, token_hash
from device_gateway.service_layer.errors import (
    DeviceRefused,
    disabled,
    in_preparation,
    nothing_to_download,
    unauthorized,
)
from lockstep_shared import metrics
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    Message,
)
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

WRONG_ENROLMENT = "unknown site or wrong enrolment code"


@dataclass(frozen=True, slots=True)
class Registration:
    site_id: str
    serial: str
    model: str
    app_version: str
    enrolment_code: str
    notifications_enabled: bool = True
    operator_code: str | None = None
    operator_name: str | None = None
    operator_phone: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    site_id: str
    serial: str
    device_token: str
    device_secret: str
    site_version: str | None
    update_required: bool = False


class DeviceRequests:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, auth: DeviceAuthenticator,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.reads = reads  # the read-only engine: hot reads never wait for writers
        self.auth = auth
        self.clock = clock

    # --- D1 -------------------------------------------------------------------------------

    async def register(self, r: Registration) -> Registered:
        now = self.clock()
        token, secret = secrets.token_urlsafe(32), secrets.token_hex(32)
        async with self.uow.begin() as tx:
            site = await repository.load_site(tx.conn, r.site_id)
            if site is None or not site.admits(r.enrolment_code):
                raise DeviceRefused("enrolment_refused", WRONG_ENROLMENT)
            previous = await repository.device_credentials(tx.conn, r.site_id, r.serial)
            if previous is not None and not previous.enabled:
                raise disabled()
            await repository.save_registration(tx.conn, {
                "site_id": r.site_id, "serial": r.serial, "token_sha256": token_hash(token),
                "secret": secret, "model": r.model, "operator_code": r.operator_code,
                "operator_name": r.operator_name, "operator_phone": r.operator_phone,
                "app_version": r.app_version, "notifications_enabled": r.notifications_enabled,
                "registered_at": now,
            })
            tx.emit(DeviceRegistered(
                site_id=r.site_id, serial=r.serial, model=r.model,
                operator_code=r.operator_code, operator_name=r.operator_name,
                operator_phone=r.operator_phone, app_version=r.app_version,
                notifications_enabled=r.notifications_enabled, registered_at=now))
            device = await repository.device_context(tx.conn, r.site_id, r.serial)
            assert device is not None  # saved just above, in this transaction
            if previous is not None:  # the old token stops working on this replica at once
                tx.after_commit(partial(self.auth.forget, previous.token_sha256))
        log.info("device %s registered at site %s (app %s)", r.serial, r.site_id, r.app_version,
                 extra={"site_id": r.site_id, "serial": r.serial})
        return Registered(r.site_id, r.serial, token, secret,
                          device.site_version or site.first_version,
                          update_required=device.directive().package is not None)

    # --- D2: acknowledgement ---------------------------------------------------------------

    async def acknowledge(self, device: AuthenticatedDevice, notification_id: str) -> None:
        """Idempotent: the first ack publishes ``DeviceNotificationDelivered``, later ones
        do nothing; an unknown id or another device's is refused. The outcomes are correlated
        with the request that asked for the notification."""
        seq = _notification_seq(notification_id)
        now = self.clock()
        async with self.uow.begin() as tx:
            acked = await notifications_repository.acknowledge(
                tx.conn, device.site_id, device.serial, seq, now)
            if acked is None:
                if await notifications_repository.notification_exists(
                        tx.conn, device.site_id, device.serial, seq):
                    return
                raise _no_notification(notification_id)
            outcomes: list[Message] = [DeviceNotificationDelivered(
                site_id=device.site_id, update_id=acked.update_id, serial=device.serial,
                kind=acked.kind, delivered_at=now)]
            if acked.kind == "error":  # ERROR UPDATE: the device resumes work (U12)
                await repository.mark_unblocked(tx.conn, device.site_id, device.serial)
                outcomes.append(DeviceUnblocked(
                    site_id=device.site_id, serial=device.serial, update_id=acked.update_id,
                    unblocked_at=now))
            tx.emit(*outcomes, correlation_id=acked.correlation_id,
                    causation_id=acked.cause_id)
        metrics.PUSH_DELIVERY_SECONDS.labels(acked.kind).observe(
            max(0.0, (now - acked.created_at).total_seconds()))
        log.info("device %s acknowledged %s", device.serial, acked.kind.upper(),
                 extra={"site_id": device.site_id, "serial": device.serial,
                        "update_id": acked.update_id, "correlation_id": acked.correlation_id})

    # --- D3 -------------------------------------------------------------------------------

    async def blocked(self, device: AuthenticatedDevice, update_id: str) -> None:
        now = self.clock()
        async with self.uow.begin() as tx:
            context = await self._device(tx.conn, device)
            refusal = context.blocking_refusal(update_id)
            if refusal is not None:
                raise DeviceRefused("not_active_update", refusal)
            block = context.blocked(update_id, now)  # a repeat keeps the block's time
            await repository.mark_blocked(tx.conn, device.site_id, device.serial, block)
            tx.emit(DeviceBlocked(site_id=device.site_id, update_id=update_id,
                                  serial=device.serial, blocked_at=block.since,
                                  by_code=block.by_code))
        log.info("device %s blocked", device.serial, extra=_context(device, update_id))

    # --- D4 -------------------------------------------------------------------------------

    async def sync(self, device: AuthenticatedDevice, claimed_update_id: str | None
                   ) -> SyncDecision:
        now = self.clock()
        async with self.uow.begin() as tx:
            context = await self._device(tx.conn, device)
            foreign = context.claimed_update_refusal(claimed_update_id)
            if foreign is not None:
                raise DeviceRefused("not_active_update", foreign)
            decision = context.sync(claimed_update_id)
            if not decision.accepted:
                log.info("hand-in of device %s refused: the server update started without it",
                         device.serial, extra=_context(device, claimed_update_id))
                raise DeviceRefused("sync_refused", decision.refusal or SYNC_REFUSED)
            await repository.record_sync(tx.conn, device.site_id, device.serial, now,
                                         decision.waiting_update_id)
            tx.emit(DeviceDataHandedIn(site_id=device.site_id, serial=device.serial,
                                       update_id=decision.waiting_update_id, synced_at=now,
                                       blocked_at=decision.blocked_since))
        return decision

    # --- D5, D6 ---------------------------------------------------------------------------

    async def directive(self, device: AuthenticatedDevice) -> Directive:
        async with self.reads.connect() as conn:
            context = await self._device(conn, device)
        return context.directive()

    async def package(self, device: AuthenticatedDevice) -> Package:
        """The package this device may download now (D6); refused while the update is being
        prepared, and when no package is meant for it."""
        async with self.reads.connect() as conn:
            context = await self._device(conn, device)
        package = context.downloadable()
        if package is not None:
            return package
        raise in_preparation() if context.directive().in_preparation else nothing_to_download()

    # --- D7 -------------------------------------------------------------------------------

    async def report_version(self, device: AuthenticatedDevice, app_version: str) -> None:
        now = self.clock()
        async with self.uow.begin() as tx:
            await repository.record_version(tx.conn, device.site_id, device.serial, app_version)
            tx.emit(DeviceVersionReported(site_id=device.site_id, serial=device.serial,
                                          app_version=app_version, reported_at=now))
        log.info("device %s now runs %s", device.serial, app_version,
                 extra=_context(device, None))

    # --- helpers --------------------------------------------------------------------------

    async def _device(self, conn: AsyncConnection, device: AuthenticatedDevice
                      ) -> DeviceContext:
        context = await repository.device_context(conn, device.site_id, device.serial)
        if context is None:
            raise unauthorized()
        if not context.enabled:
            raise disabled()
        return context


def _context(device: AuthenticatedDevice, update_id: str | None) -> dict[str, Any]:
    return {"site_id": device.site_id, "serial": device.serial, "update_id": update_id}


def _notification_seq(notification_id: str) -> int:
    if not notification_id.isdigit() or len(notification_id) > 18:
        raise _no_notification(notification_id)
    return int(notification_id)


def _no_notification(notification_id: str) -> DeviceRefused:
    return DeviceRefused("unknown_notification",
                         f"no notification {notification_id!r} for this device")
