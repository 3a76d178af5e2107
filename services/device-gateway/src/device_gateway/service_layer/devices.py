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
from device_gateway.domain import registrations
from device_gateway.domain.sites import Site
from device_gateway.domain.updates import (
    SYNC_REFUSED,
    DeviceContext,
    Directive,
    Package,
    SyncDecision,
)
from device_gateway.metrics import DEVICE_REPORTS
from device_gateway.service_layer.auth import (
    AuthenticatedDevice,
    DeviceAuthenticator,
    new_token,
    token_hash,
)
from device_gateway.service_layer.errors import (
    DeviceRefused,
    disabled,
    in_preparation,
    nothing_to_download,
    unauthorized,
)
from lockstep_shared import metrics, throttle
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    Message,
)
from lockstep_shared.db import DriverChange
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
    # what proves a known serial (docs/device-protocol.md §4.1), and who asks (S6)
    secret_proof: str | None = None
    idempotency_key: str | None = None
    client: str = "unknown"
    agent: str | None = None  # "ddi": a hawkBit DDI agent (D14)


@dataclass(frozen=True, slots=True)
class Registered:
    site_id: str
    serial: str
    device_token: str
    device_secret: str
    site_version: str | None
    update_required: bool = False


class DeviceHandlers:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, auth: DeviceAuthenticator,
                 clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.reads = reads  # the read-only engine: hot reads never wait for writers
        self.auth = auth
        self.clock = clock

    # --- D1 -------------------------------------------------------------------------------

    async def register(self, r: Registration) -> Registered:
        """D1: the enrolment code admits the site's devices (wrong ones are throttled per
        client and per site); a serial the site knows must prove it is the same device."""
        site = await self._enrolled(r)
        now = self.clock()
        token, secret = new_token(), secrets.token_hex(32)
        async with self.uow.begin() as tx:
            known = await repository.known_device(tx.conn, r.site_id, r.serial)
            if known is not None and not known.enabled:
                raise disabled()
            ground = registrations.admission(known, r.site_id, r.serial, proof=r.secret_proof,
                                             idempotency_key=r.idempotency_key, now=now)
            if ground is not None:
                await repository.save_registration(tx.conn, {
                    "site_id": r.site_id, "serial": r.serial,
                    "token_sha256": token_hash(token), "secret": secret, "model": r.model,
                    "operator_code": r.operator_code, "operator_name": r.operator_name,
                    "operator_phone": r.operator_phone, "app_version": r.app_version,
                    "notifications_enabled": r.notifications_enabled, "registered_at": now,
                    "idempotency_key_sha256": (registrations.key_hash(r.idempotency_key)
                                               if r.idempotency_key else None),
                    "reregistration_approved_at": None,  # an approval is used once
                    "agent": r.agent,
                })
                tx.emit(DeviceRegistered(
                    site_id=r.site_id, serial=r.serial, model=r.model,
                    operator_code=r.operator_code, operator_name=r.operator_name,
                    operator_phone=r.operator_phone, app_version=r.app_version,
                    notifications_enabled=r.notifications_enabled, registered_at=now,
                    reregistered=None if ground is registrations.Ground.NEW else ground.value,
                    agent=r.agent))
                if known is not None:  # the old token stops working on this replica at once
                    tx.after_commit(partial(self.auth.forget, known.token_sha256))
        extra = {"site_id": r.site_id, "serial": r.serial, "client": r.client}
        if ground is None:
            metrics.CREDENTIALS_REFUSED.labels("reregistration_refused").inc()
            log.warning("re-registration of device %s at site %s refused: nothing proved it "
                        "is the registered device", r.serial, r.site_id, extra=extra)
            raise DeviceRefused("reregistration_refused",
                                registrations.refusal(r.site_id, r.serial))
        log.info("device %s registered at site %s (app %s, %s)", r.serial, r.site_id,
                 r.app_version, ground.value, extra=extra)
        async with self.reads.connect() as conn:  # committed: one query by the driver
            device = await repository.device_context(conn, r.site_id, r.serial)
        assert device is not None  # committed just above (a device row is never deleted)
        return Registered(r.site_id, r.serial, token, secret,
                          device.site_version or site.first_version,
                          update_required=device.directive().package is not None)

    async def _enrolled(self, r: Registration) -> Site:
        """The site, once the enrolment code is right. Counting the wrong codes and checking
        this one is one step under a lock on the site and the client: parallel guesses get
        no more checks than the limit."""
        now = self.clock()
        async with self.uow.begin() as tx:
            await repository.lock_enrolment(tx.conn, r.site_id, r.client)
            retry_after = throttle.retry_after(
                registrations.ENROLMENT_LIMITS, await repository.enrolment_failures(
                    tx.conn, r.site_id, r.client, now - registrations.ENROLMENT_WINDOW), now)
            site = None
            if retry_after is None:
                site = await repository.load_site(tx.conn, r.site_id)
                if site is None or not site.admits(r.enrolment_code):
                    await repository.add_enrolment_failure(
                        tx.conn, r.site_id, r.client, now, now - registrations.ENROLMENT_WINDOW)
                    site = None
        if retry_after is not None:
            metrics.CREDENTIALS_REFUSED.labels("registration_throttled").inc()
            log.warning("registration at site %s refused: too many wrong enrolment codes",
                        r.site_id, extra={"site_id": r.site_id, "client": r.client})
            raise DeviceRefused("registration_throttled", "too many wrong enrolment codes from "
                                "this client or for this site: try again in "
                                f"{retry_after} s", retry_after=retry_after)
        if site is None:  # refused after the commit: the wrong code stays counted
            metrics.CREDENTIALS_REFUSED.labels("enrolment_refused").inc()
            raise DeviceRefused("enrolment_refused", WRONG_ENROLMENT)
        return site

    async def approve_reregistration(self, site_id: str, serial: str) -> None:
        """The site admin approved, from the grid, one re-registration of this serial without
        the device's secret (it lost it): valid for ``registrations.APPROVAL_TTL``."""
        async with self.uow.begin() as tx:
            if not await repository.approve_reregistration(tx.conn, site_id, serial,
                                                           self.clock()):
                raise DeviceRefused("unknown_device",
                                    f"no device {serial} registered at site {site_id}")
        log.info("re-registration of device %s approved by the site admin", serial,
                 extra={"site_id": site_id, "serial": serial})

    # --- D2: acknowledgement ---------------------------------------------------------------

    async def acknowledge(self, device: AuthenticatedDevice, notification_id: str) -> None:
        """Idempotent: the first ack publishes ``DeviceNotificationDelivered``, later ones
        do nothing; an unknown id or another device's is refused. The outcomes are correlated
        with the request that asked for the notification. START and END: one read and one
        statement (the acknowledgement and its message); ERROR UPDATE also unblocks the
        device, in a transaction."""
        seq = _notification_seq(notification_id)
        now = self.clock()
        async with self.reads.connect() as conn:
            found = await notifications_repository.sent(conn, device.site_id, device.serial, seq)
        if found is None:
            raise _no_notification(notification_id)
        if found.acknowledged:
            return
        if found.kind == "error":  # ERROR UPDATE: the device resumes work (U12)
            if not await self._acknowledge_error(device, seq, now):
                return
        elif not await self.uow.change(
                notifications_repository.ACKNOWLEDGE,
                {"key_seq": seq, "key_site_id": device.site_id, "key_serial": device.serial,
                 "now": now},
                DeviceNotificationDelivered(site_id=device.site_id, update_id=found.update_id,
                                            serial=device.serial, kind=found.kind,
                                            delivered_at=now),
                correlation_id=found.correlation_id, causation_id=found.cause_id):
            return  # another request of the device acknowledged it first
        metrics.PUSH_DELIVERY_SECONDS.labels(found.kind).observe(
            max(0.0, (now - found.created_at).total_seconds()))
        DEVICE_REPORTS.labels("ack").inc()
        log.debug("device %s acknowledged %s", device.serial, found.kind.upper(),
                  extra={"site_id": device.site_id, "serial": device.serial,
                         "update_id": found.update_id, "correlation_id": found.correlation_id})

    async def _acknowledge_error(self, device: AuthenticatedDevice, seq: int, now: datetime
                                 ) -> bool:
        """The first acknowledgement of an ERROR UPDATE unblocks the device; False: it was
        acknowledged already."""
        async with self.uow.begin() as tx:
            acked = await notifications_repository.acknowledge(
                tx.conn, device.site_id, device.serial, seq, now)
            if acked is None:
                return False
            await repository.mark_unblocked(tx.conn, device.site_id, device.serial)
            tx.emit(DeviceNotificationDelivered(
                site_id=device.site_id, update_id=acked.update_id, serial=device.serial,
                kind=acked.kind, delivered_at=now),
                DeviceUnblocked(site_id=device.site_id, serial=device.serial,
                                update_id=acked.update_id, unblocked_at=now),
                correlation_id=acked.correlation_id, causation_id=acked.cause_id)
        return True

    # --- D3: one read, then the block and its message in one statement ----------------------

    async def blocked(self, device: AuthenticatedDevice, update_id: str) -> None:
        now = self.clock()
        context = await self._read_device(device)
        refusal = context.blocking_refusal(update_id)
        if refusal is not None:
            raise DeviceRefused("not_active_update", refusal)
        block = context.blocked(update_id, now)  # a repeat keeps the block's time
        await self._change(repository.MARK_BLOCKED, device, {
            "block_update_id": block.update_id, "block_since": block.since,
            "block_by_code": block.by_code}, DeviceBlocked(
                site_id=device.site_id, update_id=update_id, serial=device.serial,
                blocked_at=block.since, by_code=block.by_code))
        DEVICE_REPORTS.labels("blocked").inc()
        log.debug("device %s blocked", device.serial, extra=_context(device, update_id))

    # --- D4: one read, then the hand-in and its message in one statement --------------------

    async def sync(self, device: AuthenticatedDevice, claimed_update_id: str | None
                   ) -> SyncDecision:
        now = self.clock()
        context = await self._read_device(device)
        foreign = context.claimed_update_refusal(claimed_update_id)
        if foreign is not None:
            raise DeviceRefused("not_active_update", foreign)
        decision = context.sync(claimed_update_id)
        if not decision.accepted:
            log.info("hand-in of device %s refused: the server update started without it",
                     device.serial, extra=_context(device, claimed_update_id))
            raise DeviceRefused("sync_refused", decision.refusal or SYNC_REFUSED)
        waiting = decision.waiting_update_id
        await self._change(
            repository.RECORD_SYNC if waiting is None else repository.RECORD_SYNC_WAITING,
            device, {"synced_at": now, "waiting_for": waiting},
            DeviceDataHandedIn(site_id=device.site_id, serial=device.serial,
                               update_id=waiting, synced_at=now,
                               blocked_at=decision.blocked_since))
        DEVICE_REPORTS.labels("sync").inc()
        return decision

    # --- D5, D6 ---------------------------------------------------------------------------

    async def directive(self, device: AuthenticatedDevice) -> Directive:
        async with self.reads.connect() as conn:
            context = await self._device(conn, device)
        return context.directive()

    async def tuf_target(self, package: Package) -> str | None:
        """The package's TUF target path, when the gateway was told it (issue 10)."""
        async with self.reads.connect() as conn:
            return await repository.target_of(conn, package.sha256)

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
        """One statement: the version and its message."""
        now = self.clock()
        await self._change(repository.RECORD_VERSION, device,
                           {"reported_version": app_version},
                           DeviceVersionReported(site_id=device.site_id, serial=device.serial,
                                                 app_version=app_version, reported_at=now))
        DEVICE_REPORTS.labels("version").inc()
        log.debug("device %s now runs %s", device.serial, app_version,
                  extra=_context(device, None))

    # --- helpers --------------------------------------------------------------------------

    async def _device(self, conn: AsyncConnection, device: AuthenticatedDevice
                      ) -> DeviceContext:
        return await enabled_device(conn, device)

    async def _read_device(self, device: AuthenticatedDevice) -> DeviceContext:
        """The device's context on a reader (PostgreSQL: one autocommit query by the driver);
        the write that follows is one statement, as a write after a read in one transaction
        under READ COMMITTED would be."""
        async with self.reads.connect() as conn:
            return await enabled_device(conn, device)

    async def _change(self, change: DriverChange, device: AuthenticatedDevice,
                      params: dict[str, Any], message: Message) -> None:
        """The device's row changed and its message sent, in one unit of work; refused when
        the device is gone."""
        if not await self.uow.change(change, {"key_site_id": device.site_id,
                                              "key_serial": device.serial, **params}, message):
            raise unauthorized()


async def enabled_device(conn: AsyncConnection, device: AuthenticatedDevice) -> DeviceContext:
    """The authenticated device with its site's context; refused when it is gone or disabled."""
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
