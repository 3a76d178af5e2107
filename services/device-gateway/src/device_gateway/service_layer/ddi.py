"""The hawkBit DDI controller requests (D14): a DDI device is a device like any other — the same
device rules (``DeviceContext``), the same pushes acknowledged, the same events — shown as
hawkBit deployments (``domain.ddi``). Each request one unit of work; reads on the read-only
engine, a transaction only where something changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from device_gateway.adapters import ddi_repository, notifications_repository, repository
from device_gateway.adapters.package_digests import PackageDigests
from device_gateway.domain import ddi
from device_gateway.domain.ddi import (
    MAX_JOIN_REQUESTS,
    DdiDevice,
    Deployment,
    Digests,
    Handling,
    Outcome,
    PackageChanged,
    StoredAction,
    Waiting,
)
from device_gateway.domain.updates import DeviceContext, Package, Phase
from device_gateway.service_layer.auth import AuthenticatedDevice, DeviceAuthenticator, token_hash
from device_gateway.service_layer.devices import DeviceHandlers
from device_gateway.service_layer.errors import DeviceRefused, disabled, unauthorized
from device_gateway.service_layer.packages import PackageCache, PackageUnavailable
from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceInstallFailed,
    DeviceVersionReported,
)
from lockstep_shared.unit_of_work import Tx, UnitOfWork

log = logging.getLogger(__name__)

AGENT = "ddi"
TARGET_TOKEN = "targettoken "
GATEWAY_TOKEN = "gatewaytoken "
NO_DDI_TOKEN = ("send 'Authorization: TargetToken <device token>' (from the registration with "
                "agent 'ddi') or 'GatewayToken <site gateway token>'")


@dataclass(frozen=True, slots=True)
class Base:
    """``GET /{tenant}/controller/v1/{controllerId}``: what to link."""

    sleep: str
    deployment: tuple[int, str] | None = None  # action id, its ``c`` resource
    cancel: int | None = None
    config_data: bool = False


@dataclass(frozen=True, slots=True)
class Shown:
    """``GET …/deploymentBase/{actionId}``."""

    action_id: int
    deployment: Deployment
    digests: Digests
    filename: str


@dataclass(frozen=True, slots=True)
class Artifact:
    package: Package
    path: Path
    digests: Digests
    filename: str


@dataclass(frozen=True, slots=True)
class _Device:
    context: DeviceContext
    ddi: DdiDevice


class DdiHandlers:
    def __init__(self, uow: UnitOfWork, reads: AsyncEngine, auth: DeviceAuthenticator,
                 requests: DeviceHandlers, packages: PackageCache, digests: PackageDigests,
                 clock: Callable[[], datetime], *, poll_s: float) -> None:
        self.uow = uow
        self.reads = reads
        self.auth = auth
        self.requests = requests
        self.packages = packages
        self.digests = digests
        self.clock = clock
        self.poll_s = poll_s

    # --- authentication -------------------------------------------------------------------

    async def authenticate(self, tenant: str, controller_id: str,
                           authorization: str | None) -> AuthenticatedDevice:
        """TargetToken: the device's own token, for its own tenant and controllerId only.
        GatewayToken: the site's, for any of its registered devices."""
        presented = (authorization or "").strip()
        lowered = presented.lower()
        if lowered.startswith(TARGET_TOKEN):
            device = await self.auth.device_of(presented[len(TARGET_TOKEN):].strip())
            if (device.site_id, device.serial) != (tenant, controller_id):
                raise unauthorized("this TargetToken belongs to another tenant or controllerId")
            return device
        if lowered.startswith(GATEWAY_TOKEN):
            digest = token_hash(presented[len(GATEWAY_TOKEN):].strip())
            async with self.reads.connect() as conn:
                site = await ddi_repository.site_of_gateway_token(conn, digest)
                enabled = (None if site != tenant
                           else await ddi_repository.device_enabled(conn, tenant, controller_id))
            if site is None or site != tenant:
                raise unauthorized("unknown GatewayToken, or one of another tenant")
            if enabled is None:
                await self._ask_to_join(tenant, controller_id)
                raise DeviceRefused(
                    "unknown_device", f"no device {controller_id!r} registered at site "
                    f"{tenant!r}: it has asked to join, and the site admin approves it in "
                    "Device management (a GatewayToken never registers a device by itself)")
            if not enabled:
                raise disabled()
            return AuthenticatedDevice(tenant, controller_id)
        raise unauthorized(f"missing DDI token: {NO_DDI_TOKEN}")

    async def _ask_to_join(self, site_id: str, serial: str) -> None:
        """An unknown serial with its site's GatewayToken: a join request for the site admin,
        never a device (issue 15 §4)."""
        async with self.uow.begin() as tx:
            kept = await ddi_repository.record_join_request(tx.conn, site_id, serial,
                                                            self.clock())
        if not kept:
            log.warning("DDI join request of %s at site %s not kept: the site already holds "
                        "%d; approve or dismiss some in Device management", serial, site_id,
                        MAX_JOIN_REQUESTS, extra={"site_id": site_id})

    # --- the base resource ----------------------------------------------------------------

    async def poll(self, device: AuthenticatedDevice) -> Base:
        """A poll acknowledges the device's pushes (START, END, ERROR UPDATE: it learns of
        each by this poll) and links what the device should do now."""
        await self._acknowledge_pushes(device)
        async with self.reads.connect() as conn:
            found = await self._device(conn, device)
            actions = await ddi_repository.actions_of(conn, device.site_id, device.serial)
        sleep = ddi.polling_sleep(self.poll_s)
        config_data = found.ddi.attributes_at is None
        cancel = ddi.to_cancel(found.context.site_update, [a.action for a in actions])
        if cancel is not None:
            if not cancel.cancel_requested:
                async with self.uow.begin() as tx:
                    await ddi_repository.set_action(tx.conn, cancel.action_id,
                                                    cancel_requested=True)
            return Base(sleep, cancel=cancel.action_id, config_data=config_data)
        deployment = _deployment(found)
        shown = ddi.action_to_show(deployment, [a.action for a in actions],
                                   end_pushed_after_failure=_end_after_failure(
                                       found.ddi, deployment, actions))
        if deployment is None or shown.nothing:
            return Base(sleep, config_data=config_data)
        action_id = (shown.action.action_id if shown.action is not None
                     else await self._new_action(device, deployment))
        return Base(sleep, deployment=(action_id, deployment.resource(action_id)),
                    config_data=config_data)

    async def _new_action(self, device: AuthenticatedDevice, deployment: Deployment) -> int:
        async with self.uow.begin() as tx:  # two polls at once: the second finds the first's
            await repository.lock_site(tx.conn, device.site_id)
            for stored in await ddi_repository.actions_of(tx.conn, device.site_id,
                                                          device.serial):
                if stored.action.open and stored.action.matches(deployment):
                    return stored.action.action_id
            action_id = await ddi_repository.create_action(tx.conn, device.site_id,
                                                           device.serial, deployment,
                                                           self.clock())
        log.info("DDI action %d for device %s: %s %s (%s)", action_id, device.serial,
                 deployment.package.product, deployment.package.version,
                 deployment.purpose.value, extra=_log(device, deployment.update_id))
        return action_id

    async def _acknowledge_pushes(self, device: AuthenticatedDevice) -> None:
        async with self.reads.connect() as conn:
            pending = await notifications_repository.pending_for_device(
                conn, device.site_id, device.serial)
        for notification in pending:
            await self.requests.acknowledge(device, str(notification.seq))

    # --- deploymentBase -------------------------------------------------------------------

    async def deployment(self, device: AuthenticatedDevice, action_id: int) -> Shown:
        async with self.reads.connect() as conn:
            found = await self._device(conn, device)
            stored = await _open_action(conn, device, action_id)
        deployment = _deployment(found)
        if deployment is None or not stored.action.matches(deployment):
            # the situation moved on (the update ended): download it, never install it
            deployment = Deployment(stored.package, stored.action.purpose,
                                    stored.action.update_id, download=Handling.FORCED,
                                    update=Handling.SKIP, maintenance_window="unavailable")
        if stored.served_update is not deployment.update:
            async with self.uow.begin() as tx:
                await ddi_repository.set_action(tx.conn, action_id,
                                                served_update=deployment.update.value)
        artifact = await self._artifact(stored.package, found.ddi)
        return Shown(action_id, deployment, artifact.digests, artifact.filename)

    async def feedback(self, device: AuthenticatedDevice, action_id: int, *, execution: str,
                       finished: str, details: list[str]) -> Outcome:
        now = self.clock()
        note = ddi.details_note(details)
        async with self.uow.begin() as tx:
            stored = await _open_action(tx.conn, device, action_id, lock=True)
            try:
                outcome = ddi.interpret_feedback(stored.action, served_update=stored.served_update,
                                                 execution=execution, finished=finished)
            except ddi.FeedbackRefused as refused:
                raise DeviceRefused("invalid_feedback", refused.detail) from refused
            if outcome is Outcome.PROGRESS:
                if note:
                    await ddi_repository.set_action(tx.conn, action_id, details=note)
            elif outcome is Outcome.STAGED:
                await ddi_repository.set_action(tx.conn, action_id, staged=True, details=note)
                await self._staged(tx, device, stored, now)
            else:
                if outcome is Outcome.FAILED:
                    note = ddi.failure_note(stored.details, details)
                await ddi_repository.close_action(tx.conn, action_id, outcome, note, now)
                await self._closed(tx, device, stored, outcome, note, now)
        log.info("DDI feedback of device %s for action %d: %s/%s → %s", device.serial,
                 action_id, execution, finished, outcome.value,
                 extra=_log(device, stored.action.update_id))
        return outcome

    async def _staged(self, tx: Tx, device: AuthenticatedDevice, stored: StoredAction,
                      now: datetime) -> None:
        """``downloaded`` of a staging deployment: the package is on the device. Where the
        model's rule is ``staged`` and phase 1 runs, it is its block and hand-in (waiting)."""
        found = await self._device(tx.conn, device)
        update = found.context.site_update
        if update is None or not ddi.counts_as_waiting(Outcome.STAGED, waiting=found.ddi.waiting,
                                                       action=stored.action, update=update):
            return
        await self._wait(tx, device.site_id, device.serial, found.context, update.update_id,
                         Waiting.STAGED, now)

    async def _closed(self, tx: Tx, device: AuthenticatedDevice, stored: StoredAction,
                      outcome: Outcome, note: str, now: datetime) -> None:
        version = ddi.version_reported(outcome, stored.package.version)
        if version is not None:  # closed/success of a forced deployment: D7
            await self._report_version(tx, device, version, now)
            await ddi_repository.save_attributes(tx.conn, device.site_id, device.serial,
                                                 None, None)  # ask for configData again
        elif outcome is Outcome.FAILED:
            tx.emit(DeviceInstallFailed(site_id=device.site_id, serial=device.serial,
                                        update_id=stored.action.update_id,
                                        version=stored.package.version,
                                        details=note or "closed/failure", failed_at=now))

    async def _report_version(self, tx: Tx, device: AuthenticatedDevice, version: str,
                              now: datetime) -> None:
        await repository.record_version(tx.conn, device.site_id, device.serial, version)
        tx.emit(DeviceVersionReported(site_id=device.site_id, serial=device.serial,
                                      app_version=version, reported_at=now))

    # --- cancelAction ---------------------------------------------------------------------

    async def cancel(self, device: AuthenticatedDevice, action_id: int) -> int:
        async with self.reads.connect() as conn:
            await self._device(conn, device)
            stored = await _open_action(conn, device, action_id)
        if not stored.action.cancel_requested:
            raise _unknown_action(action_id, "no cancellation of this action")
        return action_id

    async def cancel_feedback(self, device: AuthenticatedDevice, action_id: int, *,
                              execution: str, finished: str, details: list[str]) -> Outcome:
        try:
            outcome = ddi.interpret_cancel_feedback(execution, finished)
        except ddi.FeedbackRefused as refused:
            raise DeviceRefused("invalid_feedback", refused.detail) from refused
        async with self.uow.begin() as tx:
            stored = await _open_action(tx.conn, device, action_id, lock=True)
            if not stored.action.cancel_requested:
                raise _unknown_action(action_id, "no cancellation of this action")
            if outcome is not Outcome.PROGRESS:
                await ddi_repository.close_action(tx.conn, action_id, outcome,
                                                  ddi.details_note(details), self.clock())
        return outcome

    # --- configData -----------------------------------------------------------------------

    async def config_data(self, device: AuthenticatedDevice, data: dict[str, str],
                          mode: str) -> None:
        """The agent's attributes; a version among them is a version report (D7)."""
        now = self.clock()
        async with self.uow.begin() as tx:
            context = await self._context(tx.conn, device)
            current = await ddi_repository.attributes_of(tx.conn, device.site_id, device.serial)
            if mode == "replace":
                current = dict(data)
            elif mode == "remove":
                current = {k: v for k, v in current.items() if k not in data}
            else:
                current.update(data)
            await ddi_repository.save_attributes(tx.conn, device.site_id, device.serial,
                                                 current, now)
            version = ddi.version_in_attributes(data) if mode != "remove" else None
            if version is not None and version != context.app_version:
                await self._report_version(tx, device, version, now)

    # --- the artifact ---------------------------------------------------------------------

    async def artifact(self, device: AuthenticatedDevice, action_id: int,
                       filename: str) -> Artifact:
        """Only the package of this device's open action, under its own name."""
        async with self.reads.connect() as conn:
            found = await self._device(conn, device)
            stored = await _open_action(conn, device, action_id)
        artifact = await self._artifact(stored.package, found.ddi)
        if filename != artifact.filename:
            raise DeviceRefused("unknown_artifact", f"action {action_id} has no artifact "
                                f"{filename!r} (it has {artifact.filename!r})")
        return artifact

    async def _artifact(self, package: Package, device: DdiDevice) -> Artifact:
        try:
            path = await self.packages.path(package)
            digests = await self.digests.of(path, package.sha256)
        except (PackageUnavailable, PackageChanged) as exc:
            raise DeviceRefused("package_unavailable", "the package is not yet available at "
                                f"the gateway; retry in a minute ({exc})",
                                retry_after=30) from exc
        filename = f"{package.product}-{package.version}{device.artifact_suffix}"
        return Artifact(package, path, digests, filename)

    # --- the site admin's side (through the orchestrator's internal calls) ----------------

    async def admin_block(self, site_id: str, serial: str) -> datetime:
        """Model rule ``admin``: the site admin saw the DDI device stopped and counts it as
        blocked and handed in for the update in phase 1 (D14). When its block began."""
        now = self.clock()
        device = AuthenticatedDevice(site_id, serial)
        async with self.uow.begin() as tx:
            found = await self._device(tx.conn, device, unknown="unknown_device")
            update = found.context.site_update
            if update is None or update.phase is not Phase.PREPARING:
                raise DeviceRefused("no_active_update", f"site {site_id} has no update in "
                                    "phase 1: there is nothing to block this device for")
            since = await self._wait(tx, site_id, serial, found.context, update.update_id,
                                     Waiting.ADMIN, now)
        log.info("DDI device %s blocked by the site admin", serial,
                 extra={"site_id": site_id, "serial": serial, "update_id": update.update_id})
        return since

    async def _wait(self, tx: Tx, site_id: str, serial: str, context: DeviceContext,
                    update_id: str, how: Waiting, now: datetime) -> datetime:
        """Blocked, then handed in (issue 9 §1): the two events every device's waiting is."""
        block = context.blocked(update_id, now)
        await repository.mark_blocked(tx.conn, site_id, serial, block)
        await repository.record_sync(tx.conn, site_id, serial, now, update_id)
        tx.emit(DeviceBlocked(site_id=site_id, update_id=update_id, serial=serial,
                              blocked_at=block.since, ddi_waiting=how.value),
                DeviceDataHandedIn(site_id=site_id, serial=serial, update_id=update_id,
                                   synced_at=now, blocked_at=block.since))
        return block.since

    # --- helpers --------------------------------------------------------------------------

    async def _context(self, conn: AsyncConnection, device: AuthenticatedDevice
                       ) -> DeviceContext:
        return (await self._device(conn, device)).context

    async def _device(self, conn: AsyncConnection, device: AuthenticatedDevice, *,
                      unknown: str = "invalid_token") -> _Device:
        context = await repository.device_context(conn, device.site_id, device.serial)
        ddi_device = await ddi_repository.ddi_device(conn, device.site_id, device.serial)
        if context is None or ddi_device is None:
            raise DeviceRefused(unknown, f"no device {device.serial!r} at site "
                                f"{device.site_id!r}")
        if not context.enabled:
            raise disabled()
        if ddi_device.agent != AGENT:
            raise DeviceRefused("not_ddi_device", f"device {device.serial} registered as a "
                                "Lockstep app: register it with agent 'ddi' to use DDI")
        return _Device(context, ddi_device)


