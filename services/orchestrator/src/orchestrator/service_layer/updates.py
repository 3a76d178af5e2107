"""Handlers of the update saga. Always the same four steps in ONE unit of work: load, decide
(the pure ``decide``), save the new state (version-checked) with its effects and the messages
it emits, commit. A lost optimistic-concurrency race (``ConcurrentUpdate``) runs the whole
handler again on fresh state (``uow.run``); a refusal is audited and re-raised."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.catalogue import (
    InstallFailed,
    InstallStarted,
    InstallSucceeded,
    Message,
    ProductVersion,
    SiteConfigured,
)
from lockstep_shared.db import ConcurrentUpdate
from lockstep_shared.unit_of_work import Tx, UnitOfWork
from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.accounts import Account, WrongCredentials
from orchestrator.domain.commands import (
    ApproveForce,
    Cancel,
    Command,
    Conclude,
    NewChallenge,
    OpenUpdate,
    ReactivateDevices,
    RequestForce,
    ResolveFailure,
    SendEnd,
    SendStart,
    StartServerUpdate,
    SubmitConfirmationCode,
)
from orchestrator.domain.decisions import (
    CodeRejected,
    Decision,
    MarkNotificationsPending,
    PublishSiteConfiguration,
    ResetDeviceFlags,
    SetProductVersion,
    SettleDevices,
    UnlockRelease,
)
from orchestrator.domain.model import (
    FleetSummary,
    InvalidCommand,
    NotAllowed,
    NotPermitted,
    TooManyAttempts,
    Update,
    UpdateAlreadyActive,
)
from orchestrator.domain.platform import (
    PLATFORM_PRODUCT,
    device_product,
    devices_target_version,
)
from orchestrator.domain.saga import InstallerEvent, decide, open_update, reopens_awaiting_code
from orchestrator.domain.sites import Site
from orchestrator.service_layer.audit import AuditLog
from orchestrator.service_layer.errors import CodeNotValid, NotFound
from orchestrator.service_layer.watchdog import remember_commands

ATTEMPTS = 5
BuildCommand = Callable[[AsyncConnection, Update], Awaitable[Command]]
REFUSALS = (NotAllowed, InvalidCommand, NotPermitted, TooManyAttempts)


class UpdateHandlers:
    def __init__(self, uow: UnitOfWork, repos: Repositories, audit: AuditLog, *,
                 clock: Callable[[], datetime], ids: Callable[[], str],
                 challenges: Callable[[], str]) -> None:
        self.uow = uow
        self.repos = repos
        self.audit = audit
        self.clock = clock
        self.ids = ids
        self.challenges = challenges  # U13: a fresh random challenge

    # --- admin commands -----------------------------------------------------------------

    async def open(self, site_id: str, product: str, backups_confirmed: bool,
                   actor: Account) -> Update:
        repos = self.repos
        command = OpenUpdate(update_id=self.ids(), site_id=site_id, product=product,
                             backups_confirmed=backups_confirmed, actor=actor.username,
                             challenge=self.challenges())
        try:
            async with self.uow.begin() as tx:
                site = await repos.sites.get(tx.conn, site_id)
                if site is None:
                    raise NotFound(f"unknown site {site_id!r}")
                active = await repos.updates.active_for_site(tx.conn, site_id)
                if reopens_awaiting_code(active, command):
                    assert active is not None
                    decision = decide(active, NewChallenge(actor.username, command.challenge
                                                           or ""), self.clock())
                    update = await self._carry_out(tx, decision)
                    await self.audit.record(tx, actor, "update.challenge", site_id=site_id,
                                            update_id=update.update_id)
                else:
                    decision = open_update(
                        command, active=active,
                        release=await repos.releases.get(tx.conn, site_id, product),
                        installed_version=site.products.get(product), now=self.clock(),
                        entitled=(await repos.entitlements.get(tx.conn, site_id)).active,
                        installed_platform=site.products.get(PLATFORM_PRODUCT),
                    )
                    update = await repos.updates.add(tx.conn, decision.state)
                    await self._carry_out(tx, decision)
                    await self.audit.record(tx, actor, "update.open", site_id=site_id,
                                            update_id=update.update_id, product=product,
                                            to_version=update.to_version,
                                            backups_confirmed=True, state=update.state.value)
        except UpdateAlreadyActive:
            await self._refused(actor, "update.open", site_id, None, "another update was "
                                "opened at the same moment")
            raise UpdateAlreadyActive(
                f"another update was opened at site {site_id} at the same moment: only one "
                "update per site; reload to see it", reason="opened_meanwhile"
            ) from None
        except REFUSALS as exc:
            await self._refused(actor, "update.open", site_id, None, str(exc),
                                product=product, backups_confirmed=backups_confirmed)
            raise
        return update

    async def new_challenge(self, update_id: str, actor: Account) -> Update:
        challenge = self.challenges()
        return await self._run(update_id, _fixed(NewChallenge(actor.username, challenge)),
                               actor, "update.challenge")

    async def submit_code(self, update_id: str, response: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            site = await self.repos.sites.get(conn, update.site_id)
            return SubmitConfirmationCode(actor.username, response,
                                          site.license_key if site else "")

        return await self._run(update_id, build, actor, "update.confirmation_code")

    async def request_force(self, update_id: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            return RequestForce(actor.username, fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.force_request")

    async def approve_force(self, update_id: str, actor: Account, password: str | None,
                            password_matches: Callable[[str], Awaitable[bool]]) -> Update:
        """U7: the second authorization. A re-entered password is checked first."""
        reentered = False
        if password is not None:
            if not await password_matches(password):
                await self._refused(actor, "update.force_approval", None, update_id,
                                    "wrong password re-entered")
                raise WrongCredentials("the re-entered password is wrong",
                                       reason="wrong_password")
            reentered = True

        async def build(conn: AsyncConnection, update: Update) -> Command:
            return ApproveForce(
                actor.username,
                site_admins=await self.repos.accounts.site_admins(conn, update.site_id),
                password_reentered=reentered,
                waiting_serials=await self.repos.devices.waiting_serials(conn, update.site_id),
                fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.force_approval")

    async def resolve(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id, _fixed(ResolveFailure(actor.username)), actor,
                               "update.resolve")

    async def send_start(self, update_id: str, serials: tuple[str, ...] | None,
                         actor: Account) -> tuple[Update, str]:
        request_id = self.ids()
        update = await self._run(update_id,
                                 _fixed(SendStart(request_id, actor.username, serials)),
                                 actor, "update.start_push", serials=_listed(serials))
        return update, request_id

    async def start_server_update(self, update_id: str, actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            waiting = await self.repos.devices.waiting_serials(conn, update.site_id)
            return StartServerUpdate(actor.username, waiting,
                                     fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.server_update")

    async def send_end(self, update_id: str, serials: tuple[str, ...] | None,
                       actor: Account) -> tuple[Update, str]:
        request_id = self.ids()
        update = await self._run(update_id, _fixed(SendEnd(request_id, actor.username, serials)),
                                 actor, "update.end_push", serials=_listed(serials))
        return update, request_id

    async def conclude(self, update_id: str, confirm_not_updated: bool,
                       actor: Account) -> Update:
        async def build(conn: AsyncConnection, update: Update) -> Command:
            return Conclude(actor.username, confirm_not_updated,
                            fleet=await self._fleet(conn, update))

        return await self._run(update_id, build, actor, "update.conclude",
                               confirm_not_updated=confirm_not_updated)

    async def cancel(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id, _fixed(Cancel(actor.username)), actor,
                               "update.cancel")

    async def reactivate_devices(self, update_id: str, actor: Account) -> Update:
        return await self._run(update_id,
                               _fixed(ReactivateDevices(self.ids(), actor.username)),
                               actor, "update.error_push")

    async def _fleet(self, conn: AsyncConnection, update: Update) -> FleetSummary:
        products = await self.repos.sites.products(conn, update.site_id)
        target = devices_target_version(update.product, update.to_version, products)
        return await self.repos.devices.fleet_summary(conn, update.site_id, target)

    async def _run(self, update_id: str, build: BuildCommand, actor: Account, action: str,
                   **details: Any) -> Update:
        """Load, decide, save state + emitted messages + audit entry in one unit of work,
        again from the start after a lost race. A refusal is audited (in its own
        transaction) and re-raised; a wrong confirmation code is saved, then refused."""
        site_id: str | None = None

        async def work(tx: Tx) -> tuple[Update, CodeRejected | None]:
            nonlocal site_id
            update = await self.repos.updates.get(tx.conn, update_id)
            if update is None:
                raise NotFound(f"unknown update {update_id!r}")
            site_id = update.site_id
            decision = decide(update, await build(tx.conn, update), self.clock())
            saved = await self._carry_out(tx, decision, actor.username)
            rejected = decision.rejected
            await self.audit.record(
                tx, actor, action, site_id=site_id, update_id=update_id,
                outcome="rejected: " + rejected.message if rejected else "ok",
                state=saved.state.value, **_audit_details(saved, action), **details)
            return saved, rejected

        try:
            done = await self.uow.run(work, attempts=ATTEMPTS)
        except ConcurrentUpdate:
            raise NotAllowed(f"update {update_id} is being changed by someone else right now; "
                             "reload and try again", reason="changed_meanwhile") from None
        except REFUSALS as exc:
            await self._refused(actor, action, site_id, update_id, str(exc), **details)
            raise
        assert done is not None  # not a consumer: never a duplicate
        saved, rejected = done
        if rejected is not None:
            raise CodeNotValid(rejected)
        return saved

    async def _refused(self, actor: Account, action: str, site_id: str | None,
                       update_id: str | None, reason: str, **details: Any) -> None:
        await self.audit.record_alone(actor, action, outcome=f"refused: {reason}",
                                      site_id=site_id, update_id=update_id, **details)

    # --- installer events (in the consumer's unit of work) ------------------------------

    async def on_installer_event(self, tx: Tx, event: InstallerEvent) -> None:
        """U8, U12: the agent's start, progress, heartbeat and outcome move the saga."""
        update_id = event.update_id
        if update_id is None:  # a heartbeat outside any install
            return
        update = await self.repos.updates.get(tx.conn, update_id)
        if update is None:
            return
        decision = decide(update, event, self.clock())
        await self._carry_out(tx, decision)
        if decision.changed and isinstance(event, (InstallStarted, InstallSucceeded,
                                                   InstallFailed)):
            await self._audit_install(tx, update, event)

    async def _audit_install(self, tx: Tx, update: Update,
                             event: InstallStarted | InstallSucceeded | InstallFailed) -> None:
        """A7: every install in the audit log."""
        where = {"site_id": update.site_id, "update_id": update.update_id}
        match event:
            case InstallStarted():
                await self.audit.record(tx, "installer-agent", "install.started",
                                        version=update.to_version, **where)
            case InstallSucceeded():
                await self.audit.record(tx, "installer-agent", "install.succeeded",
                                        installed_version=event.installed_version,
                                        duration_s=event.duration_s, **where)
            case InstallFailed():
                await self.audit.record(tx, "installer-agent", "install.failed",
                                        outcome=f"failed: {event.reason}",
                                        exit_code=event.exit_code,
                                        interrupted=event.interrupted, stage=event.stage,
                                        **where)

    # --- the save step ------------------------------------------------------------------

    async def _carry_out(self, tx: Tx, decision: Decision, actor: str = "") -> Update:
        """Save the state (version-checked), apply the effects to our own tables and emit the
        messages, all in ``tx``. Messages caused by a bus message carry its correlation;
        an admin's carry the update id, so one update's whole conversation shares it."""
        repos, conn = self.repos, tx.conn
        update = decision.state
        if not decision.changed:
            return update
        if update.version:  # a new update was inserted by ``open``
            update = await repos.updates.save(conn, update)
        messages: list[Message] = list(decision.messages)
        for effect in decision.effects:
            match effect:
                case ResetDeviceFlags():
                    await repos.devices.reset_flags(conn, update.site_id, effect.update_id)
                case MarkNotificationsPending():
                    await repos.devices.mark_pending(conn, update.site_id, update.update_id,
                                                     effect.kind, effect.serials)
                case SetProductVersion():
                    await repos.sites.set_product_version(conn, update.site_id, effect.product,
                                                          effect.version)
                case UnlockRelease():
                    await repos.releases.unlock(conn, update.site_id, effect.product,
                                                effect.version, actor, self.clock())
                case SettleDevices():
                    await repos.devices.settle(conn, update.site_id, update.update_id)
                case PublishSiteConfiguration():
                    site = await repos.sites.get(conn, update.site_id)
                    if site is not None:
                        messages.append(site_configured(site))
        if tx.cause is not None:
            sent = tx.emit(*messages)
        else:
            sent = tx.emit(*messages, correlation_id=update.update_id)
        await remember_commands(tx, repos.commands, sent, self.clock())
        return update


def site_configured(site: Site) -> SiteConfigured:
    return SiteConfigured(
        site_id=site.site_id, name=site.name, license_key=site.license_key,
        enrolment_code_sha256=site.enrolment_code_sha256,
        check_interval_s=site.check_interval_s,
        products=tuple(ProductVersion(product=p, version=v) for p, v in site.products.items()),
        device_product=device_product(site.products),
    )


def _listed(serials: tuple[str, ...] | None) -> list[str] | None:
    return None if serials is None else list(serials)


def _audit_details(update: Update, action: str) -> dict[str, Any]:
    if action == "update.force_approval":
        return {"authorized_by": list(update.authorized_by), "forced": update.forced}
    if action == "update.server_update":
        return {"authorized_by": list(update.authorized_by)}
    if action == "update.force_request":
        return {"requested_by": update.force_requested_by}
    return {}


def _fixed(command: Command) -> BuildCommand:
    async def build(_conn: AsyncConnection, _update: Update) -> Command:
        return command

    return build