def _deployment(found: _Device) -> Deployment | None:
    context = found.context
    return ddi.decide_deployment(context.site_update, app_version=context.app_version,
                                 waiting=found.ddi.waiting, site_package=context.site_package)


def _end_after_failure(device: DdiDevice, deployment: Deployment | None,
                       actions: list[StoredAction]) -> bool:
    """An END UPDATE reached the device after its install of this deployment failed (U9)."""
    if deployment is None or device.last_end_at is None:
        return False
    return any(s.action.closed is Outcome.FAILED and s.action.matches(deployment)
               and s.closed_at is not None and device.last_end_at > s.closed_at
               for s in actions)


async def _open_action(conn: AsyncConnection, device: AuthenticatedDevice, action_id: int, *,
                       lock: bool = False) -> StoredAction:
    stored = await ddi_repository.action(conn, device.site_id, device.serial, action_id,
                                         lock=lock)
    if stored is None:
        raise _unknown_action(action_id, "no such action for this device")
    if not stored.action.open:
        raise DeviceRefused("action_closed", f"action {action_id} is closed "
                            f"({stored.action.closed}): it is never offered again")
    return stored


def _unknown_action(action_id: int, why: str) -> DeviceRefused:
    return DeviceRefused("unknown_action", f"action {action_id}: {why}")


def _log(device: AuthenticatedDevice, update_id: str | None) -> dict[str, object]:
    return {"site_id": device.site_id, "serial": device.serial, "update_id": update_id}


